package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"io/fs"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/svtool/sv/frames"
	"github.com/svtool/sv/stream"
)

// TestFS checks that the pages, their scripts and the vendored players with their
// licences are embedded, and that every /assets/ file a page refers to exists.
func TestFS(t *testing.T) {
	fsys := FS()
	for _, name := range []string{
		"index.html", "capture.html", "view.html", "common.js", "timecode.js", "sha256.js", "capture.js", "view.js",
		"index.js", "ticker.js", "sv.css",
		"vendor/dash.all.min.js", "vendor/dash.js-LICENSE.md", "vendor/hls.min.js", "vendor/hls.js-LICENSE", "vendor/VERSIONS",
	} {
		if fi, err := fs.Stat(fsys, name); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	ref := regexp.MustCompile(`(?:src|href)="/assets/([^"]+)"|['"]/assets/([^'"]+)['"]`)
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(name, "vendor/") {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		for _, m := range ref.FindAllSubmatch(b, -1) {
			asset := string(m[1]) + string(m[2])
			if _, err := fs.Stat(fsys, asset); err != nil {
				t.Errorf("%s refers to /assets/%s, which is not embedded", name, asset)
			}
		}
		if strings.HasSuffix(name, ".html") && (bytes.Contains(b, []byte("http://")) || bytes.Contains(b, []byte("https://"))) {
			t.Errorf("%s loads something from another site", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	versions, _ := fs.ReadFile(fsys, "vendor/VERSIONS")
	if !regexp.MustCompile(`(?m)^dashjs 5\.\d+\.\d+ sha512-`).Match(versions) || !regexp.MustCompile(`(?m)^hls\.js 1\.\d+\.\d+ sha512-`).Match(versions) {
		t.Errorf("vendor/VERSIONS:\n%s", versions)
	}
}

// TestTimecodeJS checks timecode.js against package frames, the reference, bit for bit:
// the strip the page draws is the one frames.DrawTimecode draws, and the page reads what
// frames draws, also blurred and noisy, exactly when frames.DecodeTimecode does.
func TestTimecodeJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the browser test covers timecode.js in Chromium")
	}
	type tcCase struct {
		Width  int    `json:"width"`
		Height int    `json:"height"`
		MS     int64  `json:"ms"`
		Plane  string `json:"plane"`
		want   int64  // what frames decodes from Plane, or -1
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var cases []tcCase
	add := func(w, h int, ms int64, damage func([]byte, int, int)) {
		plane := make([]byte, w*h)
		if err := frames.DrawTimecode(plane, w, h, w, ms); err != nil {
			t.Fatal(err)
		}
		drawMS := ms
		if damage != nil {
			damage(plane, w, h)
			drawMS = -1 // only decoding
		}
		want, ok := frames.DecodeTimecode(plane, w, h, w)
		if !ok {
			want = -1
		}
		cases = append(cases, tcCase{Width: w, Height: h, MS: drawMS, Plane: base64.StdEncoding.EncodeToString(plane), want: want})
	}
	for _, ms := range []int64{0, 1, 1_767_225_600_123, 1_799_999_999_999, 1<<44 - 1, 123456789} {
		for _, w := range []int{64, 100, 320, 640, 641, 1280, 1920} {
			add(w, max(w/32, w*9/16), ms, nil)
		}
	}
	for range 30 {
		ms := rng.Int64N(1 << 44)
		add(640, 480, ms, func(p []byte, w, h int) { // blur and noise, as a lossy encoder would
			blurred := make([]byte, len(p))
			for y := range h {
				for x := range w {
					sum, n := 0, 0
					for dx := -2; dx <= 2; dx++ {
						if xx := x + dx; xx >= 0 && xx < w {
							sum += int(p[y*w+xx])
							n++
						}
					}
					v := sum/n + rng.IntN(41) - 20
					blurred[y*w+x] = byte(min(255, max(0, v)))
				}
			}
			copy(p, blurred)
		})
	}
	// Not a strip: flat grey, and a strip with one block flipped (the CRC fails).
	add(640, 480, 42, func(p []byte, w, h int) {
		for i := range p {
			p[i] = 128
		}
	})
	add(640, 480, 42, func(p []byte, w, h int) {
		for y := range w / 32 {
			for x := 20 * w / 64; x < 21*w/64; x++ {
				p[y*w+x] ^= 255
			}
		}
	})

	in, _ := json.Marshal(map[string]any{"cases": cases})
	cmd := exec.Command(node, "testdata/timecode_check.js")
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got []struct {
		Drawn       *string `json:"drawn"`
		Decoded     int64   `json:"decoded"`
		DecodedRGBA int64   `json:"decodedRGBA"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("node answered %d results (%v)", len(got), err)
	}
	for i, c := range cases {
		g := got[i]
		if c.MS >= 0 {
			if g.Drawn == nil || *g.Drawn != c.Plane {
				t.Errorf("%dx%d, %d ms: timecode.js draws another strip than frames.DrawTimecode", c.Width, c.Height, c.MS)
			}
			if c.want != c.MS {
				t.Errorf("%dx%d: frames decodes %d from its own %d", c.Width, c.Height, c.want, c.MS)
			}
		}
		if g.Decoded != c.want || g.DecodedRGBA != c.want {
			t.Errorf("case %d (%dx%d): timecode.js decodes %d (RGBA %d), frames %d", i, c.Width, c.Height, g.Decoded, g.DecodedRGBA, c.want)
		}
	}
	decoded := 0
	for _, c := range cases {
		if c.MS < 0 && c.want >= 0 {
			decoded++
		}
	}
	if decoded < 25 {
		t.Errorf("only %d of 30 damaged strips were decodable: the damage is too strong to test anything", decoded)
	}
}

// TestSha256JS checks sha256.js, with which the capture page hashes what it sends, against
// crypto/sha256: every length around the block and padding boundaries, fed in uneven
// pieces as the recorder's chunks are.
func TestSha256JS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the browser tests compare the page's digests with the recordings")
	}
	type shaCase struct {
		Data   []byte `json:"data"` // base64 in JSON
		Chunks []int  `json:"chunks"`
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var cases []shaCase
	add := func(n int) {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		var chunks []int
		for left := n; left > 0 && rng.IntN(4) > 0; {
			c := rng.IntN(min(left, 150) + 1)
			chunks = append(chunks, c)
			left -= c
		}
		cases = append(cases, shaCase{Data: data, Chunks: chunks})
	}
	for n := range 260 {
		add(n)
	}
	for _, n := range []int{1000, 4096, 65536 + 55, 1<<20 + 63} {
		add(n)
	}
	in, _ := json.Marshal(map[string]any{"cases": cases})
	cmd := exec.Command(node, "testdata/sha256_check.js")
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("node answered %d digests (%v)", len(got), err)
	}
	for i, c := range cases {
		want := sha256.Sum256(c.Data)
		if got[i] != hex.EncodeToString(want[:]) {
			t.Errorf("%d bytes in chunks %v: sha256.js says %s, crypto/sha256 %x", len(c.Data), c.Chunks, got[i], want)
		}
	}
}

// TestInputPatterns checks that every pattern attribute of the pages compiles as browsers
// now compile it (with the v flag, where a bare hyphen in a class is an error and the
// input takes any value) and accepts exactly the names package stream does.
func TestInputPatterns(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	attr := regexp.MustCompile(`\bpattern="([^"]*)"`)
	var patterns []string
	for _, page := range []string{"index.html", "capture.html", "view.html"} {
		b, err := fs.ReadFile(FS(), page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range attr.FindAllSubmatch(b, -1) {
			patterns = append(patterns, html.UnescapeString(string(m[1])))
		}
	}
	if len(patterns) == 0 {
		t.Fatal("no pattern attribute in the pages")
	}
	names := []string{"cam", "a", "A-b_9", strings.Repeat("x", 64), "", strings.Repeat("x", 65), "a b", "é", "a/b", "a.b", "-"}
	in, _ := json.Marshal(map[string]any{"patterns": patterns, "names": names})
	// The browser's check: the whole value matches ^(?:PATTERN)$ compiled with the v flag.
	const script = `let s = ''; process.stdin.on('data', (d) => { s += d; }); process.stdin.on('end', () => {
  const { patterns, names } = JSON.parse(s);
  console.log(JSON.stringify(patterns.map((p) => {
    try { const re = new RegExp('^(?:' + p + ')$', 'v'); return names.map((n) => re.test(n)); } catch (e) { return e.message; }
  })));
});`
	cmd := exec.Command(node, "-e", script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got []json.RawMessage
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(patterns) {
		t.Fatalf("node answered %s (%v)", out, err)
	}
	for i, p := range patterns {
		var matches []bool
		if err := json.Unmarshal(got[i], &matches); err != nil {
			t.Errorf("pattern %q does not compile with the v flag: %s", p, got[i])
			continue
		}
		for j, name := range names {
			if matches[j] != stream.Valid(name) {
				t.Errorf("pattern %q: %q matches %v, but stream.Valid says %v", p, name, matches[j], stream.Valid(name))
			}
		}
	}
}
