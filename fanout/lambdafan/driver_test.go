package lambdafan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/lambdafan"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// goroutineLambda stands in for Lambda: each accepted invocation runs the
// engine's worker loop in a goroutine, as the bootstrap does. It throttles
// every third call and loses the second accepted one and every fourth
// after it (it never runs): a job that needs few invocations (a worker
// publishes a chunk while it runs the next, so one invocation gets
// through many) still meets a lost one.
type goroutineLambda struct {
	eng      *fanout.Engine
	ctx      context.Context
	wg       sync.WaitGroup
	calls    atomic.Int64
	accepted atomic.Int64
	live     atomic.Int64
	maxLive  atomic.Int64
	ran      atomic.Int64
}

func (g *goroutineLambda) InvokeAsync(_ context.Context, function string, payload []byte) error {
	n := g.calls.Add(1)
	if function != "worker" {
		return fmt.Errorf("%w: %s", lambdafan.ErrFunctionNotFound, function)
	}
	if n%3 == 0 {
		return fmt.Errorf("%w: 429 TooManyRequestsException", lambdafan.ErrThrottled)
	}
	req, ok, err := lambdafan.DecodeRequest(payload)
	if !ok || err != nil || req.Fanout != lambdafan.OpWork {
		return fmt.Errorf("bad payload %s: %v", payload, err)
	}
	if g.accepted.Add(1)%4 == 2 {
		return nil // accepted, then lost: it never starts
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		live := g.live.Add(1)
		defer g.live.Add(-1)
		for {
			m := g.maxLive.Load()
			if live <= m || g.maxLive.CompareAndSwap(m, live) {
				break
			}
		}
		// A short life: each invocation claims for 40ms, so it manages a
		// few chunks at most, and finishes what it claimed, as the
		// bootstrap does before its Lambda deadline. (Cancelling the
		// invocation itself after 40ms, as this once did, cancelled every
		// attempt that took longer: on a loaded machine a reduce task
		// always did, and the job never committed.)
		ctx, cancel := context.WithTimeout(g.ctx, 30*time.Second)
		defer cancel()
		g.eng.Work(ctx, fanout.WorkOptions{Concurrency: req.Concurrency, Job: req.Job, ExitWhenIdle: true,
			Deadline: time.Now().Add(40 * time.Millisecond), Grace: 20 * time.Millisecond})
		g.ran.Add(1)
	}()
	return nil
}

