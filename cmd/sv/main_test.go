package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svtool/sv/internal/testenv"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sv": main,
		"wspub": func() {
			if err := wspub(os.Args[1:], os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, "wspub:", err)
				os.Exit(1)
			}
		},
	})
}

// TestScripts runs the CLI scripts in testdata/script: real sv processes, piped together,
// talking over real sockets on loopback.
func TestScripts(t *testing.T) {
	testenv.Require(t, "ffmpeg", "ffprobe")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("TESTDATA", filepath.Join(root, "testdata"))
			e.Setenv("EXAMPLE_CONFIG", filepath.Join(root, "sv.example.yaml"))
			e.Setenv("CI", os.Getenv("CI"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport": cmdFreeport,
			"waitport": cmdWaitport,
			"waitfor":  cmdWaitfor,
			"rawconn":  cmdRawconn,
			"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
				d, err := time.ParseDuration(args[0])
				ts.Check(err)
				time.Sleep(d)
			},
		},
	})
}

// freeport VAR sets VAR to a free loopback address, host:port, and VAR_PORT to its port.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	addr := l.Addr().(*net.TCPAddr)
	ts.Check(l.Close())
	ts.Setenv(args[0], addr.String())
	ts.Setenv(args[0]+"_PORT", strconv.Itoa(addr.Port))
}

// waitDeadline is how long waitport and waitfor wait by default: long enough to catch
// only a hang, however busy the machine. How fast sv is, the benchmarks measure.
const waitDeadline = time.Minute

