package builtin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

// streamExample is the Python example program of exec's streaming mode.
func streamExample(t *testing.T) string {
	t.Helper()
	needPrograms(t, "python3")
	cmd, err := streamExampleCmd()
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

// streamExampleCmd is exec's cmd for the example program.
func streamExampleCmd() (string, error) {
	p, err := filepath.Abs("../../examples/exec-stream/upper.py")
	return "python3 " + p, err
}

// TestExecStreamServesManyChunksPerProgram runs 40 chunks on 2 worker
// slots through the streaming example: every chunk's output is its
// records upper-cased, in order, and at most 2 programs were started; a
// chunk the program fails with {"error":...} fails (permanently, as it
// said) and the program goes on serving; a program that dies is replaced.
func TestExecStreamServesManyChunksPerProgram(t *testing.T) {
	cmd := streamExample(t)
	pool := builtin.NewExecPool()
	defer pool.Close()
	env, err := builtin.ExecEnv(os.Environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fn := builtin.Exec{Env: env, Pool: pool}
	args := map[string]string{"cmd": cmd, "mode": "stream"}
	chunk := func(i int) []string {
		ls := make([]string, 50+i)
		for j := range ls {
			ls[j] = fmt.Sprintf("chunk %d line %d é", i, j)
		}
		return ls
	}
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for slot := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := slot; i < 40; i += 2 {
				out, _, err := run(t, fn, args, lines(chunk(i)...))
				if err != nil {
					errs[i] = err
					continue
				}
				want := chunk(i)
				for j := range want {
					want[j] = strings.ToUpper(want[j])
				}
				if got := out.texts(); !slices.Equal(got, want) {
					errs[i] = fmt.Errorf("chunk %d: got %d lines (first %q), want %d (first %q)", i, len(got), first(got), len(want), want[0])
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := pool.Starts(); n < 1 || n > 2 {
		t.Errorf("%d programs started for 40 chunks on 2 slots, want 1 or 2", n)
	}
	before := pool.Starts()
	_, _, err = run(t, fn, args, lines("ok", "FAIL", "ok"))
	if err == nil || !functions.IsPermanent(err) || !strings.Contains(err.Error(), "a record says FAIL") {
		t.Errorf("a chunk the program fails: %v; want a permanent error with its reason", err)
	}
	if out, _, err := run(t, fn, args, lines("after")); err != nil || !slices.Equal(out.texts(), []string{"AFTER"}) || pool.Starts() != before {
		t.Errorf("after a failed chunk: %v, %d starts (was %d); want the same program to serve the next chunk", err, pool.Starts(), before)
	}
	// A program that breaks the protocol fails its chunk and is not
	// reused.
	bad := map[string]string{"cmd": "echo not json", "mode": "stream"}
	if _, _, err := run(t, fn, bad, lines("x")); err == nil || !strings.Contains(err.Error(), "not a protocol line") {
		t.Errorf("a program that breaks the protocol: %v; want a protocol error", err)
	}
	// The same with a chunk larger than a pipe's buffer: the program has
	// quit while fanout still writes, and the error is still the
	// protocol's, not the failed write's.
	many := make([]string, 50000)
	for i := range many {
		many[i] = "a record long enough to fill the pipe"
	}
	if _, _, err := run(t, fn, bad, lines(many...)); err == nil || !strings.Contains(err.Error(), "not a protocol line") {
		t.Errorf("a program that breaks the protocol on a large chunk: %v; want a protocol error", err)
	}
}

// TestExecStreamNeedsAPoolAndAKnownMode: mode=stream without a pool, and
// an unknown mode, fail with a clear error.
func TestExecStreamNeedsAPoolAndAKnownMode(t *testing.T) {
	if _, _, err := run(t, builtin.Exec{}, map[string]string{"cmd": "cat", "mode": "stream"}, lines("x")); err == nil || !strings.Contains(err.Error(), "exec pool") {
		t.Errorf("mode=stream without a pool: %v", err)
	}
	if _, err := (builtin.Exec{}).Prepare(functions.Params{Args: map[string]string{"cmd": "cat", "mode": "batch"}, Input: functions.LinesSchema}); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Errorf("mode=batch: %v, want an error naming mode", err)
	}
}

// TestExecStreamCancelKillsTheProgram: a chunk cancelled mid-way kills
// its program; the next chunk starts a new one.
func TestExecStreamCancelKillsTheProgram(t *testing.T) {
	cmd := streamExample(t)
	pool := builtin.NewExecPool()
	defer pool.Close()
	fn := builtin.Exec{Pool: pool, Env: []string{"PATH=" + os.Getenv("PATH")}}
	task, err := fn.Prepare(functions.Params{Args: map[string]string{"cmd": cmd, "mode": "stream"}, Input: functions.LinesSchema})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &blockingInput{sliceInput: lines("a"), reached: make(chan struct{}), ctx: ctx}
	done := make(chan error, 1)
	go func() { done <- task.Map(ctx, in, &sliceOutput{}) }()
	<-in.reached
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("cancelled chunk: %v, want context.Canceled", err)
	}
	if out, _, err := run(t, fn, map[string]string{"cmd": cmd, "mode": "stream"}, lines("b")); err != nil || !slices.Equal(out.texts(), []string{"B"}) || pool.Starts() != 2 {
		t.Errorf("after a cancelled chunk: %v, %d starts; want a new program (2 starts) serving it", err, pool.Starts())
	}
}

// blockingInput yields its records, then blocks until ctx ends.
type blockingInput struct {
	*sliceInput
	reached chan struct{}
	ctx     context.Context
	once    sync.Once
}

func (in *blockingInput) Next() (*functions.Record, error) {
	if in.i < len(in.recs) {
		return in.sliceInput.Next()
	}
	in.once.Do(func() { close(in.reached) })
	<-in.ctx.Done()
	return nil, in.ctx.Err()
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
