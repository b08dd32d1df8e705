package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/svtool/sv/internal/lab"
	"github.com/svtool/sv/internal/testenv"
	"github.com/svtool/sv/media"
	"github.com/svtool/sv/stream"
)

// TestSendReconnects: sv send --reconnect publishes to sv all, which is killed (SIGKILL)
// mid-stream and started again on the same port with another output folder. sv send
// connects again and goes on: the killed server's recording is a prefix of the input
// holding at least every byte the server had reported accepted, the new server's
// recording is the input's header and the input from a keyframe cluster on to its end,
// it decodes without an error, and sv send exits 0.
func TestSendReconnects(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for 15 s; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	sv := lab.Bin(t, lab.SV)
	const name = "cam"
	input := filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm")
	node := lab.StartAll(t, sv)
	send := startSender(t, sv, input, "ws://"+node.Addr+"/ingest/"+name)

	accepted := waitAccepted(t, node.URL(""), name, 200<<10)
	node.Signal(syscall.SIGKILL)
	if !node.Wait(time.Minute) {
		t.Fatal("sv all did not die of SIGKILL within a minute")
	}
	killed := time.Now()
	time.Sleep(time.Second)
	again := lab.StartAllAt(t, sv, node.Addr, filepath.Join(t.TempDir(), "out"))

	if !send.Wait(hang) {
		t.Fatalf("sv send did not end within %s", hang)
	}
	if code := send.ExitCode(); code != 0 {
		t.Fatalf("sv send exited %d:\n%s", code, send.Log.String())
	}
	res := send.resumes(t)
	if len(res) != 1 {
		t.Fatalf("sv send resumed %d times, want once:\n%s", len(res), send.Log.String())
	}
	t.Logf("killed after %d bytes accepted; sv send resumed %s after the kill, in session %d from input byte %d (%d bytes skipped)",
		accepted, res[0].time.Sub(killed).Round(time.Millisecond), res[0].Session, res[0].From, res[0].Skipped)
	checkMoved(t, input, recordings(t, node.Out, name), recordings(t, again.Out, name), accepted, res[0].From)
	again.Interrupt(t)
}

// checkMoved checks the recordings of a stream whose node was killed (dead, oldest first)
// and of the node it moved to (alive): dead's one recording is a prefix of input with at
// least accepted bytes; alive's one recording is input's header followed by input from
// from, a cluster that opens with a keyframe, to its end; and it decodes without an error.
func checkMoved(t *testing.T, input string, dead, alive []string, accepted, from int64) {
	t.Helper()
	in, err := os.ReadFile(input)
	if err != nil {
		t.Fatal(err)
	}
	header, joins := headerAndJoins(t, in)
	if len(dead) != 1 || len(alive) != 1 {
		t.Fatalf("recordings %q on the killed node and %q on the new one: want one each", dead, alive)
	}
	d := readFile(t, dead[0])
	switch {
	case !bytes.HasPrefix(in, d):
		t.Errorf("the killed node's recording (%d bytes) is not a prefix of the input", len(d))
	case int64(len(d)) < accepted:
		t.Errorf("the killed node's recording has %d bytes, less than the %d it had accepted: %d accepted bytes lost",
			len(d), accepted, accepted-int64(len(d)))
	}
	a := readFile(t, alive[0])
	if !slices.Contains(joins, from) {
		t.Errorf("the new session starts at input byte %d, not where a cluster opening with a keyframe starts", from)
	}
	if from < int64(len(d)) {
		t.Errorf("the new session starts at input byte %d, before the end of the killed node's recording (%d)", from, len(d))
	}
	if want := append(bytes.Clone(in[:header]), in[from:]...); !bytes.Equal(a, want) {
		t.Errorf("the new node's recording (%d bytes) is not the %d-byte header and the input from %d on (%d bytes)",
			len(a), header, from, len(want))
	}
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", alive[0], "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("the new node's recording does not decode cleanly: %v\n%s", err, out)
	}
	t.Logf("killed node: %d bytes (%d accepted before the kill); new node: header + input[%d:] (%d bytes); %d bytes of the input never sent",
		len(d), accepted, from, len(a), from-int64(len(d)))
}

