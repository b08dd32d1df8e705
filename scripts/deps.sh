#!/usr/bin/env bash
# Installs what sv needs at run and test time, when it is missing: FFmpeg (ffmpeg, ffprobe),
# Chromium, and Firefox ESR (firefox-esr: the lab's second publishing browser), from
# Debian's packages. Idempotent, and quiet when everything is there.
#   scripts/deps.sh [bench]
# With bench, also Node.js and npm, for the Node receiver the ingest benchmarks compare
# sv recv with, and that receiver's ws package, as internal/lab/testdata/node pins it.
set -euo pipefail

need=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || need+=(firefox-esr)
tools=(ffmpeg ffprobe chromium firefox-esr)
if [ "${1:-}" = bench ]; then
	command -v node >/dev/null 2>&1 || need+=(nodejs)
	command -v npm >/dev/null 2>&1 || need+=(npm)
	tools+=(node npm)
fi
if [ ${#need[@]} -eq 0 ]; then
	[ "${1:-}" = bench ] && npm ci --prefix "$(dirname "$0")/../internal/lab/testdata/node" --silent --no-audit --no-fund
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing ${need[*]}; install them with your package manager" >&2
	exit 1
fi
sudo=
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
fi
echo "deps: installing ${need[*]} from Debian's packages" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
for tool in "${tools[@]}"; do
	command -v "$tool" >/dev/null 2>&1 || { echo "deps: $tool is still missing" >&2; exit 1; }
done
[ "${1:-}" = bench ] && npm ci --prefix "$(dirname "$0")/../internal/lab/testdata/node" --silent --no-audit --no-fund
exit 0
