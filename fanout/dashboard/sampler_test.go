package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// counts tallies requests by the job (or output directory) they concern.
type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counts) add(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[what]++
}

func (c *counts) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.n
	c.n = map[string]int{}
	return old
}

// countingBucket counts every request to a local store (an output
// directory) under the directory's name.
type countingBucket struct {
	objstore.Bucket
	c    *counts
	name string
}

func (b countingBucket) List(ctx context.Context, prefix string, opts *objstore.ListOptions) iter.Seq2[objstore.ObjectInfo, error] {
	b.c.add(b.name)
	return b.Bucket.List(ctx, prefix, opts)
}

func (b countingBucket) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	b.c.add(b.name)
	return b.Bucket.Stat(ctx, key)
}

func (b countingBucket) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	b.c.add(b.name)
	return b.Bucket.Get(ctx, key, opts)
}

// countingAdmin counts the queue's answers about each job.
type countingAdmin struct {
	*memqueue.Queue
	c *counts
}

func (a countingAdmin) Stats(ctx context.Context, job string) (fanout.QueueStats, error) {
	a.c.add(job)
	return a.Queue.Stats(ctx, job)
}

func (a countingAdmin) Activity(ctx context.Context, job string) (fanout.Activity, error) {
	a.c.add(job)
	return a.Queue.Activity(ctx, job)
}

// DeadLetters counts under "every dead letter of <job>": a look reads a
// page of them (PeekDeadLetters), never them all.
func (a countingAdmin) DeadLetters(ctx context.Context, job string) ([]fanout.DeadLetter, error) {
	a.c.add("every dead letter of " + job)
	return a.Queue.DeadLetters(ctx, job)
}

func (a countingAdmin) PeekDeadLetters(ctx context.Context, job string, n int) ([]fanout.DeadLetter, error) {
	a.c.add(job)
	return a.Queue.PeekDeadLetters(ctx, job, n)
}

