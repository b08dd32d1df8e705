#!/usr/bin/env bash
# The demo: a browser recording from testdata replayed in a loop, in real time, through the
# whole pipe (sv send | sv recv | sv frames + sv dash), served by sv serve with the viewer.
#   scripts/demo.sh [path/to/sv] [recording]
# SV_DEMO_SECONDS=N stops it after N seconds (default: run until Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
sv=$(realpath "${1:-bin/sv}")
rec=${2:-testdata/h264-opus-kf1s.webm}
root=output
live=$root/live/demo
http=127.0.0.1:${SV_DEMO_HTTP_PORT:-8000}
ingest=127.0.0.1:${SV_DEMO_INGEST_PORT:-8080}

mkdir -p "$live"
pids=()
# killtree PID: the process and everything it started (the loops run pipelines).
# The parent goes first, so a loop cannot start its next round.
killtree() {
	local children
	children=$(pgrep -P "$1" || true)
	kill "$1" 2>/dev/null || true
	for child in $children; do
		killtree "$child"
	done
}
cleanup() {
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		killtree "$pid"
	done
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

waitport() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "demo: nothing listens on $1" >&2
	return 1
}

"$sv" serve --quiet --listen "$http" --root "$root" --ingest "ws://$ingest/ingest/{stream}" &
pids+=($!)

# One publisher session after another: each replay is a session, and the viewer follows.
(
	while :; do
		"$sv" recv --quiet --listen "$ingest" |
			tee >("$sv" frames --quiet > "$live/frames.jsonl") |
			"$sv" dash --quiet --out "$live" --time-url "http://$http/time" || sleep 1
	done
) &
pids+=($!)
(
	waitport "$ingest"
	while :; do
		"$sv" send --quiet "$rec" "ws://$ingest/ingest/demo" || sleep 1
		waitport "$ingest"
	done
) &
pids+=($!)

waitport "$http"
cat >&2 <<MSG
demo: replaying $rec in a loop, live, as stream "demo"
demo: watch it:           http://$http/view?stream=demo
demo: the streams:        http://$http/
demo: media and analysis: $live (manifest.mpd, master.m3u8, frames.jsonl)
demo: Ctrl-C to stop
MSG
if [ -n "${SV_DEMO_SECONDS:-}" ]; then
	sleep "$SV_DEMO_SECONDS"
	for f in "$live/manifest.mpd" "$live/master.m3u8" "$live/frames.jsonl"; do
		[ -s "$f" ] || { echo "demo: $f is missing or empty" >&2; exit 1; }
	done
	echo "demo: ok: $(ls "$live" | grep -c m4s) segments, $(grep -c '"type":"frame"' "$live/frames.jsonl") frames analysed" >&2
else
	wait
fi
