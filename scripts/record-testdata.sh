#!/usr/bin/env bash
# Regenerates the browser recordings in testdata/ and testdata/README.md.
#
# Each file is real MediaRecorder output from Debian's headless Chromium with a fake camera
# and microphone, recorded by internal/lab/cmd/recordtestdata (see its package doc): the chunks are
# stored byte for byte, concatenated in order. Every file is checked with ffprobe/ffmpeg.
# Needs go, chromium, ffmpeg and ffprobe; takes two minutes or more. Safe to re-run: the new
# files replace the old ones only when every recording has succeeded.
#
#   scripts/record-testdata.sh
set -euo pipefail

cd "$(dirname "$0")/.."

die() { echo "record-testdata: error: $*" >&2; exit 1; }

for tool in go chromium ffmpeg ffprobe; do
	command -v "$tool" >/dev/null || die "$tool not found in PATH"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/record-testdata.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/out"

max_size=2000000   # bytes, per file
max_frame_gap=200ms # longer stalls mean a CPU-starved browser: record again
min_fps=29          # so do dropped frames
attempts=6
files_md=$tmp/files.md
chunks_md=$tmp/chunks.md

# record NAME [recordtestdata flags...]
# Retries: on a busy machine Chromium's capture or encoder sometimes stalls, which the
# recorder's checks (frame gaps, duration, keyframes, clean decode) turn into a failure.
record() {
	local name=$1 i
	shift
	for ((i = 1; i <= attempts; i++)); do
		echo "record-testdata: recording $name (attempt $i of $attempts)" >&2
		if go -C internal/lab run ./cmd/recordtestdata \
			-timeslice 250ms -video-bps 600000 -audio-bps 64000 -fps 30 \
			-max-size "$max_size" -max-frame-gap "$max_frame_gap" -min-fps "$min_fps" \
			-md "$files_md" -md-chunks "$chunks_md" -chunk-log "$tmp/out/$name.chunks" -chunks \
			-out "$tmp/out/$name" "$@"; then
			return 0
		fi
		sleep $((i * 5)) # give a busy machine a moment
	done
	die "$name: no good recording in $attempts attempts (is the machine busy? load: $(cut -d' ' -f1-3 /proc/loadavg))"
}

# The camera for h264-cuts.webm: seven 3 s scenes, 21 s in all, so that a 15 s recording
# never reaches the point where Chromium loops the file.
scenes=(testsrc2 smptebars mandelbrot "solid colour #1e64c8" rgbtestsrc testsrc smptehdbars)
scene_len=3
v="s=640x480:r=30"
ffmpeg -nostdin -v error -y -filter_complex "
	testsrc2=$v:d=$scene_len,format=yuv420p[s0];
	smptebars=$v:d=$scene_len,format=yuv420p[s1];
	mandelbrot=$v,trim=duration=$scene_len,setpts=PTS-STARTPTS,format=yuv420p[s2];
	color=c=0x1e64c8:$v:d=$scene_len,format=yuv420p[s3];
	rgbtestsrc=$v:d=$scene_len,format=yuv420p[s4];
	testsrc=$v:d=$scene_len,format=yuv420p[s5];
	smptehdbars=$v:d=$scene_len,format=yuv420p[s6];
	[s0][s1][s2][s3][s4][s5][s6]concat=n=7:v=1:a=0[v]" \
	-map '[v]' -pix_fmt yuv420p "$tmp/cuts.y4m"