// headerAndJoins returns where the header of the recording rec ends and where its
// clusters that open with a keyframe start.
func headerAndJoins(t *testing.T, rec []byte) (header int64, joins []int64) {
	t.Helper()
	if _, err := media.Scan(bytes.NewReader(rec), func(e media.Event) error {
		switch {
		case e.Kind == media.EventHeader && header == 0:
			header = e.Offset
		case e.Kind == media.EventCluster && e.Keyframe:
			joins = append(joins, e.Offset)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return header, joins
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordings lists the recordings of name in the output folder out, oldest first,
// without their seekable copies and markers.
func recordings(t *testing.T, out, name string) []string {
	t.Helper()
	dir := filepath.Join(out, "recordings", name)
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var recs []string
	for _, e := range entries {
		if stream.IsRecording(e.Name()) {
			recs = append(recs, filepath.Join(dir, e.Name())) // named by start time
		}
	}
	return recs
}

// waitAccepted waits until the sv all at base reports at least n bytes accepted from the
// publisher of stream, and returns how many it reported.
func waitAccepted(t *testing.T, base, stream string, n int64) int64 {
	t.Helper()
	var got int64
	lab.WaitFor(t, hang, fmt.Sprintf("%d bytes of %s accepted", n, stream), func() (bool, string) {
		var st struct {
			Bytes int64 `json:"bytes"`
		}
		resp, err := http.Get(base + "/api/streams/" + stream)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return false, resp.Status + ": " + err.Error()
		}
		got = st.Bytes
		return got >= n, fmt.Sprintf("%d bytes", got)
	})
	return got
}

// A sender is sv send with --reconnect, in real time, logging in JSON.
type sender struct{ *lab.Child }

func startSender(t *testing.T, sv, input, url string) sender {
	t.Helper()
	return sender{lab.Start(t, exec.Command(sv, "send", "--log-format", "json", "--progress", "off",
		"--rate", "realtime", "--reconnect", "1m", input, url))}
}

// A resume is sv send's record of a stream resumed in a new session.
type resume struct {
	time    time.Time
	Session int   `json:"session"`
	From    int64 `json:"from"`
	Skipped int64 `json:"skipped"`
}

// resumes are the sessions the sender resumed the stream in, so far.
func (s sender) resumes(t *testing.T) []resume {
	t.Helper()
	var rs []resume
	sc := bufio.NewScanner(strings.NewReader(s.Log.String()))
	for sc.Scan() {
		var r struct {
			Time string `json:"time"`
			Msg  string `json:"msg"`
			resume
		}
		if json.Unmarshal(sc.Bytes(), &r) != nil || !strings.HasPrefix(r.Msg, "stream resumed") {
			continue
		}
		r.resume.time, _ = time.Parse(time.RFC3339Nano, r.Time)
		rs = append(rs, r.resume)
	}
	return rs
}

// TestNodesBehindHAProxy: three sv all nodes behind HAProxy with the repository's
// configuration (deploy/haproxy/haproxy.cfg, its addresses made the test's). Twelve
// publishers (sv send --reconnect, in real time) publish through the balancer, viewers
// fetch each stream's playlists and segments through it, and dash.js plays one stream
// through it. One node, the one with the most streams, is killed (SIGKILL) mid-stream:
// each of its streams must come back through the balancer, on another node, with new
// segments (how soon is logged: the goal is 10 s, a figure for a quiet machine, not a
// check that a busy one would fail); the streams of the other nodes go on undisturbed (same
// sessions, no reconnection, their segments going on, dash.js playing on with no error);
// and the killed node's recordings hold every byte it had accepted, with the moved
// streams' new recordings holding the rest of the input from a keyframe cluster on.
func TestNodesBehindHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("streams for a minute; not with -short")
	}
	testenv.Require(t, "ffmpeg", "ffprobe")
	haproxy := lab.RequireHAProxy(t)
	chromium := testenv.RequireChromium(t)
	sv := lab.Bin(t, lab.SV)

	var nodes []*lab.All
	var addrs []string
	for range 3 {
		n := lab.StartAll(t, sv, "--trusted-proxy", "127.0.0.1", "--max-streams", "16")
		nodes, addrs = append(nodes, n), append(addrs, n.Addr)
	}
	h := lab.StartHAProxy(t, haproxy, addrs...)
	defer func() {
		if t.Failed() {
			t.Logf("haproxy's log:\n%s", h.Log.String())
		}
	}()

	// Twelve streams of a minute each, a recording looped. (h264-cuts.webm, looped and
	// cut at a keyframe, decodes with FFmpeg's null muxer warning of repeated DTS.)
	inputs := []string{lab.LoopRecording(t, filepath.Join(testenv.Dir(), "h264-opus-kf1s.webm"), 4)}
	const streams = 12
	names := make([]string, streams)
	senders := map[string]sender{}
	input := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("s%02d", i+1)
		input[names[i]] = inputs[i%len(inputs)]
		senders[names[i]] = startSender(t, sv, input[names[i]], "ws://"+h.Addr+"/ingest/"+names[i])
	}
	for _, name := range names {
		lab.WaitPlayable(t, h.URL(""), name, hang)
	}

	// Where each stream is, and its session there.
	owner := map[string]int{}
	session := map[string]string{}
	count := make([]int, len(nodes))
	for _, name := range names {
		for i, n := range nodes {
			if st, ok := streamState(n.URL(""), name); ok && st.Publishing {
				owner[name], session[name] = i, st.Session
				count[i]++
			}
		}
		if _, ok := owner[name]; !ok {
			t.Fatalf("no node publishes %s", name)
		}
	}
	victim := 0
	for i := range count {
		if count[i] > count[victim] {
			victim = i
		}
	}
	t.Logf("streams per node: %v; killing node %d (%s)", count, victim+1, nodes[victim].Addr)
	if count[victim] == streams {
		t.Fatalf("every stream is on one node: the balancer does not spread them")
	}
	var moved, stayed []string
	for _, name := range names {
		if owner[name] == victim {
			moved = append(moved, name)
		} else {
			stayed = append(stayed, name)
		}
	}

	// dash.js through the balancer, on a stream that stays.
	pages := lab.ServePlayers(t).URL
	b := lab.StartBrowser(t, chromium)
	defer func() {
		if t.Failed() {
			b.LogConsole(t)
		}
	}()
	watched := stayed[0]
	player := openPlayer(t, b, lab.Players[0], lab.Players[0].URL(pages, h.URL(""), watched))
	waitPlayers(t, []*playerTab{player}, hang, func(_ int, st lab.PlayerStats) bool { return st.Played >= 2 || len(st.Errors) > 0 })
	before := player.stats(t)
	if before.Played < 2 || len(before.Errors) > 0 {
		t.Fatalf("dash.js through the balancer, before the kill: %s", before)
	}

	// What the viewers have seen of each stream through the balancer, and what the
	// victim has accepted of each of its streams, just before the kill.
	seen := map[string]map[string]bool{}
	for _, name := range names {
		seen[name] = map[string]bool{}
		segs, err := segments(h.URL(""), name)
		if err != nil {
			t.Fatalf("%s through the balancer: %v", name, err)
		}
		for _, s := range segs {
			seen[name][s] = true
		}
	}
	accepted := map[string]int64{}
	for _, name := range moved {
		st, _ := streamState(nodes[victim].URL(""), name)
		accepted[name] = st.Bytes
	}
	nodes[victim].Signal(syscall.SIGKILL)
	killed := time.Now()
	t.Logf("killed node %d at %s", victim+1, killed.UTC().Format("15:04:05.000"))
	if !nodes[victim].Wait(time.Minute) {
		t.Fatal("the node did not die of SIGKILL within a minute")
	}

	// Each moved stream's first new segment through the balancer.
	resumed := map[string]time.Duration{}
	lab.WaitFor(t, hang, "the moved streams to have new segments through the balancer", func() (bool, string) {
		var waiting []string
		for _, name := range moved {
			if _, ok := resumed[name]; ok {
				continue
			}
			if s, ok := newSegment(h.URL(""), name, seen[name]); ok {
				resumed[name] = time.Since(killed)
				t.Logf("%s: first new segment through the balancer %s after the kill: %s", name, resumed[name].Round(time.Millisecond), s)
				continue
			}
			waiting = append(waiting, name)
		}
		return len(waiting) == 0, fmt.Sprintf("waiting for %v", waiting)
	})
	var times []float64
	for _, name := range moved {
		times = append(times, resumed[name].Seconds())
	}
	slices.Sort(times)
	t.Logf("resume time over %d moved streams, from the kill to the first new segment through the balancer: median %.2f s, max %.2f s",
		len(times), lab.Quantile(times, 0.5), times[len(times)-1])

	// The other streams: the same sessions on the same nodes, new segments through the
	// balancer, their publishers never reconnected, dash.js playing on.
	for _, name := range stayed {
		st, ok := streamState(nodes[owner[name]].URL(""), name)
		if !ok || !st.Publishing || st.Session != session[name] {
			t.Errorf("%s on node %d: session %q (publishing %v), was %q", name, owner[name]+1, st.Session, st.Publishing, session[name])
		}
		if _, ok := newSegment(h.URL(""), name, seen[name]); !ok {
			t.Errorf("%s: no new segment through the balancer after the kill", name)
		}
	}
	waitPlayers(t, []*playerTab{player}, hang, func(_ int, st lab.PlayerStats) bool {
		return st.Played >= before.Played+5 || len(st.ErrorsSince(before)) > 0
	})
	after := player.stats(t)
	t.Logf("dash.js on %s through the balancer: %s", watched, after)
	if errs := after.ErrorsSince(before); len(errs) > 0 || after.Played < before.Played+5 {
		t.Errorf("dash.js on %s, a stream on a node that lived: %.1f s played after the kill, errors %s", watched, after.Played-before.Played, lab.Distinct(errs))
	}

	// Every publisher ends its input with the server's confirmation; those of the moved
	// streams resumed once, the others never.
	for _, name := range names {
		s := senders[name]
		if !s.Wait(hang) {
			t.Fatalf("sv send of %s did not end", name)
		}
		if code := s.ExitCode(); code != 0 {
			t.Errorf("sv send of %s exited %d:\n%s", name, code, s.Log.String())
		}
		want := 0
		if slices.Contains(moved, name) {
			want = 1
		}
		if got := len(s.resumes(t)); got != want {
			t.Errorf("sv send of %s resumed %d times, want %d:\n%s", name, got, want, s.Log.String())
		}
	}

	// No accepted byte lost: the killed node's recordings, and where the rest went.
	for _, name := range moved {
		var alive []string
		for i, n := range nodes {
			if i != victim {
				alive = append(alive, recordings(t, n.Out, name)...)
			}
		}
		t.Run(name, func(t *testing.T) {
			res := senders[name].resumes(t)
			if len(res) != 1 {
				t.Skip("not resumed once")
			}
			checkMoved(t, input[name], recordings(t, nodes[victim].Out, name), alive, accepted[name], res[0].From)
		})
	}
	for i, n := range nodes {
		if i != victim {
			n.Interrupt(t)
		}
	}
}

