#!/usr/bin/env bash
# Installs what sv needs at run and test time, when it is missing: FFmpeg (ffmpeg, ffprobe),
# Chromium, Firefox ESR (the lab's second publishing browser), xmllint, nginx (in front
# of sv all in TestBehindNginx; BenchmarkOrigin compares sv serve with it), Caddy (in
# front of sv all in TestBehindCaddy), Varnish (the edge cache of the scale-out tests) and
# HAProxy (the balancer in front of several sv nodes), from Debian's packages; versitygw,
# an S3-compatible server over a folder (Apache-2.0) that the object-store tests upload
# to, built from its Go module into $(go env GOPATH)/bin; and, where its host can be
# reached, the official MPD schema the dash tests validate against
# (dash/testdata/schema/README.md). Idempotent, and quiet when everything is there.
#   scripts/deps.sh [bench]
# With bench, also Node.js and npm, for the Node receiver the ingest benchmarks compare
# sv recv with, and that receiver's ws package, as internal/lab/testdata/node pins it.
set -euo pipefail

need=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || need+=(firefox-esr)
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v caddy >/dev/null 2>&1 || need+=(caddy)
command -v varnishd >/dev/null 2>&1 || [ -x /usr/sbin/varnishd ] || need+=(varnish)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
tools=(ffmpeg ffprobe chromium firefox-esr xmllint nginx caddy)

# versitygw, pinned; the version it was built at is written beside it, since the binary
# does not say it.
versitygw_version=v1.8.0
versitygw() {
	local bin
	bin="$(go env GOPATH)/bin"
	[ -x "$bin/versitygw" ] && [ "$(cat "$bin/.versitygw-version" 2>/dev/null)" = "$versitygw_version" ] && return 0
	echo "deps: building versitygw $versitygw_version into $bin" >&2
	GOBIN="$bin" go install "github.com/versity/versitygw/cmd/versitygw@$versitygw_version"
	echo "$versitygw_version" >"$bin/.versitygw-version"
}

# The MPD schema: DASH-MPD.xsd at a fixed commit of MPEGGroup/DASHSchema (checked by its
# SHA-256) with the repository's licence, and the W3C schemas it imports; the
# schemaLocations that point to www.w3.org are rewritten to the local files, so that
# xmllint validates offline.
schema_dir="$(dirname "$0")/../dash/testdata/schema"
schema_commit=fb663fdbe71a883b14e4e025e6ad81b43b05590c
schema_sha256=c6a7781ef6f140a9647278998d789fe93fd81711b8181f535a53307b6cb5a214
[ -f "$schema_dir/DASH-MPD.xsd" ] || command -v curl >/dev/null 2>&1 || need+=(curl)
mpd_schema() {
	[ -f "$schema_dir/DASH-MPD.xsd" ] && return 0
	echo "deps: downloading the MPD schema into dash/testdata/schema" >&2
	local tmp sum
	tmp=$(mktemp -d)
	# Not fatal: a machine that cannot reach the schema's hosts still runs everything
	# else; TestMPDSchema then says it did not validate.
	if ! { curl -fsSL --max-time 20 -o "$tmp/DASH-MPD.xsd" "https://raw.githubusercontent.com/MPEGGroup/DASHSchema/$schema_commit/DASH-MPD.xsd" &&
		curl -fsSL --max-time 20 -o "$tmp/LICENSE" "https://raw.githubusercontent.com/MPEGGroup/DASHSchema/$schema_commit/LICENSE" &&
		curl -fsSL --max-time 20 -o "$tmp/xlink.xsd" https://www.w3.org/XML/2008/06/xlink.xsd &&
		curl -fsSL --max-time 20 -o "$tmp/xml.xsd" https://www.w3.org/2009/01/xml.xsd; }; then
		echo "deps: warning: cannot download the MPD schema; the dash tests will not validate MPDs against it" >&2
		rm -rf "$tmp"
		return 0
	fi
	sum=$( (command -v sha256sum >/dev/null && sha256sum || shasum -a 256) <"$tmp/DASH-MPD.xsd" | cut -d' ' -f1)
	if [ "$sum" != "$schema_sha256" ]; then
		echo "deps: DASH-MPD.xsd has SHA-256 $sum, not $schema_sha256" >&2
		rm -rf "$tmp"
		return 1
	fi
	sed -E 's#schemaLocation="https?://www\.w3\.org/[^"]*/xlink\.xsd"#schemaLocation="xlink.xsd"#' "$tmp/DASH-MPD.xsd" >"$tmp/DASH-MPD.xsd.new"
	sed -E 's#schemaLocation="https?://www\.w3\.org/[^"]*/xml\.xsd"#schemaLocation="xml.xsd"#' "$tmp/xlink.xsd" >"$tmp/xlink.xsd.new"
	mv "$tmp/DASH-MPD.xsd.new" "$tmp/DASH-MPD.xsd"
	mv "$tmp/xlink.xsd.new" "$tmp/xlink.xsd"
	if grep -Eq '<xs:import [^>]*schemaLocation="https?:' "$tmp"/*.xsd; then
		echo "deps: the MPD schema still imports from the network" >&2
		rm -rf "$tmp"
		return 1
	fi
	mv "$tmp/LICENSE" "$tmp/xml.xsd" "$tmp/xlink.xsd" "$schema_dir/"
	mv "$tmp/DASH-MPD.xsd" "$schema_dir/" # last: its presence means the set is complete
	rmdir "$tmp"
}
if [ "${1:-}" = bench ]; then
	command -v node >/dev/null 2>&1 || need+=(nodejs)
	command -v npm >/dev/null 2>&1 || need+=(npm)
	tools+=(node npm)
fi
if [ ${#need[@]} -eq 0 ]; then
	mpd_schema
	versitygw
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
for tool in /usr/sbin/varnishd /usr/sbin/haproxy; do
	[ -x "$tool" ] || { echo "deps: $tool is still missing" >&2; exit 1; }
done
mpd_schema
versitygw
[ "${1:-}" = bench ] && npm ci --prefix "$(dirname "$0")/../internal/lab/testdata/node" --silent --no-audit --no-fund
exit 0
