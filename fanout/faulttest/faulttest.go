// Package faulttest is what fanout's failure tests are built from: private
// Redis and MinIO processes that a test may kill, stop, flush and restart
// without disturbing other tests; an S3 proxy that holds or drops chosen
// requests of one worker so that a fault hits an exact window; a helper
// for the processes under test; and the oracle that checks a committed job
// (every input record exactly once, exactly one marker per chunk, nothing
// left in staging). It is imported only by tests and scripts/chaos.sh.
//
// Services that are missing make a test skip with a message naming
// scripts/test.sh, or fail under FANOUT_REQUIRE_SERVICES=1, as localstack
// does.
package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Missing skips the test (or fails it under FANOUT_REQUIRE_SERVICES=1)
// because what is not available.
func Missing(t testing.TB, what string) {
	t.Helper()
	msg := fmt.Sprintf("%s is not available: run the tests with scripts/test.sh (it installs and starts what they need)", what)
	if os.Getenv("FANOUT_REQUIRE_SERVICES") == "1" {
		t.Fatalf("FANOUT_REQUIRE_SERVICES=1 but %s", msg)
	}
	t.Skip(msg) // msg names scripts/test.sh
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Poll calls cond until it returns true, failing the test with what when
// timeout passes first. It backs off from 10 ms to 200 ms between calls.
func Poll(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Proc is one process under test (a fanout worker, a driver, a service),
// with its stdout and stderr kept in memory. It is killed when the test
// ends, and its output is logged then if the test failed.
type Proc struct {
	Name string
	cmd  *exec.Cmd

	stdout, stderr syncBuffer
	done           chan struct{}
	err            error
}

// Start starts bin with args and env (nil: the test's environment).
func Start(t testing.TB, name string, env []string, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	// A process group of its own, so that a test's SIGSTOP or SIGKILL
	// reaches only it (and what it started), never the test.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s (pid %d) stderr:\n%s", name, p.cmd.Process.Pid, tail(p.Stderr(), 16<<10))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// Pid is the process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stdout and Stderr return what the process wrote so far.
func (p *Proc) Stdout() string { return p.stdout.String() }
func (p *Proc) Stderr() string { return p.stderr.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, valid once Done is closed.
func (p *Proc) Err() error { return p.err }

// Signal sends sig to the process (not to its group).
func (p *Proc) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL to the process's group (SIGKILL ends a stopped
// process too). It does not wait.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// Wait waits for the process to exit and returns its exit error, failing
// the test after timeout.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v; stderr:\n%s", p.Name, timeout, tail(p.Stderr(), 8<<10))
		return nil
	}
}

// WaitLog waits until the process's stderr holds substr.
func (p *Proc) WaitLog(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	Poll(t, timeout, fmt.Sprintf("%s to log %q", p.Name, substr), func() bool {
		return strings.Contains(p.Stderr(), substr)
	})
}

// Run runs bin to completion and returns its stdout, stderr and exit error.
func Run(ctx context.Context, env []string, bin string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}
