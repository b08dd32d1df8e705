package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/svtool/sv/internal/lab"
)

// The ingest benchmarks measure what receiving one published stream costs sv recv and the
// two receivers people commonly write instead: gorilla/websocket's ReadMessage loop in Go,
// and the ws package in Node.js. Each is a separate process on loopback that writes every
// message to its stdout, as a receiver piping into FFmpeg's stdin does; the benchmark is
// the publisher (masked frames, as a browser sends) and reads that stdout, checking every
// byte. Run scripts/deps.sh bench first for the Node receiver.
//
//	go test -run '^$' -bench IngestThroughput -benchtime 2000x ./bench
//	go test -run '^$' -bench IngestRealtime -benchtime 1x ./bench
//
// IngestRealtime streams for SV_BENCH_INGEST_RUN (default 20s) per receiver.

var ingestReceivers = []string{"sv", "gorilla", "node"}

// BenchmarkIngestThroughput: one op is one 64 KiB message sent and read back from the
// receiver's stdout, as fast as the receiver takes them. cpu-us/msg is the receiver's own
// CPU time, which is what an ingest server running many streams runs out of first.
func BenchmarkIngestThroughput(b *testing.B) {
	const size = 64 << 10
	const distinct = 16
	pat := newIngestPattern(distinct * size)
	frames := make([][]byte, distinct) // masked once: the publisher's cost is not measured
	for i := range frames {
		frames[i] = clientFrame(ws.OpBinary, slices.Clone(pat[i*size:(i+1)*size]), [4]byte{byte(i), 0x5a, 0xc3, 0x17})
	}
	for _, name := range ingestReceivers {
		b.Run(name, func(b *testing.B) {
			rcv := startIngestReceiver(b, name)
			pub := dialIngest(b, rcv.url)
			want := int64(b.N) * size
			out := drainIngest(rcv.stdout, pat, want, nil)
			cpu0, cpuOK := rcv.cpuTime(b)

			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := pub.conn.Write(frames[i%distinct]); err != nil {
					b.Fatalf("send message %d: %v", i, err)
				}
			}
			out.wait(b, time.Minute)
			b.StopTimer()

			if cpu1, ok := rcv.cpuTime(b); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-us/msg")
			}
			pub.close(b)
			rcv.wait(b)
			out.check(b)
		})
	}
}

// BenchmarkIngestRealtime streams like a browser does, once per run whatever b.N is: about
// 1 Mbit/s, a message every 120 ms whose size varies by up to 30% around 15 KB, the way a
// recorder's chunks follow the picture. What matters here is not throughput but what one
// live stream costs the receiver (cpu-%, rss-MB) and how long each message takes from the
// publisher's write to the moment the receiver's reader has its last byte (handoff-*-us):
// the delay the receiver adds in front of FFmpeg.
func BenchmarkIngestRealtime(b *testing.B) {
	run := 20 * time.Second
	if s := os.Getenv("SV_BENCH_INGEST_RUN"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("SV_BENCH_INGEST_RUN=%q: want a duration such as 20s", s)
		}
		run = d
	}
	const every = 120 * time.Millisecond
	const mean = 15000
	n := max(1, int(run/every))
	sizes := make([]int, n)
	ends := make([]int64, n) // stream offset just past each message
	rng := rand.New(rand.NewPCG(1, 2))
	var total int64
	for i := range sizes {
		sizes[i] = mean*7/10 + rng.IntN(mean*6/10+1)
		total += int64(sizes[i])
		ends[i] = total
	}
	pat := newIngestPattern(1 << 20)

	for _, name := range ingestReceivers {
		b.Run(name, func(b *testing.B) {
			rcv := startIngestReceiver(b, name)
			pub := dialIngest(b, rcv.url)
			// Times are offsets from epoch, so that the reader can take them from the
			// sender without a lock; each is stored before the message is written, so
			// it is there by the time its last byte comes back.
			epoch := time.Now()
			sentAt := make([]atomic.Int64, n)
			handoff := make([]time.Duration, n)
			next := 0
			out := drainIngest(rcv.stdout, pat, total, func(got int64) {
				now := time.Since(epoch)
				for next < n && got >= ends[next] {
					handoff[next] = now - time.Duration(sentAt[next].Load())
					next++
				}
			})
			payload := make([]byte, 0, mean*2)
			cpu0, cpuOK := rcv.cpuTime(b)

			b.ResetTimer()
			start := time.Now()
			var off int64
			for i, size := range sizes {
				payload = payload[:size]
				pat.fill(payload, off)
				off += int64(size)
				frame := clientFrame(ws.OpBinary, payload, ws.NewMask())
				time.Sleep(time.Until(start.Add(time.Duration(i) * every)))
				sentAt[i].Store(int64(time.Since(epoch)))
				if _, err := pub.conn.Write(frame); err != nil {
					b.Fatalf("send message %d: %v", i, err)
				}
			}
			out.wait(b, 10*time.Second)
			elapsed := time.Since(start)
			b.StopTimer()

			if cpu1, ok := rcv.cpuTime(b); ok && cpuOK {
				b.ReportMetric(100*float64(cpu1-cpu0)/float64(elapsed), "cpu-%")
			}
			if rss, ok := rcv.peakRSS(b); ok {
				b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
			}
			pub.close(b)
			rcv.wait(b)
			out.check(b)

			slices.Sort(handoff)
			us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
			b.ReportMetric(us(handoff[n/2]), "handoff-p50-us")
			b.ReportMetric(us(handoff[(n*99+99)/100-1]), "handoff-p99-us")
			b.ReportMetric(us(handoff[n-1]), "handoff-max-us")
		})
	}
}

