package ffmpeg

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// parseProgress reads FFmpeg's -progress stream, blocks of key=value lines each ending with
// progress=continue or progress=end, and calls emit once per block. It reads r to the end
// whatever it holds (over-long lines and unknown keys are skipped), so that FFmpeg never
// blocks on a full pipe. emit may be nil.
func parseProgress(r io.Reader, emit func(Progress)) {
	br := bufio.NewReaderSize(r, 4096)
	var p Progress
	skipping := false // inside a line longer than the buffer
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			skipping = true
			continue
		}
		if skipping {
			skipping = false
		} else if len(line) > 0 {
			if parseProgressLine(&p, line) {
				if emit != nil {
					emit(p)
				}
				p = Progress{}
			}
		}
		if err != nil {
			return
		}
	}
}

// parseProgressLine applies one key=value line to p and reports whether it ended a block.
func parseProgressLine(p *Progress, line []byte) bool {
	line = bytes.TrimRight(line, "\r\n")
	k, v, ok := bytes.Cut(line, []byte{'='})
	if !ok {
		return false
	}
	v = bytes.TrimSpace(v)
	switch string(bytes.TrimSpace(k)) {
	case "frame":
		p.Frame = parseInt(v)
	case "fps":
		p.FPS = parseFloat(v)
	case "out_time_us":
		p.OutTime = time.Duration(parseInt(v)) * time.Microsecond
	case "speed":
		p.Speed = parseFloat(bytes.TrimSuffix(v, []byte{'x'}))
	case "total_size":
		p.TotalSize = parseInt(v)
	case "dup_frames":
		p.DupFrames = parseInt(v)
	case "drop_frames":
		p.DropFrames = parseInt(v)
	case "progress":
		p.End = string(v) == "end"
		return true
	}
	return false
}

// parseInt and parseFloat return 0 for N/A and anything else that is not a number.
func parseInt(b []byte) int64 {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func parseFloat(b []byte) float64 {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f != f || f > 1e15 || f < -1e15 {
		return 0
	}
	return f
}
