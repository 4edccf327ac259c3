// Command fanout runs a function over every record of the objects under a
// prefix, in parallel, and commits the result atomically. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Exit codes (README: "Exit codes").
const (
	exitOK          = 0   // the job committed (or the command did what it was asked)
	exitFailed      = 1   // the job failed, or the command could not do its work
	exitUsage       = 2   // a flag, argument or function name is wrong: nothing ran
	exitInterrupted = 130 // SIGINT or SIGTERM: stopped before the end, nothing lost
)

func main() {
	console := newConsole(os.Stderr)
	sig := newInterrupts(console)
	ctx, stop := sig.notify(context.Background())
	root := newRootCommand(sig, console)
	err := explain(root, root.ExecuteContext(ctx))
	stop()
	os.Exit(exitCode(err, sig, console))
}

// exitCode prints err (unless it was printed already) and returns the
// process's exit status.
func exitCode(err error, sig *interrupts, console *console) int {
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if sig.interrupted() && errors.Is(err, context.Canceled) {
		console.println("fanout: interrupted")
		return exitInterrupted
	}
	var ue usageError
	if errors.As(err, &ue) {
		console.println("fanout: " + err.Error())
		return exitUsage
	}
	console.println("fanout: " + err.Error())
	return exitFailed
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
