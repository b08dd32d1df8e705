#!/usr/bin/env bash
# Vendors the stock players that the lab's player pages (internal/lab/testdata/players)
# load and that sv's own pages do not: Shaka Player (Apache-2.0), from the npm registry,
# with its licence. dash.js and hls.js are not copied: the lab serves web/vendor's, the very
# files sv's viewer plays with, so that both measure the same player versions.
#
# The version is pinned and the tarball checked against the registry's integrity hash
# recorded here. To upgrade: change the version, set its hash to the one `npm view
# shaka-player@VERSION dist.integrity` prints, run this script, run the lab's player tests
# (internal/lab/e2e TestPlayers) and commit the folder together with this script.
set -euo pipefail

SHAKA_VERSION=5.2.12
SHAKA_INTEGRITY=sha512-vEsuVDI3+oLh+yqpjXexQZlg2XMUBI0VrqatDuKWacPaxAud6Uph5uCowUPLhUgNG5XKWCpoM4l1r8qYzWH+zg==

cd "$(dirname "$0")/.."
out=internal/lab/testdata/players/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tgz=$(cd "$tmp" && npm pack --silent "shaka-player@$SHAKA_VERSION" 2>/dev/null | tail -n 1)
got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tgz" | base64 -w0)"
if [ "$got" != "$SHAKA_INTEGRITY" ]; then
	echo "vendor-players: shaka-player@$SHAKA_VERSION: integrity $got, want $SHAKA_INTEGRITY" >&2
	exit 1
fi
mkdir -p "$tmp/shaka" "$out"
tar -xzf "$tmp/$tgz" -C "$tmp/shaka" --strip-components=1
rm -f "$out"/*
cp "$tmp/shaka/dist/shaka-player.compiled.js" "$out/shaka-player.compiled.js"
cp "$tmp/shaka/LICENSE" "$out/shaka-player-LICENSE"
cat > "$out/VERSIONS" <<VERSIONS
shaka-player $SHAKA_VERSION $SHAKA_INTEGRITY
VERSIONS
ls -l "$out" >&2
