#!/usr/bin/env bash
# Installs what the ingest benchmarks need beyond scripts/deps.sh: Node.js and npm from
# Debian's packages when they are missing, and the ws package that the Node receiver in
# cmd/sv/testdata/node uses, exactly as its package-lock.json pins it.
set -euo pipefail

cd "$(dirname "$0")/.."

need=()
if ! command -v node >/dev/null 2>&1; then
	need+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
	need+=(npm)
fi
if [ ${#need[@]} -gt 0 ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "bench-deps: missing ${need[*]}; install them with your package manager" >&2
		exit 1
	fi
	sudo=
	if [ "$(id -u)" -ne 0 ]; then
		sudo=sudo
	fi
	echo "bench-deps: installing ${need[*]} from Debian's packages" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

npm ci --prefix cmd/sv/testdata/node --silent --no-audit --no-fund
