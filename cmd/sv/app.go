package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; without it the
// module version or VCS revision from the build info is used.
var version string

// Exit codes, one meaning each.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130 // Ctrl-C (SIGINT); a SIGTERM, a service manager's stop, that ends cleanly exits 0
)

// env carries a run's standard streams and its signal-aware context to the subcommands,
// so that tests can run the CLI in-process with buffers.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	name    string          // "sv" and the running subcommand's name: what its messages begin with
	con     *console        // the running subcommand's stderr (term.go)
	unknown string          // a subcommand that does not exist
	given   map[string]bool // the flags the command line or SV_* variables set (applyConfig)
}

func envOf(c *cli.Context) *env { return c.App.Metadata["env"].(*env) }

// run is the whole CLI: it parses args, runs a subcommand and maps its error to an exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signalContext()
	defer stop()
	// A closed stdout pipe must be an error we can report and clean up after, not a
	// silent death by SIGPIPE in the middle of flushing tee files.
	signal.Ignore(syscall.SIGPIPE)

	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, name: "sv"}
	app := newApp(e)
	err := app.RunContext(ctx, args)
	if e.con != nil {
		e.con.close()
	}
	if e.unknown != "" {
		err = usagef("unknown command %q", e.unknown)
	}
	return exitCode(e, err)
}

func newApp(e *env) *cli.App {
	app := &cli.App{
		Name:                 "sv",
		Usage:                "live video from a browser: ingest, package, analyse, serve",
		UsageText:            "sv COMMAND [options] [arguments]",
		Description:          "Each command is one stage; chain them with pipes:\n\n   sv recv --tee received.webm | sv dash --out output/live/cam\n\nRun 'sv COMMAND --help' for a command's options and examples.",
		Version:              versionString(),
		HideVersion:          true,
		Reader:               e.stdin,
		Writer:               e.stdout,
		ErrWriter:            e.stderr,
		Metadata:             map[string]any{"env": e},
		EnableBashCompletion: false,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			if c.Command != nil && c.Command.Name != "" {
				e.name = "sv " + c.Command.Name
			}
			return usageError{err}
		},
		CommandNotFound: func(_ *cli.Context, name string) { e.unknown = name },
		Commands: []*cli.Command{
			recvCommand(),
			sendCommand(),
			dashCommand(),
			serveCommand(),
			framesCommand(),
			allCommand(),
			versionCommand(),
		},
	}
	for _, c := range app.Commands {
		if c.OnUsageError == nil {
			c.OnUsageError = app.OnUsageError
		}
		c.Before = setupConsole
	}
	return app
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of sv",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintf(envOf(c).stdout, "sv %s\n", versionString())
			return err
		},
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "(devel) " + rev
}

// usageError marks a mistake in the command line: exit code 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// hintError carries a suggestion printed after the error.
type hintError struct {
	err  error
	hint string
}

func (h hintError) Error() string { return h.err.Error() }
func (h hintError) Unwrap() error { return h.err }

func withHint(err error, hint string) error { return hintError{err, hint} }

func exitCode(e *env, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, context.Canceled) && e.ctx.Err() != nil {
		if errors.Is(context.Cause(e.ctx), errTerminated) {
			e.logger().Info("terminated")
			return exitOK
		}
		e.logger().Info("interrupted")
		return exitInterrupted
	}
	printError(e, err)
	var u usageError
	switch {
	case errors.As(err, &u):
		return exitUsage
	}
	return exitFailure
}

// errTerminated is the cause of a run's context ended by SIGTERM: a service manager
// stopping sv, which is no failure (exit 0) once sv has finished cleanly.
var errTerminated = errors.New("terminated")

// signalContext is a context ended by SIGINT or SIGTERM, its cause telling which.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGTERM {
				cancel(errTerminated)
			} else {
				cancel(context.Canceled)
			}
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(context.Canceled)
	}
}
