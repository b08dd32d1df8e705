#!/usr/bin/env bash
# make test-loaded: make test with two CPU-burning processes beside it for its whole run,
# as on a busy machine. Tests check what sv does, not how fast, so they must pass here too.
# The burners end with make test, whether it passes, fails or is interrupted.
#   scripts/test-loaded.sh
set -euo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}

burners=()
stop_burners() {
	for pid in "${burners[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${burners[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
trap stop_burners EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for _ in 1 2; do
	(while :; do :; done) &
	burners+=("$!")
done

start=$SECONDS
status=0
"$make" test || status=$?
elapsed=$((SECONDS - start))
if [ "$status" -eq 0 ]; then
	echo "test-loaded: passed in ${elapsed}s beside ${#burners[@]} CPU burners"
else
	echo "test-loaded: FAILED (status $status) after ${elapsed}s beside ${#burners[@]} CPU burners" >&2
fi
exit "$status"