record h264-opus-kf1s.webm -mime 'video/webm;codecs=h264,opus' -keyframe-interval 1s -duration 15s
record h264-opus-kf5s.webm -mime 'video/webm;codecs=h264,opus' -duration 15s
record vp8-opus.webm -mime 'video/webm;codecs=vp8,opus' -keyframe-interval 1s -duration 15s
record vp9-opus.mp4 -mime 'video/mp4' -duration 15s
record h264-video-only.webm -mime 'video/webm;codecs=h264' -audio=false -keyframe-interval 1s -duration 10s
# Scene cuts as FFmpeg's scdet sees them, as "time score" lines in $tmp/cuts.txt. Capture and
# recorder start are not synchronised, so the cuts are shifted against the y4m, but they must
# still be one scene apart.
cuts_ok() {
	ffmpeg -nostdin -i "$tmp/out/h264-cuts.webm" -vf scdet=threshold=10 -f null - 2>&1 |
		sed -n 's/.*lavfi\.scd\.score: \([0-9.]*\), lavfi\.scd\.time: \([0-9.]*\).*/\2 \1/p' >"$tmp/cuts.txt"
	awk -v len="$scene_len" '
		NR > 1 && ($1 - prev < len - 0.1 || $1 - prev > len + 0.1) { bad = 1 }
		{ prev = $1 }
		END { exit (NR < 4 || bad) }' "$tmp/cuts.txt" && return 0
	echo "record-testdata: h264-cuts.webm: expected a scene cut every ${scene_len} s," \
		"scdet found: $(tr '\n' ' ' <"$tmp/cuts.txt")" >&2
	return 1
}
for ((try = 1; ; try++)); do
	record h264-cuts.webm -mime 'video/webm;codecs=h264,opus' -keyframe-interval 1s -duration 15s \
		-fake-video "$tmp/cuts.y4m"
	cuts_ok && break
	((try < attempts)) || die "h264-cuts.webm: no recording with regular scene cuts"
	# Drop the rows of the rejected recording.
	sed -i '/h264-cuts\.webm/d' "$files_md" "$chunks_md"
done
first_cut=$(head -n1 "$tmp/cuts.txt" | cut -d' ' -f1)
shift_s=$(awk -v t="$first_cut" -v len="$scene_len" 'BEGIN { printf "%+.3f", t - len }')
# Video keyframe times, to tell whether the encoder put a keyframe on each cut.
ffprobe -v error -select_streams v -show_entries packet=pts_time,flags -of csv=p=0 \
	"$tmp/out/h264-cuts.webm" | awk -F, '$2 ~ /K/ { print $1 }' >"$tmp/keyframes.txt"

chromium_version=$(chromium --version 2>/dev/null | grep -o 'Chromium [0-9.]*' | head -n1)
ffmpeg_version=$(ffmpeg -version | head -n1 | cut -d' ' -f3)

