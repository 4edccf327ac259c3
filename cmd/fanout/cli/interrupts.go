package cli

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// interrupts turns SIGINT and SIGTERM into an orderly stop: the first
// cancels the command's context (workers stop claiming, running chunks
// get a short grace and are then released to the queue) and the command
// prints what happened and how to resume; a second one exits at once with
// status 130, printing the resume hint: the chunks it held come back when
// their leases expire, and every finished chunk keeps its marker, so
// nothing is lost either way.
type interrupts struct {
	console *console
	prog    string // the program's name, for its notices

	mu       sync.Mutex
	count    int
	stopping string   // what the first signal does, for its notice
	resume   []string // commands that resume, for the notice of a second signal
	cancel   context.CancelFunc
}

func newInterrupts(c *console, prog string) *interrupts {
	return &interrupts{console: c, prog: prog,
		stopping: "stopping (press Ctrl-C again to exit at once)"}
}

// notify returns a context that the first signal cancels, and a function
// that stops listening.
func (s *interrupts) notify(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-ch:
				s.handle(sig)
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

func (s *interrupts) handle(sig os.Signal) {
	s.mu.Lock()
	s.count++
	n, stopping, resume, cancel := s.count, s.stopping, s.resume, s.cancel
	s.mu.Unlock()
	name := "interrupt"
	if sig == syscall.SIGTERM {
		name = "SIGTERM"
	}
	if n == 1 {
		s.console.println(s.prog + ": " + name + ": " + stopping)
		cancel()
		return
	}
	msg := s.prog + ": " + name + " again: exiting now; the chunks still running go back to the queue when their leases expire, finished chunks keep their markers"
	if len(resume) > 0 {
		msg += "\n" + resumeHint(resume)
	}
	s.console.endStatus()
	s.console.println(msg)
	os.Exit(exitInterrupted)
}

// interrupted reports whether a signal arrived.
func (s *interrupts) interrupted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count > 0
}

// setStopping sets what the first signal's notice says will happen.
func (s *interrupts) setStopping(msg string) {
	s.mu.Lock()
	s.stopping = msg
	s.mu.Unlock()
}

// setResume sets the commands that resume the running command's work.
func (s *interrupts) setResume(cmds ...string) {
	s.mu.Lock()
	s.resume = cmds
	s.mu.Unlock()
}

// resumeHint renders the commands that resume: the first one, and the
// others as alternatives.
func resumeHint(cmds []string) string {
	var b strings.Builder
	for i, c := range cmds {
		if i == 0 {
			b.WriteString("resume with: " + c)
		} else {
			b.WriteString("\n         or: " + c)
		}
	}
	return b.String()
}

// shellQuote quotes args so that a POSIX shell reads them back unchanged.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@%+") == "" {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
