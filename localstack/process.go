package localstack

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

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
