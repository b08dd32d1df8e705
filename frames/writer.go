package frames

import (
	"bufio"
	"fmt"
	"io"
)

// WriterOptions configures a Writer.
type WriterOptions struct {
	// EventsOnly leaves the frames out: only the events and the summary are written.
	EventsOnly bool
	// FlushEach writes every line through at once, for whoever follows the output live
	// (a pipe, the /events stream); without it lines are buffered until Flush.
	FlushEach bool
	// Name names the output in errors ("write NAME: ..."); "" means "output".
	Name string
}

// Writer writes records as JSON lines, one object a line in the schema of the package
// documentation. Its Write method is an emit function for Run. A Writer is not safe for
// concurrent use.
type Writer struct {
	w       *bufio.Writer
	o       WriterOptions
	line    []byte
	summary *Summary // the last summary written
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer, o WriterOptions) *Writer {
	if o.Name == "" {
		o.Name = "output"
	}
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), o: o, line: make([]byte, 0, 512)}
}

// Write writes rec as one line.
func (w *Writer) Write(rec Record) error {
	switch r := rec.(type) {
	case *Frame:
		if w.o.EventsOnly {
			return nil
		}
	case *Summary:
		s := *r
		w.summary = &s
	}
	w.line = append(rec.AppendJSON(w.line[:0]), '\n')
	if _, err := w.w.Write(w.line); err != nil {
		return fmt.Errorf("write %s: %w", w.o.Name, err)
	}
	if w.o.FlushEach {
		return w.Flush()
	}
	return nil
}

// Flush writes the buffered lines through.
func (w *Writer) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", w.o.Name, err)
	}
	return nil
}

// Summary returns the last summary written, or nil if none was.
func (w *Writer) Summary() *Summary { return w.summary }