// TestLookCostsTheSameForAnyChunkCount plans 100 jobs, one of 100,000
// chunks and one of 10 among them, and counts what one look of the
// sampler asks the bucket and the queue about each: the same for both
// (the queue's counters and running tasks, no listing of markers). A
// request to the API asks neither (it is answered from the last look),
// and the big job's answer stays small.
func TestLookCostsTheSameForAnyChunkCount(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, lines int) string {
		var b strings.Builder
		for i := range lines {
			fmt.Fprintf(&b, "%07d\n", i)
		}
		in := filepath.Join(dir, "in-"+name)
		if err := os.MkdirAll(in, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, "lines.txt"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return "file://" + in + "/"
	}
	store, queue := &counts{n: map[string]int{}}, &counts{n: map[string]int{}}
	q := memqueue.New(memqueue.Config{})
	admin := countingAdmin{q, queue}
	// The dashboard's engine is not the submitter's (as fanout ui is a
	// process of its own): it has no manifest cached.
	newEngine := func(counted bool) *fanout.Engine {
		eng, err := fanout.New(fanout.Config{Queue: q, Admin: admin, Functions: builtin.Registry(),
			Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
				b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
				if counted {
					return countingBucket{b, store, filepath.Base(strings.TrimSuffix(u, "/"))}, err
				}
				return b, err
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		return eng
	}
	eng, uiEng := newEngine(false), newEngine(true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	jobs := map[string]string{}
	submit := func(name string, lines int) {
		// 8-byte lines in 8-byte chunks: a chunk per line.
		info, err := eng.Submit(ctx, manifest.JobSpec{Inputs: []string{write(name, lines)}, Function: "convert",
			Output: "file://" + filepath.Join(dir, "out-"+name) + "/", OutputFormat: "lines", ChunkBytes: 8})
		if err != nil {
			t.Fatal(err)
		}
		if info.Manifest.Chunks != lines {
			t.Fatalf("job %s: %d chunks, want %d", name, info.Manifest.Chunks, lines)
		}
		jobs[name] = info.Job
	}
	submit("big", 100_000)
	submit("small", 10)
	for i := range 98 {
		submit(fmt.Sprintf("other%02d", i), 1)
	}

	d, err := New(Config{Engine: uiEng, Admin: admin})
	if err != nil {
		t.Fatal(err)
	}
	store.reset()
	d.sampler.look(ctx, true) // the first reads each manifest once
	if first := store.reset(); first["out-big"] == 0 {
		t.Fatalf("the first look read nothing of the big job (%v): the counting bucket counts nothing", first)
	}
	queue.reset()
	d.sampler.look(ctx, true)
	s, qs := store.reset(), queue.reset()
	if s["out-big"] != s["out-small"] || qs[jobs["big"]] != qs[jobs["small"]] || qs[jobs["big"]] == 0 {
		t.Errorf("one look: %d bucket and %d queue requests about the job of 100,000 chunks, %d and %d about the one of 10; want the same",
			s["out-big"], qs[jobs["big"]], s["out-small"], qs[jobs["small"]])
	}
	t.Logf("one look at 100 jobs: %d bucket requests, %d queue requests per job", s["out-big"], qs[jobs["big"]])

	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	var list JobsReply
	for range 10 {
		for _, path := range []string{"/ui/api/jobs", "/ui/api/jobs/" + jobs["big"]} {
			res, err := srv.Client().Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || (strings.HasSuffix(path, jobs["big"]) && len(body) > 64<<10) {
				t.Fatalf("GET %s: %s, %d bytes", path, res.Status, len(body))
			}
			if path == "/ui/api/jobs" {
				if err := json.Unmarshal(body, &list); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if len(list.Jobs) != 100 {
		t.Errorf("the jobs list holds %d jobs, want 100", len(list.Jobs))
	}
	if s, q := store.reset(), queue.reset(); len(s) != 0 || len(q) != 0 {
		t.Errorf("20 API requests asked the bucket %v and the queue %v; want nothing (answered from the last look)", s, q)
	}
}

// downAdmin is a queue whose job listing fails while down is set.
type downAdmin struct {
	*memqueue.Queue
	down *atomic.Bool
}

func (a downAdmin) Jobs(ctx context.Context) ([]fanout.JobQueueSpec, error) {
	if a.down.Load() {
		return nil, errors.New("injected: the queue is unreachable")
	}
	return a.Queue.Jobs(ctx)
}

// TestQueueOutageKeepsTheJobs looks at a queued job, then fails the
// queue's job listing: the jobs list says why it is stale and still
// shows the job as the queue last held it.
func TestQueueOutageKeepsTheJobs(t *testing.T) {
	in := t.TempDir()
	if err := os.WriteFile(filepath.Join(in, "a.txt"), []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	q := memqueue.New(memqueue.Config{})
	var down atomic.Bool
	eng, err := fanout.New(fanout.Config{Queue: q, Admin: downAdmin{q, &down}, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return b, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	info, err := eng.Submit(ctx, manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
		Output: "file://" + filepath.Join(t.TempDir(), "out") + "/", OutputFormat: "lines"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Engine: eng, Admin: downAdmin{q, &down}})
	if err != nil {
		t.Fatal(err)
	}
	d.sampler.look(ctx, true)
	down.Store(true)
	d.sampler.look(ctx, true)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/ui/api/jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list JobsReply
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list.Error, "the queue is unreachable") || len(list.Jobs) != 1 || list.Jobs[0].Job != info.Job || list.Jobs[0].State != fanout.StateQueued {
		t.Errorf("during the outage: %+v; want the error and job %s still queued", list, info.Job)
	}
	if e, _ := d.sampler.get(info.Job); !e.inQueue {
		t.Errorf("during the outage the job counts as gone from the queue")
	}
}

// TestLookReadsAPageOfDeadLetters fails every chunk of a job of 2,000
// chunks for good: a look at it reads a page of its dead letters (50,
// each with its reason) and counts them all from the queue's counter,
// never listing the 2,000.
func TestLookReadsAPageOfDeadLetters(t *testing.T) {
	const chunks = 2_000
	dir := t.TempDir()
	var b strings.Builder
	for i := range chunks {
		fmt.Fprintf(&b, "%07d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "lines.txt"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &counts{n: map[string]int{}}
	q := memqueue.New(memqueue.Config{})
	admin := countingAdmin{q, c}
	eng, err := fanout.New(fanout.Config{Queue: q, Admin: admin, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return b, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := t.Context()
	info, err := eng.Submit(ctx, manifest.JobSpec{Inputs: []string{"file://" + dir + "/lines.txt"}, Function: "convert",
		Output: "file://" + filepath.Join(dir, "out") + "/", OutputFormat: "lines", ChunkBytes: 8})
	if err != nil {
		t.Fatal(err)
	}
	for range chunks {
		l, err := q.Claim(ctx, info.Job, "w1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Fail(ctx, l, "bad input in "+l.Chunk, true); err != nil {
			t.Fatal(err)
		}
	}
	d, err := New(Config{Engine: eng, Admin: admin})
	if err != nil {
		t.Fatal(err)
	}
	c.reset()
	d.sampler.look(ctx, false)
	asked := c.reset()
	e, ok := d.sampler.get(info.Job)
	if !ok {
		t.Fatalf("the job is not listed")
	}
	if e.ov.Queue.Dead != chunks || len(e.ov.DeadLetters) != 50 || !strings.Contains(e.ov.DeadLetters[0].Reason, "bad input in c") {
		t.Errorf("the look: %d dead, %d dead letters listed (%+v); want %d counted and 50 listed with their reasons",
			e.ov.Queue.Dead, len(e.ov.DeadLetters), e.ov.DeadLetters[:min(len(e.ov.DeadLetters), 1)], chunks)
	}
	if asked["every dead letter of "+info.Job] != 0 {
		t.Errorf("the look listed every dead letter of the job (%v); want a page of them", asked)
	}
}

// TestJobsFoundUnderAnOutputPrefix commits three jobs into directories
// of one base prefix (as fanout serve gives each batch one under its
// --out), then starts a dashboard with that base as an output prefix:
// the queue no longer holds the jobs, and the dashboard lists each as
// committed, found by its directory's owner record; with Recent 2 only
// the last two directories are looked at. A base that is a job's own
// output is not searched for more (its directories are partitions).
func TestJobsFoundUnderAnOutputPrefix(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "a.txt"), []byte("x\ny\n"), 0o644); err != nil {
		t.Fatal(err)
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
	ctx := t.Context()
	base := "file://" + filepath.Join(dir, "out") + "/"
	var jobs []string
	for _, batch := range []string{"20261207T0900-a", "20261207T0901-b", "20261207T0902-c"} {
		info, err := eng.Submit(ctx, manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
			Output: base + batch + "/", OutputFormat: "lines"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Wait(ctx, base+batch+"/", info.Job, fanout.RunOptions{Workers: 1}); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, info.Job)
	}
	if left, err := q.Jobs(ctx); err != nil || len(left) != 0 {
		t.Fatalf("the queue still holds %v (%v); want the committed jobs gone", left, err)
	}
	listed := func(d *Dashboard) map[string]string {
		entries, _, _ := d.sampler.all()
		states := map[string]string{}
		for _, e := range entries {
			states[e.ov.Job] = e.ov.State
		}
		return states
	}
	d, err := New(Config{Engine: eng, Admin: q, Outputs: []string{base}})
	if err != nil {
		t.Fatal(err)
	}
	d.sampler.look(ctx, true)
	got := listed(d)
	for _, job := range jobs {
		if got[job] != fanout.StateCommitted {
			t.Errorf("job %s: %q; want it listed as committed (listed: %v)", job, got[job], got)
		}
	}
	if len(got) != len(jobs) {
		t.Errorf("listed %v; want the %d jobs", got, len(jobs))
	}

	recent, err := New(Config{Engine: eng, Admin: q, Outputs: []string{base}, Recent: 2})
	if err != nil {
		t.Fatal(err)
	}
	recent.sampler.look(ctx, true)
	if got := listed(recent); len(got) != 2 || got[jobs[1]] == "" || got[jobs[2]] == "" {
		t.Errorf("with Recent 2: listed %v; want the last two jobs %v", got, jobs[1:])
	}

	own, err := New(Config{Engine: eng, Admin: q, Outputs: []string{base + "20261207T0900-a/"}})
	if err != nil {
		t.Fatal(err)
	}
	own.sampler.look(ctx, true)
	if got := listed(own); len(got) != 1 || got[jobs[0]] != fanout.StateCommitted || len(own.sampler.children) != 0 {
		t.Errorf("a job's own output: listed %v, %d directories read; want its job alone, no directory", got, len(own.sampler.children))
	}
}

// TestSettledJobIsLookedAtLessOften: a job the queue holds whose only
// chunk failed for good sits settled (every look reads its commit and
// owner records); once unchanged for settledAfter, a look that is not
// an owners' look asks neither the bucket nor the queue about it, an
// owners' look does, and an action on it (poke) makes the next look ask
// again at once.
func TestSettledJobIsLookedAtLessOften(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	store, queue := &counts{n: map[string]int{}}, &counts{n: map[string]int{}}
	q := memqueue.New(memqueue.Config{})
	admin := countingAdmin{q, queue}
	eng, err := fanout.New(fanout.Config{Queue: q, Admin: admin, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return countingBucket{b, store, "out"}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := t.Context()
	info, err := eng.Submit(ctx, manifest.JobSpec{Inputs: []string{"file://" + dir + "/a.txt"}, Function: "convert",
		Output: "file://" + filepath.Join(dir, "out") + "/", OutputFormat: "lines"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := q.Claim(ctx, info.Job, "w1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Fail(ctx, l, "bad input", true); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Engine: eng, Admin: admin})
	if err != nil {
		t.Fatal(err)
	}
	asked := func(owners bool) int {
		store.reset()
		queue.reset()
		d.sampler.look(ctx, owners)
		return store.reset()["out"] + queue.reset()[info.Job]
	}
	asked(true)
	e, _ := d.sampler.get(info.Job)
	if st := e.ov.State; st != fanout.StateCommitting && st != fanout.StateFailed {
		t.Fatalf("the job is %s; want it settled (committing or failed)", st)
	}
	if n := asked(false); n == 0 {
		t.Errorf("a look at a job settled just now asked nothing about it; want it looked at every look for %v", settledAfter)
	}
	d.sampler.mu.Lock()
	d.sampler.jobs[info.Job].changed = time.Now().Add(-settledAfter - time.Second)
	d.sampler.mu.Unlock()
	if n := asked(false); n != 0 {
		t.Errorf("a look at a job settled for %v asked %d questions about it; want none between owners' looks", settledAfter, n)
	}
	if n := asked(true); n == 0 {
		t.Errorf("an owners' look asked nothing about the settled job")
	}
	d.sampler.poke(info.Job)
	if n := asked(false); n == 0 {
		t.Errorf("the look after an action on the settled job asked nothing about it")
	}
}
