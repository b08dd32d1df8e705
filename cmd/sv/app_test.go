package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Exit codes and messages of the CLI, run in-process.
func TestExitCodes(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"sv", "version"}, exitOK, ""},
		{[]string{"sv", "send"}, exitUsage, "sv send: error: needs FILE (or - for stdin) and URL, got 0 arguments\n"},
		{[]string{"sv", "send", "--rate", "fast", "a", "ws://x/ingest/a"}, exitUsage, "sv send: error: --rate must be realtime or max, not \"fast\"\n"},
		{[]string{"sv", "recv", "--bogus"}, exitUsage, "sv recv: error: flag provided but not defined: -bogus\n"},
		{[]string{"sv", "recv", "--buffer", "-3"}, exitUsage, "sv recv: error: --buffer: \"-3\" is not a size like 16MiB\n"},
		{[]string{"sv", "frobnicate"}, exitUsage, "sv: error: unknown command \"frobnicate\"\n"},
		{[]string{"sv", "send", "/nonexistent.webm", "ws://127.0.0.1:1/ingest/a"}, exitFailure, "sv send: error: open /nonexistent.webm: no such file or directory\n"},
		{[]string{"sv", "recv", "--listen", "256.0.0.1:1"}, exitFailure, "sv recv: error: listen: "},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q, want it to start with %q", stderr.String(), tt.stderr)
			}
		})
	}
}

// sv recv refuses to write a binary stream to a terminal, with a hint.
func TestRecvRefusesTerminal(t *testing.T) {
	tty := openPTY(t)
	var stderr bytes.Buffer
	code := run([]string{"sv", "recv", "--listen", "127.0.0.1:0"}, nil, tty, &stderr)
	if code != exitFailure {
		t.Fatalf("exit code %d, want %d", code, exitFailure)
	}
	want := "sv recv: error: refusing to write a binary media stream to a terminal\nsv recv: hint: redirect stdout to a file or pipe it into sv dash or sv frames\n"
	if stderr.String() != want {
		t.Fatalf("stderr %q, want %q", stderr.String(), want)
	}
}

// openPTY returns the terminal side of a new pseudo-terminal.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}