{
	cat <<EOF
# Browser recordings

Real MediaRecorder output from headless Chromium with a fake camera and microphone, stored
byte for byte as the browser produced it: the page uploads every \`dataavailable\` chunk with a
sequence number and the recorder writes them concatenated in order (no remuxing). Use them as
the input of ingest, packaging and analysis tests. Next to each file, \`FILE.chunks\` lists the
chunks (size in bytes and \`BlobEvent.timecode\` in ms, one per line, \`#\` comments): to replay a
file as a live publisher would send it, send those slices as WebSocket messages at their
timecodes.

Regenerate with \`scripts/record-testdata.sh\` from the repository root (needs go, chromium,
ffmpeg, ffprobe; two minutes or more). Recorded with **${chromium_version}** (Debian, headless,
\`--use-fake-device-for-media-stream=fps=30\`), checked with FFmpeg ${ffmpeg_version}. Fake camera
640x480 at 30 fps (Chromium's moving test pattern, except \`h264-cuts.webm\`), fake microphone
48 kHz mono (a beep). The program behind it, with flags for mime type, duration, keyframe
interval, timeslice and camera file: \`go -C internal/lab run ./cmd/recordtestdata -h\`.

## Files

Duration is from the first packet to the end of the last one of any stream (Chrome writes no
Duration element in WebM). Video frames and keyframes are counted from packets
(\`ffprobe -show_entries packet=pts_time,flags\`), fps from their timestamps, with the longest
gap between successive frames (recordings with a gap over ${max_frame_gap} or under ${min_fps} fps,
signs of a CPU-starved browser, are thrown away and made again); the keyframe interval is the mean (min-max) gap
between packets flagged K. Every file decodes without a message from
\`ffmpeg -v error -i FILE -f null -\`; the WebM files start with an EBML header, the MP4 with an
\`ftyp\` box.

EOF
	cat "$files_md"
	cat <<EOF

## Chunks as MediaRecorder delivered them

Timeslice 250 ms in every recording. "Where chunks start" looks at the first bytes of each chunk
and the last bytes of the one before it.

EOF
	cat "$chunks_md"
	cat <<EOF

## What ${chromium_version}'s MediaRecorder produces

- \`video/webm;codecs=h264\` is accepted, but \`recorder.mimeType\` then reads
  \`video/x-matroska;codecs=avc1...\` and the EBML DocType is \`matroska\` (VP8: \`webm\`). The
  H.264 track is Constrained Baseline with no CodecPrivate: SPS/PPS travel in band.
- WebM: Segment and Clusters of unknown size, no Duration, no Cues, 1 ms timestamps. Only chunk 0
  starts with the EBML header and carries Tracks. Every later chunk begins **one byte into an
  element**: each chunk ends with the first byte of the next element's ID (0xA3 of a SimpleBlock,
  or 0x1F of a Cluster ID). A chunk is never parseable on its own.
- With audio, a new Cluster starts about every 300 ms and at every video keyframe, so Clusters are
  not GOPs and a Cluster holding a keyframe may begin with an audio block. Video only: one Cluster
  per keyframe.
- Timeslice 250 ms gives a chunk every 300 ms with audio (five 60 ms Opus packets) but every
  267 ms without (eight frames at 30 fps): the timeslice is rounded up to whole packets.
- Without \`videoKeyFrameIntervalDuration\` the encoders make a keyframe every ~101 frames: 3.37 s
  at 30 fps (so \`h264-opus-kf5s.webm\` has ~3.4 s GOPs; at the fake camera's default 20 fps the same rule
  gives ~5 s). With 1000 it is 1.00-1.03 s: the first frame after
  each second.
- Plain \`video/mp4\` records VP9 (profile 0) + Opus as fragmented MP4 (\`ftyp\` isom, brands
  iso6 iso2 vp09 mp41; \`moov\` with \`mvex\`). Chunk 0 is only \`ftyp\`+\`moov\`; every later chunk
  is one or more whole \`moof\`+\`mdat\` fragments (boundaries on box boundaries, unlike WebM),
  every ~600 ms whatever the timeslice. Every fragment starts with a VP9 keyframe: there is one
  every ~0.6 s, plus the encoder's own every ~101 frames, which start a fragment too (hence the
  short minimum interval).
- \`h264-cuts.webm\`: the H.264 encoder adds a keyframe on each hard cut, besides its schedule.
- On a busy machine Chromium's recordings show stalls (up to 2 s without a frame), dropped
  frames, and video frames sharing one millisecond timestamp (FFmpeg: "non monotonically
  increasing dts"). The script rejects such recordings and records again, so these files are
  clean; live input from real browsers will not always be.

## Scene cuts in \`h264-cuts.webm\`

The camera was a y4m file made by the script from FFmpeg lavfi sources, 640x480, 30 fps,
yuv420p, ${#scenes[@]} scenes of ${scene_len} s ($((${#scenes[@]} * scene_len)) s, longer than the recording, so
Chromium's loop back to the start of the file never appears): $(printf '%s, ' "${scenes[@]}" | sed 's/, $//').
Capture and recorder start are not synchronised: in this recording the cuts are shifted by
${shift_s} s against the y4m's multiples of ${scene_len} s (the shift changes from run to run, the
${scene_len} s spacing does not; the script checks it). Measured with
\`ffmpeg -i testdata/h264-cuts.webm -vf scdet=threshold=10 -f null -\` (cut time = pts of the
first frame of the new scene); the last column says whether that frame is a keyframe (the
H.264 encoder adds one on a scene change, besides its 1 s schedule):

| cut at (s) | scdet score | from | to | keyframe there |
| --- | --- | --- | --- | --- |
EOF
	awk -v list="$(printf '%s\n' "${scenes[@]}")" '
		BEGIN { split(list, scene, "\n") }
		NR == FNR { key[NR] = $1; nkey = NR; next }
		{
			k = "no"
			for (i = 1; i <= nkey; i++) if (key[i] - $1 < 0.0015 && $1 - key[i] < 0.0015) k = "yes"
			n++
			printf "| %s | %s | %s | %s | %s |\n", $1, $2, scene[n], scene[n + 1], k
		}' "$tmp/keyframes.txt" "$tmp/cuts.txt"
} >"$tmp/out/README.md"

mkdir -p testdata
mv -f "$tmp"/out/* testdata/

echo "record-testdata: wrote $(ls testdata/*.webm testdata/*.mp4 | wc -l) recordings and testdata/README.md" >&2