// ingestReceiver is a receiver process listening for one publisher.
type ingestReceiver struct {
	name string
	url  string
	*lab.Child
	stdout *os.File // the read end of its stdout
}

// startIngestReceiver starts the receiver called name on a free loopback port and waits
// until it listens. The process is stopped, if it is still running, when the benchmark ends.
func startIngestReceiver(b *testing.B, name string) *ingestReceiver {
	b.Helper()
	addr := lab.FreeAddr(b)
	var cmd *exec.Cmd
	switch name {
	case "sv":
		cmd = exec.Command(lab.Bin(b, lab.SV), "recv", "--quiet", "--listen", addr)
	case "gorilla":
		cmd = exec.Command(lab.Bin(b, lab.GorillaRecv), addr)
	case "node":
		node, err := exec.LookPath("node")
		if err != nil {
			ingestMissing(b, "node is not installed: run scripts/deps.sh bench")
		}
		script := filepath.Join(lab.NodeReceiverDir(), "recv.js")
		if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "ws", "package.json")); err != nil {
			ingestMissing(b, "the Node receiver's ws package is not installed: run scripts/deps.sh bench")
		}
		cmd = exec.Command(node, script, addr)
	default:
		b.Fatalf("unknown receiver %q", name)
	}

	// A pipe of our own rather than StdoutPipe: the benchmark reads it after the process
	// has been waited for, which StdoutPipe does not allow.
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pr.Close() }) // after the process has been stopped
	r := &ingestReceiver{name: name, url: "ws://" + addr + "/ingest/bench", stdout: pr}
	cmd.Stdout = pw
	r.Child = lab.Start(b, cmd)
	pw.Close()
	lab.WaitListen(b, addr)
	return r
}

// ingestMissing skips a benchmark whose tool is missing, except in CI (CI=true), where a
// missing tool must not pass for a result.
func ingestMissing(b *testing.B, msg string) {
	b.Helper()
	if os.Getenv("CI") == "true" {
		b.Fatal(msg)
	}
	b.Skip(msg)
}

// wait waits for the receiver to exit on its own, as it does once its publisher has
// closed, and fails unless it exited 0.
func (r *ingestReceiver) wait(b *testing.B) {
	b.Helper()
	if !r.Wait(30 * time.Second) {
		b.Fatalf("%s receiver still running 30s after its publisher closed", r.name)
	}
	if err := r.Err(); err != nil {
		b.Fatalf("%s receiver: %v", r.name, err)
	}
}

// cpuTime is the CPU time that the process's threads have used so far (lab.ThreadsCPU).
// Go's and Node's threads do not exit. ok is false where there is no /proc.
func (r *ingestReceiver) cpuTime(b *testing.B) (d time.Duration, ok bool) {
	b.Helper()
	if runtime.GOOS != "linux" {
		return 0, false
	}
	d, err := lab.ThreadsCPU(r.Pid())
	if err != nil {
		b.Fatalf("%s receiver: %v", r.name, err)
	}
	return d, true
}

// peakRSS is the most resident memory the process has used, VmHWM from /proc/PID/status.
func (r *ingestReceiver) peakRSS(b *testing.B) (n int64, ok bool) {
	b.Helper()
	if runtime.GOOS != "linux" {
		return 0, false
	}
	n, err := lab.PeakRSS(r.Pid())
	if err != nil {
		b.Fatalf("%s receiver: %v", r.name, err)
	}
	return n, true
}

// ingestPublisher is a WebSocket client that publishes the way a browser does.
type ingestPublisher struct {
	conn net.Conn
	src  io.Reader // the server's frames
}

func dialIngest(b *testing.B, url string) *ingestPublisher {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, url)
	if err != nil {
		b.Fatalf("connect to %s: %v", url, err)
	}
	b.Cleanup(func() { conn.Close() })
	// The bufio.Reader that Dial may return can already hold the server's first frames.
	var src io.Reader = conn
	if br != nil {
		src = io.MultiReader(br, conn)
	}
	return &ingestPublisher{conn: conn, src: src}
}