// streamState is what the sv all at base says of stream in its control API.
type apiStream struct {
	Publishing bool   `json:"publishing"`
	Session    string `json:"session"`
	Bytes      int64  `json:"bytes"`
}

func streamState(base, name string) (apiStream, bool) {
	var st apiStream
	resp, err := http.Get(base + "/api/streams/" + name)
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, false
	}
	return st, json.NewDecoder(resp.Body).Decode(&st) == nil
}

// segments lists the URLs of the segments of the stream's first HLS media playlist, as
// served at base.
func segments(base, name string) ([]string, error) {
	master := base + "/live/" + name + "/master.m3u8"
	body, err := fetchOK(master)
	if err != nil {
		return nil, err
	}
	uris := playlistURIs(body)
	if len(uris) == 0 {
		return nil, fmt.Errorf("no media playlist in %s", master)
	}
	media := resolve(master, uris[0])
	body, err = fetchOK(media)
	if err != nil {
		return nil, err
	}
	var segs []string
	for _, u := range playlistURIs(body) {
		segs = append(segs, resolve(media, u))
	}
	return segs, nil
}

// newSegment reports a segment of the stream, served at base, that is not among seen and
// is served whole.
func newSegment(base, name string, seen map[string]bool) (string, bool) {
	segs, err := segments(base, name)
	if err != nil {
		return "", false
	}
	for i := len(segs) - 1; i >= 0; i-- {
		if seen[segs[i]] {
			break
		}
		if b, err := fetchOK(segs[i]); err == nil && len(b) > 0 {
			return segs[i], true
		}
	}
	return "", false
}

func fetchOK(u string) (string, error) {
	resp, err := http.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", u, resp.Status)
	}
	return string(b), nil
}

// playlistURIs are the URI lines of an HLS playlist.
func playlistURIs(playlist string) []string {
	var uris []string
	for line := range strings.Lines(playlist) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			uris = append(uris, line)
		}
	}
	return uris
}

func resolve(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}
