package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
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
	again := lab.StartAllOn(t, sv, node.Addr)

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

// recordings lists the recordings of stream in the output folder out, oldest first,
// without their seekable copies.
func recordings(t *testing.T, out, stream string) []string {
	t.Helper()
	dir := filepath.Join(out, "recordings", stream)
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var recs []string
	for _, e := range entries {
		if !strings.Contains(e.Name(), ".seekable.") {
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