// waitport ADDR waits until something listens on ADDR.
func cmdWaitport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitport ADDR")
	}
	deadline := time.Now().Add(waitDeadline)
	for {
		c, err := net.DialTimeout("tcp", args[0], time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("nothing listens on %s: %v", args[0], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitfor [-t DUR] 'CONDITION' runs the shell command CONDITION (sh -c, in the script's
// directory and environment) every 50 ms until it succeeds, for DUR at most (a minute by
// default). Its last output becomes waitfor's stdout and stderr; when the time is up,
// waitfor fails and shows that output.
func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	limit := waitDeadline
	if len(args) == 3 && args[0] == "-t" {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		limit, args = d, args[2:]
	}
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfor [-t DUR] 'CONDITION'")
	}
	// The condition's output goes to files rather than to the script's log, which would
	// otherwise get every attempt's.
	dir, err := os.MkdirTemp("", "waitfor")
	ts.Check(err)
	defer os.RemoveAll(dir)
	stdout, stderr := filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	script := "{\n" + args[0] + "\n} >" + stdout + " 2>" + stderr
	start := time.Now()
	for {
		err := ts.Exec("sh", "-c", script)
		if err == nil || time.Since(start) > limit {
			out, _ := os.ReadFile(stdout)
			errOut, _ := os.ReadFile(stderr)
			if err != nil {
				ts.Fatalf("waited %s for %s: %v\n[stdout]\n%s[stderr]\n%s", limit, args[0], err, out, errOut)
			}
			ts.Stdout().Write(out)
			ts.Stderr().Write(errOut)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wspub [-H 'Key: Value']... URL STEP... is a scriptable WebSocket publisher for testing
// what sv does with publishers that misbehave. Steps: "send FILE" (one binary message),
// "chunks FILE" (the messages MediaRecorder made, as listed in FILE.chunks),
// "junk N" (a binary message of N bytes that are not media), "text STR", "sleep DUR",
// "await FILE" (until FILE exists), "close" (a normal close, then wait for the server's),
// "wait" (until the server closes).
// It prints "refused STATUS BODY" when the upgrade is refused, "closed CODE REASON" when the
// server closes, and "ok" when the server went on accepting to the end of the steps.
func wspub(args []string, out io.Writer) error {
	h := http.Header{}
	for len(args) >= 2 && args[0] == "-H" {
		k, v, _ := strings.Cut(args[1], ":")
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		args = args[2:]
	}
	if len(args) < 1 {
		return errors.New("usage: wspub [-H 'K: V']... URL STEP...")
	}
	var status int
	var body string
	d := ws.Dialer{
		Timeout: waitDeadline,
		Header:  ws.HandshakeHeaderHTTP(h),
		OnStatusError: func(st int, _ []byte, resp io.Reader) {
			status = st
			r, err := http.ReadResponse(bufio.NewReader(resp), nil)
			if err == nil {
				b, _ := io.ReadAll(r.Body)
				body = strings.TrimSpace(string(b))
			}
		},
	}
	conn, br, _, err := d.Dial(context.Background(), args[0])
	if status != 0 {
		fmt.Fprintf(out, "refused %d %s\n", status, body)
		return nil
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	var src io.Reader = conn
	if br != nil {
		src = io.MultiReader(br, conn)
	}
	closed := make(chan string, 1)
	go func() {
		for {
			hdr, err := ws.ReadHeader(src)
			if err != nil {
				closed <- "eof " + err.Error()
				return
			}
			payload := make([]byte, hdr.Length)
			if _, err := io.ReadFull(src, payload); err != nil {
				closed <- "eof " + err.Error()
				return
			}
			if hdr.OpCode == ws.OpClose {
				code, reason := ws.ParseCloseFrameData(payload)
				closed <- fmt.Sprintf("closed %d %s", code, reason)
				return
			}
		}
	}()
	write := func(op ws.OpCode, p []byte) bool {
		err := wsutil.WriteClientMessage(conn, op, p)
		return err == nil
	}
	for i := 1; i < len(args); i++ {
		step := args[i]
		arg := ""
		if step != "close" && step != "wait" {
			i++
			if i >= len(args) {
				return fmt.Errorf("%s needs an argument", step)
			}
			arg = args[i]
		}
		ok := true
		switch step {
		case "send":
			b, err := os.ReadFile(arg)
			if err != nil {
				return err
			}
			ok = write(ws.OpBinary, b)
		case "chunks":
			// The recording's own MediaRecorder chunks, one message each, from FILE.chunks.
			b, err := os.ReadFile(arg)
			if err != nil {
				return err
			}
			sizes, err := os.ReadFile(arg + ".chunks")
			if err != nil {
				return err
			}
			for _, line := range strings.Split(string(sizes), "\n") {
				f := strings.Fields(line)
				if len(f) == 0 || strings.HasPrefix(f[0], "#") {
					continue
				}
				n, err := strconv.Atoi(f[0])
				if err != nil || n > len(b) {
					return fmt.Errorf("%s.chunks: bad size %q", arg, f[0])
				}
				if ok = write(ws.OpBinary, b[:n]); !ok {
					break
				}
				b = b[n:]
			}
			if ok && len(b) > 0 {
				return fmt.Errorf("%s.chunks does not add up to the file: %d bytes left", arg, len(b))
			}
		case "junk":
			n, err := strconv.Atoi(arg)
			if err != nil {
				return err
			}
			ok = write(ws.OpBinary, bytes.Repeat([]byte{0x42}, n))
		case "text":
			ok = write(ws.OpText, []byte(arg))
		case "sleep":
			d, err := time.ParseDuration(arg)
			if err != nil {
				return err
			}
			select {
			case <-time.After(d):
			case msg := <-closed:
				fmt.Fprintln(out, msg)
				return nil
			}
		case "await":
			msg, err := awaitFile(arg, closed)
			if err != nil {
				return err
			}
			if msg != "" {
				fmt.Fprintln(out, msg)
				return nil
			}
		case "close":
			if !write(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")) {
				return errors.New("cannot send the close frame")
			}
			fallthrough
		case "wait":
			select {
			case msg := <-closed:
				fmt.Fprintln(out, msg)
			case <-time.After(waitDeadline):
				return fmt.Errorf("the server did not close within %s", waitDeadline)
			}
			return nil
		default:
			return fmt.Errorf("unknown step %q", step)
		}
		if !ok {
			select {
			case msg := <-closed:
				fmt.Fprintln(out, msg)
			case <-time.After(waitDeadline):
				fmt.Fprintln(out, "write failed")
			}
			return nil
		}
	}
	fmt.Fprintln(out, "ok")
	return nil
}

// awaitFile waits until a file exists at path, or the server closes (it returns what
// closed says, then).
func awaitFile(path string, closed <-chan string) (string, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitDeadline)
	for {
		if _, err := os.Stat(path); err == nil {
			return "", nil
		}
		select {
		case <-tick.C:
		case <-deadline:
			return "", fmt.Errorf("no %s after %s", path, waitDeadline)
		case msg := <-closed:
			return msg, nil
		}
	}
}

// rawconn ADDR DUR opens a TCP connection, sends nothing, and prints how long the server took
// to close it ("closed by server after 300ms"), or "still open" after DUR.
func cmdRawconn(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: rawconn ADDR DUR")
	}
	d, err := time.ParseDuration(args[1])
	ts.Check(err)
	c, err := net.Dial("tcp", args[0])
	ts.Check(err)
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	_, err = io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		fmt.Fprintln(ts.Stdout(), "still open")
		return
	}
	fmt.Fprintf(ts.Stdout(), "closed by server after %s\n", time.Since(start).Round(100*time.Millisecond))
}