func TestDriverThrottledAndLostInvocations(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	var total int
	for f := range 12 {
		var b strings.Builder
		for i := range 50 + f {
			fmt.Fprintf(&b, "file %d line %d\n", f, i)
			total++
		}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("part-%02d.txt", f)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	q := memqueue.New(memqueue.Config{})
	eng, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return b, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := eng.Submit(ctx, manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "count", Output: "file://" + out + "/",
		OutputFormat: "jsonl", ChunkBytes: 600, MaxObjectsPerChunk: 1, Lease: manifest.Duration(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	fake := &goroutineLambda{eng: eng, ctx: ctx}
	defer fake.wg.Wait()
	const n = 3
	d, err := lambdafan.New(lambdafan.Config{Invoker: fake, Function: "worker", Engine: eng, Admin: q, Concurrency: n,
		StartGrace: 300 * time.Millisecond, Poll: 20 * time.Millisecond, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Run(ctx, info.Manifest.Spec.Output, info.Job)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != fanout.StateCommitted || res.RecordsIn != int64(total) {
		t.Fatalf("result %+v: want committed with %d records in", res, total)
	}
	if info.Manifest.Chunks < 2*n {
		t.Fatalf("only %d chunks: the test needs more than %d", info.Manifest.Chunks, 2*n)
	}
	st := d.Stats()
	t.Logf("%d chunks; %d invocations sent, %d throttled, %d lost, %d ran, at most %d at once",
		info.Manifest.Chunks, st.Invoked.Load(), st.Throttled.Load(), (fake.accepted.Load()+2)/4, fake.ran.Load(), fake.maxLive.Load())
	if st.Throttled.Load() == 0 || fake.accepted.Load() < 2 {
		t.Errorf("the fake never throttled or lost an invocation: the test proves nothing")
	}
	if got := fake.maxLive.Load(); got > n+1 {
		t.Errorf("up to %d invocations ran at once, want at most %d (+1 while one hands over)", got, n)
	}
}

func TestDriverFunctionNotFound(t *testing.T) {
	q := memqueue.New(memqueue.Config{})
	in, out := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(in, "a.txt"), []byte("x\n"), 0o644)
	eng, _ := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return b, err
		}})
	ctx := context.Background()
	info, err := eng.Submit(ctx, manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "count", Output: "file://" + out + "/", OutputFormat: "jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := lambdafan.New(lambdafan.Config{Invoker: &goroutineLambda{eng: eng, ctx: ctx}, Function: "missing", Engine: eng, Admin: q, Poll: time.Millisecond})
	if _, err := d.Run(ctx, info.Manifest.Spec.Output, info.Job); !errors.Is(err, lambdafan.ErrFunctionNotFound) {
		t.Fatalf("got %v, want ErrFunctionNotFound", err)
	}
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		payload string
		ok      bool
		wantErr bool
	}{
		{`{"fanout":"work","job":"j1"}`, true, false},
		{`{"fanout":"commit"}`, true, false},
		{`{"fanout":"drive","job":"j1"}`, true, true},
		{`{"fanout":"dance"}`, true, true},
		{`{"Records":[]}`, false, false},
		{`[1,2]`, false, false},
		{`not json`, false, false},
	}
	for _, tt := range tests {
		_, ok, err := lambdafan.DecodeRequest([]byte(tt.payload))
		if ok != tt.ok || (err != nil) != tt.wantErr {
			t.Errorf("DecodeRequest(%s): got ok=%v err=%v, want ok=%v err=%v", tt.payload, ok, err, tt.ok, tt.wantErr)
		}
	}
}

// TestDriverAggregatingJob runs a job with a reduce stage (wordcount)
// through the driver: the reduce tasks go through the same invocations.
func TestDriverAggregatingJob(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	want := map[string]int64{}
	for f := range 6 {
		var b strings.Builder
		for i := range 80 {
			w := fmt.Sprintf("w%d", (i*7+f)%13)
			fmt.Fprintf(&b, "%s common\n", w)
			want[w]++
			want["common"]++
		}
		os.WriteFile(filepath.Join(in, fmt.Sprintf("t%d.txt", f)), []byte(b.String()), 0o644)
	}
	q := memqueue.New(memqueue.Config{})
	eng, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return b, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := eng.Submit(ctx, manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "wordcount", Output: "file://" + out + "/",
		OutputFormat: "jsonl", ChunkBytes: 500, MaxObjectsPerChunk: 1, Reducers: 3})
	if err != nil {
		t.Fatal(err)
	}
	fake := &goroutineLambda{eng: eng, ctx: ctx}
	defer fake.wg.Wait()
	d, _ := lambdafan.New(lambdafan.Config{Invoker: fake, Function: "worker", Engine: eng, Admin: q, Concurrency: 3,
		StartGrace: 300 * time.Millisecond, Poll: 20 * time.Millisecond, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	res, err := d.Run(ctx, info.Manifest.Spec.Output, info.Job)
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("result %+v, %v", res, err)
	}
	got := map[string]int64{}
	filepath.WalkDir(out, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasSuffix(p, ".jsonl") || strings.Contains(p, "/_") {
			return err
		}
		body, _ := os.ReadFile(p)
		for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
			var row struct {
				Word  string `json:"word"`
				Count int64  `json:"count"`
			}
			if json.Unmarshal([]byte(line), &row) == nil {
				got[row.Word] += row.Count
			}
		}
		return nil
	})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("word counts %v, want %v", got, want)
	}
}
