// Package cli is fanout's command line as a library: Main gives a Go
// program the complete fanout CLI (run, submit, work, wait, status, jobs,
// resume, redrive, serve, watch, infer, profile, functions, demo and the
// others `fanout --help` lists) over the functions the program registers.
// cmd/fanout is Main over builtin.Registry(); a program with functions of
// its own adds them to that registry:
//
//	func main() {
//		reg := builtin.Registry()
//		reg.Register(myFunction{})
//		cli.Main(reg)
//	}
//
// Its `work` processes then run the built-in functions and the
// program's own, against the same Redis and bucket as any other fanout
// binary. The program speaks in its own name (the executable's, or
// Options.Name): "myprog: unknown command ...; see myprog --help".
//
// Main is the program's main: it reads the environment variables the
// fanout command reads (FANOUT_REDIS_URL, FANOUT_REDIS_PREFIX, the S3
// settings of cmd/internal/envconfig, FANOUT_SPEC_KEY, ...: README,
// "Environment"), parses os.Args, runs the command and exits the process
// with its exit status. This package lives under cmd/ because it is the
// layer that reads the environment and wires the vendor SDKs; the
// libraries it drives (fanout, objstore, functions, manifest) read no
// environment variable.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

// Exit codes (README: "Exit codes").
const (
	exitOK          = 0   // the job committed (or the command did what it was asked)
	exitFailed      = 1   // the job failed, or the command could not do its work
	exitUsage       = 2   // a flag, argument or function name is wrong: nothing ran
	exitInterrupted = 130 // SIGINT or SIGTERM: stopped before the end, nothing lost
)

// Options are Main's settings beside the registry.
type Options struct {
	// Name is the program's name in its messages, usage lines, help and
	// --version ("accesslog: ...", "see accesslog --help"). Default: the
	// base name of os.Args[0] (without .exe), so that a binary says the
	// name it was built and called with.
	Name string
}

// Main runs the fanout command line of os.Args over the functions of reg
// (builtin.Registry() and the program's own) and exits the process: 0
// when the job committed or the command did its work, 1 when it failed, 2
// for a usage error, 130 when interrupted (README, "Exit codes"). A nil
// reg means builtin.Registry(). At most one Options may follow. Main does
// not return.
func Main(reg *functions.Registry, opts ...Options) {
	if reg == nil {
		reg = builtin.Registry()
	}
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	prog := programName(o.Name, os.Args)
	console := newConsole(os.Stderr)
	sig := newInterrupts(console, prog)
	ctx, stop := sig.notify(context.Background())
	root := newRootCommand(sig, console, reg, prog)
	err := explain(root, root.ExecuteContext(ctx))
	stop()
	os.Exit(exitCode(err, sig, console, prog))
}

// programName is name, else the base name of args[0] without .exe, else
// "fanout".
func programName(name string, args []string) string {
	if name != "" {
		return name
	}
	if len(args) > 0 {
		if b := strings.TrimSuffix(filepath.Base(args[0]), ".exe"); b != "" && b != "." && b != string(filepath.Separator) {
			return b
		}
	}
	return "fanout"
}

// exitCode prints err (unless it was printed already) and returns the
// process's exit status.
func exitCode(err error, sig *interrupts, console *console, prog string) int {
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if sig.interrupted() && errors.Is(err, context.Canceled) {
		console.println(prog + ": interrupted")
		return exitInterrupted
	}
	var ue usageError
	if errors.As(err, &ue) {
		console.println(prog + ": " + errorText(err))
		return exitUsage
	}
	console.println(prog + ": " + errorText(err))
	return exitFailed
}

// errorText is err's message as a person reads it (userText).
func errorText(err error) string {
	return userText(err.Error())
}

// internalPrefix matches the package prefixes the libraries put on their
// errors ("codec: ", "miniostore: ", the engine's sentinels' "fanout: "),
// at the start of a message or of a part of it: they name code, not what
// failed, and a message of three layers repeated them.
var internalPrefix = regexp.MustCompile(`(^|: |; |\()(?:(?:fanout|codec|miniostore|s3store|filestore|objstore|s3compat|bucketurl|redisqueue|memqueue|manifest): )+`)

// userText is a failure's message without the libraries' package
// prefixes, which the program's name replaces: what failed, on what
// object, and what to do stay. What a program run by exec wrote to its
// stderr (after "stderr: " or "stderr (last 4 KiB): ") is its own text
// and stays as it wrote it.
func userText(msg string) string {
	head, tail := msg, ""
	if i := strings.Index(msg, "stderr: "); i >= 0 {
		head, tail = msg[:i], msg[i:]
	} else if i := strings.Index(msg, "stderr (last "); i >= 0 {
		head, tail = msg[:i], msg[i:]
	}
	return internalPrefix.ReplaceAllString(head, "$1") + tail
}

// exitError carries an exit status whose message was already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}
