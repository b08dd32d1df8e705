package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Programs that Main builds, by name.
const (
	SV          = "sv"          // the CLI, github.com/svtool/sv/cmd/sv
	GorillaRecv = "gorillarecv" // the gorilla/websocket receiver of the ingest benchmarks
)

// programs are the packages of the programs, each built in the module it belongs to (sv
// in sv's own, with its go.mod and go.sum), relative to this folder.
var programs = map[string]struct{ module, pkg string }{
	SV:          {"../..", "./cmd/sv"},
	GorillaRecv: {".", "./cmd/gorillarecv"},
}

// bins are the programs Main built, by name.
var bins = map[string]string{}

// Main builds the programs named (SV, GorillaRecv) once into a temporary folder, runs the
// package's tests and benchmarks, removes the folder and exits with their status. Call it
// from TestMain.
func Main(m *testing.M, progs ...string) {
	os.Exit(run(m, progs)) //nolint:forbidigo // it is TestMain's end: go test exits with the status it gives
}

func run(m *testing.M, progs []string) int {
	dir, err := os.MkdirTemp("", "svlab-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, name := range progs {
		prog, ok := programs[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "lab: no program %q\n", name)
			return 1
		}
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", out, prog.pkg)
		cmd.Dir = filepath.Join(here(), prog.module)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "lab: go build %s in %s: %v\n", prog.pkg, cmd.Dir, err)
			return 1
		}
		bins[name] = out
	}
	return m.Run()
}

// Bin is the path of a program that Main has built.
func Bin(t testing.TB, name string) string {
	t.Helper()
	p, ok := bins[name]
	if !ok {
		t.Fatalf("%s was not built: TestMain must call lab.Main(m, ..., %q)", name, name)
	}
	return p
}

// NodeReceiverDir is the folder of the Node.js receiver of the ingest benchmarks
// (recv.js, and node_modules once scripts/deps.sh bench has installed its ws package).
func NodeReceiverDir() string { return filepath.Join(here(), "testdata", "node") }

// here is this package's folder.
func here() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}
