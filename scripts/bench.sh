#!/usr/bin/env bash
# make bench: every benchmark, then BENCHMARKS.md from their figures.
#   scripts/bench.sh
# The packages' benchmarks run BENCH_COUNT times (5); the lab's (internal/lab/bench: latency
# with Chromium, ingest, scale, analysis: about 20 minutes a round) LAB_COUNT times (3). The raw
# output and the lab's series go to benchmarks/; SV_BENCH_LATENCY_RUN, SV_BENCH_SCALE_MAX,
# SV_BENCH_SCALE_HOLD and SV_BENCH_INGEST_RUN shorten or lengthen the lab's runs. Run it on
# a quiet machine: every figure is a measure of this one.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
lab=benchmarks
raw=$lab/bench.txt
mkdir -p "$lab"
rm -f "$lab"/latency-*.json "$lab"/scale-*.json "$raw"

# A failed benchmark fails make bench, but not before the others have run and the report
# shows what was measured.
pkgs=$($go list ./... | grep -v -e '/internal/benchreport$')
status=0
# shellcheck disable=SC2086
$go test -run '^$' -bench . -benchmem -count "${BENCH_COUNT:-5}" $pkgs | tee "$raw" || status=1
SV_BENCH_DIR=$PWD/$lab $go -C internal/lab test -run '^$' -bench . -benchmem -count "${LAB_COUNT:-3}" -timeout 4h -v ./bench |
	grep -v -e '^=== ' -e '^\s*\[' | tee -a "$raw" || status=1
# 5,000 viewers again, shared out among 20 streams.
SV_BENCH_STREAMS=20 SV_BENCH_VIEWERS=5000 $go -C internal/lab test -run '^$' -bench '^BenchmarkViewers$' -benchmem -count "${LAB_COUNT:-3}" -timeout 1h -v ./bench |
	grep -v -e '^=== ' -e '^\s*\[' | tee -a "$raw" || status=1
settings="BENCH_COUNT=${BENCH_COUNT:-5} LAB_COUNT=${LAB_COUNT:-3} SV_BENCH_LATENCY_RUN=${SV_BENCH_LATENCY_RUN:-60s} SV_BENCH_INGEST_RUN=${SV_BENCH_INGEST_RUN:-20s} SV_BENCH_SCALE_HOLD=${SV_BENCH_SCALE_HOLD:-15s} SV_BENCH_SCALE_MAX=${SV_BENCH_SCALE_MAX:-100}"
$go run ./internal/benchreport -bench "$raw" -lab "$lab" -notes "$lab/notes.md" -settings "$settings" -out BENCHMARKS.md
echo "bench: wrote BENCHMARKS.md and $lab/"
exit $status
