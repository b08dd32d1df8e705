#!/usr/bin/env bash
# The demo: replays a browser recording from testdata through the pipeline, in real time,
# the way a camera page would publish it, and shows what came out.
#   scripts/demo.sh [path/to/sv] [recording]
set -euo pipefail
cd "$(dirname "$0")/.."
sv=${1:-bin/sv}
rec=${2:-testdata/h264-opus-kf1s.webm}
out=output/demo
addr=127.0.0.1:${SV_DEMO_PORT:-8090}

rm -rf "$out" && mkdir -p "$out"
echo "demo: sv recv on ws://$addr/ingest/demo, recording to $out/received.webm" >&2
"$sv" recv --quiet --listen "$addr" --tee "$out/received.webm" > /dev/null &
recv=$!
trap 'kill $recv 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null && break
	sleep 0.1
done
echo "demo: sv send $rec in real time" >&2
"$sv" send "$rec" "ws://$addr/ingest/demo"
wait $recv
trap - EXIT
if cmp -s "$rec" "$out/received.webm"; then
	echo "demo: $out/received.webm is byte-identical to $rec" >&2
else
	echo "demo: $out/received.webm differs from $rec" >&2
	exit 1
fi
