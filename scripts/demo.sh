#!/usr/bin/env bash
# The demo: sv all --demo, which publishes a recording built into sv in a loop as the live
# stream "demo" (recorded, packaged, analysed, served), with the viewer page.
#   scripts/demo.sh [path/to/sv]
# SV_DEMO_SECONDS=N runs it for N seconds, then checks that the stream was live and that
# Ctrl-C finishes it (default: run until Ctrl-C). SV_DEMO_LISTEN sets the address
# (127.0.0.1:8080); SV_DEMO_OPEN=1 opens the viewer in the default browser.
set -euo pipefail
cd "$(dirname "$0")/.."
sv=$(realpath "${1:-bin/sv}")
listen=${SV_DEMO_LISTEN:-127.0.0.1:8080}
out=output
args=(all --demo --listen "$listen" --out "$out")
[ "${SV_DEMO_OPEN:-0}" = 1 ] && args+=(--open)

echo "demo: open http://$listen/view?stream=demo (Ctrl-C to stop)"
if [ -z "${SV_DEMO_SECONDS:-}" ]; then
	exec "$sv" "${args[@]}"
fi

# A timed, checked run.
"$sv" "${args[@]}" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep "$SV_DEMO_SECONDS"
fail() { echo "demo: $*" >&2; exit 1; }
grep -q 'type="dynamic"' "$out/live/demo/manifest.mpd" || fail "the demo stream is not live"
segments=$(ls "$out/live/demo"/chunk-stream0-*.m4s | wc -l)
[ "$segments" -ge 2 ] || fail "only $segments video segments"
frames=$(grep -c '"type":"frame"' "$out/live/demo/frames.jsonl" || true)
[ "$frames" -ge 30 ] || fail "only $frames frames analysed"
kill -INT $pid
status=0
wait $pid || status=$?
trap - EXIT
[ $status = 130 ] || fail "sv all exited $status after Ctrl-C, want 130"
grep -q 'mediaPresentationDuration=' "$out/live/demo/manifest.mpd" && ! grep -q minimumUpdatePeriod "$out/live/demo/manifest.mpd" || fail "the manifest does not say the stream has ended"
echo "demo: ok: live for ${SV_DEMO_SECONDS}s, $frames frames analysed, the presentation ended"
