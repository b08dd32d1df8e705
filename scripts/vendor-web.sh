#!/usr/bin/env bash
# Vendors the players the web pages use into web/vendor, from the npm registry, with their
# licence files: dash.js (BSD-3-Clause) and hls.js (Apache-2.0). The files are committed
# and embedded in the sv binary (package web): nothing is fetched from a CDN at run time.
#
# The versions are pinned, and each tarball is checked against the registry's integrity
# hash recorded here. To upgrade: change a version, set its hash to the one `npm view
# PKG@VERSION dist.integrity` prints, run this script, test the pages (make test) and
# commit web/vendor together with this script.
set -euo pipefail

DASHJS_VERSION=5.2.1
DASHJS_INTEGRITY=sha512-axcJmLeJCTJMLUfQRErUJB1KOiU5iHF+DMLBc3FKeox1HPYtGUQlC6Xm5Mm6vhBUR3CHHLIPOqw0JDIqMtP+Dw==
HLSJS_VERSION=1.7.4
HLSJS_INTEGRITY=sha512-3GlxGdPvT2YHvQYOt+yOzT/DEior/qJVNIylHA77kgeoBTdQQqi70GwefNEUmHQeNGyjC8U62+bruqW/Tpm+tg==

cd "$(dirname "$0")/.."
out=web/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fetch PKG VERSION INTEGRITY: unpacks the package's tarball into $tmp/PKG.
fetch() {
	local pkg=$1 version=$2 integrity=$3 tgz got
	tgz=$(cd "$tmp" && npm pack --silent "$pkg@$version" 2>/dev/null | tail -n 1)
	got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tgz" | base64 -w0)"
	if [ "$got" != "$integrity" ]; then
		echo "vendor-web: $pkg@$version: integrity $got, want $integrity" >&2
		exit 1
	fi
	mkdir -p "$tmp/$pkg"
	tar -xzf "$tmp/$tgz" -C "$tmp/$pkg" --strip-components=1
}

fetch dashjs "$DASHJS_VERSION" "$DASHJS_INTEGRITY"
fetch hls.js "$HLSJS_VERSION" "$HLSJS_INTEGRITY"

mkdir -p "$out"
rm -f "$out"/*
cp "$tmp/dashjs/dist/modern/umd/dash.all.min.js" "$out/dash.all.min.js"
cp "$tmp/dashjs/LICENSE.md" "$out/dash.js-LICENSE.md"
cp "$tmp/hls.js/dist/hls.min.js" "$out/hls.min.js"
cp "$tmp/hls.js/LICENSE" "$out/hls.js-LICENSE"
cat > "$out/VERSIONS" <<VERSIONS
dashjs $DASHJS_VERSION $DASHJS_INTEGRITY
hls.js $HLSJS_VERSION $HLSJS_INTEGRITY
VERSIONS
ls -l "$out" >&2
