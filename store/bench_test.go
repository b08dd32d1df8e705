//go:build unix

package store_test

import (
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/svtool/sv/store"
)

// BenchmarkUpload uploads one recording to versitygw on loopback, checked and marked, as
// sv all does: MB/s, and the CPU time sv spends per MB (user and system, of this process;
// the server's own is not counted).
func BenchmarkUpload(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{
		{"8MiB-whole", 8 << 20},
		{"64MiB-parts", 64 << 20}, // four parts of store.DefaultPartSize
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv, _ := startS3(b)
			out := b.TempDir()
			p := recording(b, out, "cam", "20260101T000000Z.webm", bc.size)
			s := newStore(b, srv, out, store.Options{Log: slog.New(slog.DiscardHandler)})
			run(b, s)
			b.SetBytes(int64(bc.size))
			cpu0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				os.Remove(p + store.MarkerSuffix)
				s.Put(p)
				for {
					if _, err := os.Stat(p + store.MarkerSuffix); err == nil && s.Stats().Queued == 0 {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
			b.StopTimer()
			mb := float64(bc.size) * float64(b.N) / 1e6
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/mb, "cpu-ms/MB")
			if st := s.Stats(); st.Failures != 0 {
				b.Fatalf("%d uploads failed", st.Failures)
			}
		})
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