// close ends the stream with a normal close and waits for the server's close frame, as a
// browser does before it closes the connection: a receiver may wait for either.
func (p *ingestPublisher) close(b *testing.B) {
	b.Helper()
	p.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := p.conn.Write(clientFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""), ws.NewMask())); err != nil {
		b.Fatalf("send close: %v", err)
	}
	for {
		h, err := ws.ReadHeader(p.src)
		if err != nil {
			b.Fatalf("waiting for the receiver's close frame: %v", err)
		}
		body := make([]byte, h.Length)
		if _, err := io.ReadFull(p.src, body); err != nil {
			b.Fatalf("waiting for the receiver's close frame: %v", err)
		}
		if h.OpCode == ws.OpClose {
			if code, reason := ws.ParseCloseFrameData(body); code != ws.StatusNormalClosure {
				b.Fatalf("receiver closed with %d %s", code, reason)
			}
			p.conn.Close()
			return
		}
	}
}

// clientFrame is payload as one masked frame, ready for a single write as a browser makes
// it: a receiver woken by a header alone would pay for two reads. It masks payload in place.
func clientFrame(op ws.OpCode, payload []byte, mask [4]byte) []byte {
	frame, err := ws.CompileFrame(ws.MaskFrameInPlaceWith(ws.NewFrame(op, true, payload), mask))
	if err != nil {
		panic(err) // a frame built here is always valid
	}
	return frame
}

// ingestPattern is the stream the publisher sends: pseudo-random bytes repeated, so that
// the reader can check every byte it gets back without keeping what was sent. It starts
// with an EBML header's magic, which is all sv recv looks at to accept a WebM stream.
type ingestPattern []byte

func newIngestPattern(n int) ingestPattern {
	p := make([]byte, n)
	rand.NewChaCha8([32]byte{'s', 'v'}).Read(p)
	copy(p, []byte{0x1A, 0x45, 0xDF, 0xA3})
	return p
}

// fill sets dst to the stream's bytes from offset off.
func (p ingestPattern) fill(dst []byte, off int64) {
	for i := int(off % int64(len(p))); len(dst) > 0; i = 0 {
		dst = dst[copy(dst, p[i:]):]
	}
}

// matches reports whether got is the stream's bytes from offset off.
func (p ingestPattern) matches(got []byte, off int64) bool {
	for i := int(off % int64(len(p))); len(got) > 0; i = 0 {
		n := min(len(got), len(p)-i)
		if !bytes.Equal(got[:n], p[i:i+n]) {
			return false
		}
		got = got[n:]
	}
	return true
}

// ingestOutput reads a receiver's stdout to its end, checking it against the stream sent.
type ingestOutput struct {
	want    int64
	got     atomic.Int64
	arrived chan struct{}         // closed once want bytes have been read
	done    chan struct{}         // closed at the end of stdout
	failed  atomic.Pointer[error] // the first corruption or read error
}

func (o *ingestOutput) fail(err error) { o.failed.CompareAndSwap(nil, &err) }

func (o *ingestOutput) err() error {
	if p := o.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// drainIngest starts reading stdout; after every read, onRead (when not nil) is told how
// many bytes have arrived so far.
func drainIngest(stdout io.Reader, pat ingestPattern, want int64, onRead func(got int64)) *ingestOutput {
	o := &ingestOutput{want: want, arrived: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		buf := make([]byte, 256<<10)
		var got int64
		for {
			n, err := stdout.Read(buf)
			if n > 0 {
				if o.failed.Load() == nil && !pat.matches(buf[:n], got) {
					o.fail(fmt.Errorf("bytes %d to %d differ from what was sent", got, got+int64(n)))
				}
				got += int64(n)
				o.got.Store(got)
				if onRead != nil {
					onRead(got)
				}
				if got >= want && got-int64(n) < want {
					close(o.arrived)
				}
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, os.ErrClosed) {
					o.fail(fmt.Errorf("read stdout: %w", err))
				}
				return
			}
		}
	}()
	return o
}

// wait waits until every byte sent has come back, failing if that does not happen within
// timeout or if what came back is not what was sent.
func (o *ingestOutput) wait(b *testing.B, timeout time.Duration) {
	b.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-o.arrived:
	case <-o.done:
		if o.got.Load() < o.want {
			b.Fatalf("receiver's stdout ended after %d of %d bytes", o.got.Load(), o.want)
		}
	case <-t.C:
		b.Fatalf("receiver gave back %d of %d bytes within %s", o.got.Load(), o.want, timeout)
	}
	if err := o.err(); err != nil {
		b.Fatal(err)
	}
}

// check waits for the end of stdout, once the receiver has exited, and fails unless it held
// exactly the stream sent.
func (o *ingestOutput) check(b *testing.B) {
	b.Helper()
	select {
	case <-o.done:
	case <-time.After(10 * time.Second):
		b.Fatal("receiver's stdout still open after it exited")
	}
	if err := o.err(); err != nil {
		b.Fatal(err)
	}
	if got := o.got.Load(); got != o.want {
		b.Fatalf("receiver gave back %d bytes, want %d", got, o.want)
	}
}
