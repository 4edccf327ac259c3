package fanout_test

// Redrive converges: a reduce task that failed for good, a settle in
// another process racing the redrive. Real MinIO and Redis; each ends in
// the oracle.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// wordInput writes objects of words and returns each word's count.
func wordInput(r *faultRig, objects int) map[string]int64 {
	want := map[string]int64{}
	rnd := rand.New(rand.NewPCG(5, 6))
	for o := range objects {
		var b strings.Builder
		for range 400 {
			w := fmt.Sprintf("w%03d", rnd.IntN(300))
			want[w]++
			b.WriteString(w + " ")
			if rnd.IntN(8) == 0 {
				b.WriteString("\n")
			}
		}
		r.put(fmt.Sprintf("in/text-%d.txt", o), []byte(b.String()+"\n"))
	}
	return want
}

// checkWordCounts runs the oracle on a committed wordcount (every word
// once) and compares each word's count.
func checkWordCounts(t *testing.T, r *faultRig, out, job string, want map[string]int64) {
	t.Helper()
	words := make([]string, 0, len(want))
	for w := range want {
		words = append(words, w)
	}
	faulttest.CheckCommitted(t, r.store, out, job, faulttest.JSONField("word"), words)
	got := readCounts(t, r.store, out, "count")
	for w, n := range want {
		if got[w] != n {
			t.Errorf("word %s: count %d, want %d", w, got[w], n)
		}
	}
}

// TestRedriveAfterAReduceTaskFailed fails one reduce task of a wordcount
// for good (its output writes fail with a permanent error), so the job
// fails naming it; then redrives the job with the cause gone. Before,
// the redriven task found no shuffle index, was given back and claimed
// again forever, and the tasks that had succeeded sat in the queue's
// done set and never ran again: the job never committed. Now it commits,
// every word counted exactly.
func TestRedriveAfterAReduceTaskFailed(t *testing.T) {
	r := newFaultRig(t, 0, 0)
	want := wordInput(r, 6)
	var poisoned atomic.Bool
	poisoned.Store(true)
	poison := func(b objstore.Bucket) objstore.Bucket {
		return &faultStore{Bucket: b, put: func(key string, _ *objstore.PutOptions) error {
			if poisoned.Load() && strings.Contains(key, "/staging/"+manifest.ChunkSpread("r000001")+"/r000001/") {
				return functions.Permanent(errors.New("injected: the disk of reduce partition 1 is full"))
			}
			return nil
		}}
	}
	e := r.engine(engineOptions{name: "a", store: poison})
	spec := manifest.JobSpec{Inputs: []string{"s3://" + r.bucket + "/in/"}, Function: "wordcount", Output: "s3://" + r.bucket + "/out/",
		OutputFormat: "jsonl", Reducers: 3, MaxObjectsPerChunk: 1, Lease: manifest.Duration(10 * time.Second)}.WithDefaults()
	res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) || len(jf.Failed) != 1 || jf.Failed[0].Chunk != "r000001" {
		t.Fatalf("got %v, %+v; want the job failed naming reduce task r000001", err, res)
	}
	poisoned.Store(false)
	info, err := e.Redrive(context.Background(), spec.Output, res.Job)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Chunks) != 1 || info.Chunks[0] != "r000001" {
		t.Errorf("redrive reports %v, want [r000001]", info.Chunks)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err = e.Wait(ctx, spec.Output, res.Job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("after redrive: %v, %+v", err, res)
	}
	checkWordCounts(t, r, "out/", res.Job, want)
}

// afterPut runs a hook after each successful Put.
type afterPut struct {
	objstore.Bucket
	keepUploads
	after func(key string)
}

func (s *afterPut) Put(ctx context.Context, key string, rd io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	info, err := s.Bucket.Put(ctx, key, rd, opts)
	if err == nil {
		s.after(key)
	}
	return info, err
}

// TestRedriveRacingASettle runs another process's settle of the job
// right after the redrive raised the job's redrive generation. Before
// generations, when the redrive deleted the failed marker while the chunk
// was still a dead letter, the settle wrote it again and the rerun lost
// its marker write to it: the job failed again. Now the queue has
// forgotten the job first (the settle finds no dead letter and rebuilds
// the queue from the bucket, leaving out the chunk with a failed marker),
// the redrive enqueues the failed chunk, the rerun's marker replaces the
// stale failed one, and the job commits with every record once.
func TestRedriveRacingASettle(t *testing.T) {
	r := newFaultRig(t, 4, 100)
	var poisoned atomic.Bool
	poisoned.Store(true)
	reg := registryWith(copyFn{hook: func(_ context.Context, first *functions.Record) error {
		if poisoned.Load() && first.Object == "in/part-02.jsonl" {
			return functions.Permanent(errors.New("poison"))
		}
		return nil
	}})
	spec := r.spec("out/", 10*time.Second, "copy")
	res, err := r.engine(engineOptions{name: "a", functions: reg}).Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) || len(jf.Failed) != 1 {
		t.Fatalf("got %v, %+v; want the poisoned chunk to fail the job", err, res)
	}
	poisoned.Store(false)
	other := r.engine(engineOptions{name: "other", functions: reg})
	var settled atomic.Int64
	redriver := r.engine(engineOptions{name: "redriver", functions: reg, store: func(b objstore.Bucket) objstore.Bucket {
		return &afterPut{Bucket: b, keepUploads: uploadsOf(b), after: func(key string) {
			if strings.HasSuffix(key, "/"+res.Job+"/_REDRIVEN") {
				// Another process looks at the job now.
				if _, err := other.TryCommit(context.Background(), spec.Output, res.Job); err != nil {
					t.Errorf("the other process's look: %v", err)
				}
				settled.Add(1)
			}
		}}
	}})
	if _, err := redriver.Redrive(context.Background(), spec.Output, res.Job); err != nil {
		t.Fatal(err)
	}
	if settled.Load() != 1 {
		t.Fatal("the redrive raised no generation")
	}
	res, err = redriver.Wait(context.Background(), spec.Output, res.Job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("after redrive: %v, %+v", err, res)
	}
	r.check("out/", res.Job)
}

// TestReduceAttemptFromBeforeARedriveIsNotCommitted holds a reduce
// task's attempt just before its marker write while a redrive runs the
// job's failed map chunk again (tolerated by --max-failed, so the reduce
// stage had started without it), then lets the write land. That attempt
// merged the old map outputs: before, its marker took the task's place
// and the commit published counts without the rerun chunk's words. Now
// its marker names the old shuffle index and lies where the commit does
// not look; the task runs again over the new index and every word is
// counted exactly.
func TestReduceAttemptFromBeforeARedriveIsNotCommitted(t *testing.T) {
	r := newFaultRig(t, 0, 0)
	want := wordInput(r, 6)
	var poisoned atomic.Bool
	poisoned.Store(true)
	held := make(chan string, 1)
	release := make(chan struct{})
	a := r.engine(engineOptions{name: "a",
		queue: func(q fanout.Queue) fanout.Queue { return frozenHeartbeats{q} },
		store: func(b objstore.Bucket) objstore.Bucket {
			return withUploads(b, &ctxStore{Bucket: b, put: func(ctx context.Context, key string, _ *objstore.PutOptions) (context.Context, error) {
				switch {
				case poisoned.Load() && strings.Contains(key, "/staging/"+manifest.ChunkSpread("c00000002")+"/c00000002/"):
					return ctx, functions.Permanent(errors.New("injected: chunk 2 cannot write"))
				case strings.Contains(key, "/reduce/") && strings.HasSuffix(key, "/r000000.json"):
					select {
					case held <- key:
						<-release
						return context.WithoutCancel(ctx), nil // on the wire when held
					default:
					}
				}
				return ctx, nil
			}})
		}})
	spec := manifest.JobSpec{Inputs: []string{"s3://" + r.bucket + "/in/"}, Function: "wordcount", Output: "s3://" + r.bucket + "/out/",
		OutputFormat: "jsonl", Reducers: 3, MaxObjectsPerChunk: 1, MaxFailed: "1", Lease: manifest.Duration(30 * time.Second)}.WithDefaults()
	info, err := a.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	stopA := work(t, a, info.Job, 2, nil)
	driver := r.engine(engineOptions{name: "driver"})
	go driver.Wait(t.Context(), spec.Output, info.Job, fanout.RunOptions{}) // settles the map stage, starts the reduce stage
	var stale string
	select {
	case stale = <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("no reduce attempt reached its marker")
	}
	localstack.Poll(t, 60*time.Second, "reduce tasks r000001 and r000002 to publish", func() bool {
		return len(snapshotStore(t, r.store, "out/_fanout/"+info.Job+"/reduce/")) == 2
	})
	poisoned.Store(false)
	if _, err := r.engine(engineOptions{name: "redriver"}).Redrive(context.Background(), spec.Output, info.Job); err != nil {
		t.Fatal(err)
	}
	close(release)
	localstack.Poll(t, 30*time.Second, "the held attempt's marker to land", func() bool { return r.exists(stale) })
	stopA()
	res, err := r.engine(engineOptions{name: "after"}).Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted || len(res.Failed) != 0 {
		t.Fatalf("after redrive: %v, %+v", err, res)
	}
	checkWordCounts(t, r, "out/", res.Job, want)
	t.Logf("the stale marker %s stayed out of the commit", stale)
}

// TestRedriveSkipsADeadChunkItsBackupPublished dead-letters a chunk whose
// backup attempt then publishes it (the queue keeps the chunk dead, the
// bucket has its done marker), and fails the job on another chunk. Before,
// redrive moved every dead letter back, so the published chunk ran again
// for nothing; now the queue is rebuilt from the bucket and only the
// failed chunk runs again.
func TestRedriveSkipsADeadChunkItsBackupPublished(t *testing.T) {
	r := newFaultRig(t, 3, 100)
	var runs1 atomic.Int64
	var poisoned atomic.Bool
	poisoned.Store(true)
	release := make(chan struct{})
	reg := registryWith(copyFn{hook: func(ctx context.Context, first *functions.Record) error {
		switch first.Object {
		case "in/part-01.jsonl":
			if runs1.Add(1) == 1 {
				select { // the backup, held until its original is dead
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		case "in/part-02.jsonl":
			if poisoned.Load() {
				return functions.Permanent(errors.New("poison"))
			}
		}
		return nil
	}})
	spec := r.spec("out/", 30*time.Second, "copy")
	info, err := r.engine(engineOptions{name: "submit", functions: reg}).Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	// The ghost claims the three chunks (they come in a spread order) and
	// gives back all but c00000001.
	ghost := r.queue()
	var l1 fanout.Lease
	var others []fanout.Lease
	for range 3 {
		l, err := ghost.Claim(context.Background(), info.Job, "ghost", nil)
		if err != nil {
			t.Fatalf("ghost claim: %+v, %v", l, err)
		}
		if l.Chunk == "c00000001" {
			l1 = l
		} else {
			others = append(others, l)
		}
	}
	if l1.Chunk == "" {
		t.Fatalf("the ghost's claims gave %+v, not c00000001", others)
	}
	for _, l := range others {
		if err := ghost.Release(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := ghost.Backup(context.Background(), info.Job, l1.Chunk); err != nil || !ok {
		t.Fatalf("backup: %v, %v", ok, err)
	}
	w := r.engine(engineOptions{name: "w", functions: reg})
	stop := work(t, w, info.Job, 3, nil)
	localstack.Poll(t, 30*time.Second, "the backup of c00000001 to start", func() bool { return runs1.Load() == 1 })
	if out, err := ghost.Fail(context.Background(), l1, "the original died", true); err != nil || !out.Dead {
		t.Fatalf("ghost fail: %+v, %v", out, err)
	}
	close(release)
	res, err := r.engine(engineOptions{name: "driver", functions: reg}).Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) || len(jf.Failed) != 1 || jf.Failed[0].Chunk != "c00000002" {
		t.Fatalf("got %v, %+v; want the job failed naming c00000002 only", err, res)
	}
	stop()
	if dead, err := ghost.DeadLetters(context.Background(), info.Job); err != nil || len(dead) != 2 {
		t.Fatalf("dead letters %+v, %v; want c00000001 (published by its backup) and c00000002", dead, err)
	}
	poisoned.Store(false)
	e := r.engine(engineOptions{name: "redriver", functions: reg})
	if _, err := e.Redrive(context.Background(), spec.Output, info.Job); err != nil {
		t.Fatal(err)
	}
	if res, err = e.Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{Workers: 2}); err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("after redrive: %v, %+v", err, res)
	}
	if n := runs1.Load(); n != 1 {
		t.Errorf("c00000001 ran %d times, want once (its backup published it before the redrive)", n)
	}
	r.check("out/", info.Job)
}

// readCounts sums the committed JSONL rows of a word count under out:
// field word and the count in countField.
func readCounts(t *testing.T, b objstore.Bucket, out, countField string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	got := map[string]int64{}
	for o, err := range b.List(ctx, out, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(o.Key, out+"_") {
			continue
		}
		rc, _, err := b.Get(ctx, o.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(rc)
		for dec.More() {
			var row map[string]json.RawMessage
			var word string
			var n int64
			if err := dec.Decode(&row); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(row["word"], &word); err != nil {
				t.Fatalf("%s: word: %v", o.Key, err)
			}
			if err := json.Unmarshal(row[countField], &n); err != nil {
				t.Fatalf("%s: %s: %v", o.Key, countField, err)
			}
			got[word] += n
		}
		rc.Close()
	}
	return got
}

// TestRedriveWithRedisLost fails a job on a map chunk, or on a reduce
// task, then loses the queue's state (the engines after it use an empty
// Redis namespace, as after a Redis restart without persistence), fixes
// the cause and redrives: the queue is rebuilt from the bucket alone, only
// the failed task runs again, and the job commits exactly (the oracle).
func TestRedriveWithRedisLost(t *testing.T) {
	t.Run("map chunk", func(t *testing.T) {
		r := newFaultRig(t, 4, 100)
		var poisoned atomic.Bool
		poisoned.Store(true)
		reg := registryWith(copyFn{hook: func(_ context.Context, first *functions.Record) error {
			if poisoned.Load() && first.Object == "in/part-02.jsonl" {
				return functions.Permanent(errors.New("poison"))
			}
			return nil
		}})
		spec := r.spec("out/", 10*time.Second, "copy")
		res, err := r.engine(engineOptions{name: "a", functions: reg}).Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
		var jf *fanout.JobFailedError
		if !errors.As(err, &jf) || len(jf.Failed) != 1 {
			t.Fatalf("got %v, %+v; want the poisoned chunk to fail the job", err, res)
		}
		poisoned.Store(false)
		r.prefix += "-lost" // a Redis that forgot everything
		e := r.engine(engineOptions{name: "after", functions: reg})
		info, err := e.Redrive(context.Background(), spec.Output, res.Job)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Chunks) != 1 || info.Chunks[0] != jf.Failed[0].Chunk || info.Enqueued != 1 {
			t.Errorf("redrive: %+v; want chunk %s alone run again", info, jf.Failed[0].Chunk)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		res, err = e.Wait(ctx, spec.Output, res.Job, fanout.RunOptions{Workers: 2})
		if err != nil || res.State != fanout.StateCommitted {
			t.Fatalf("after redrive: %v, %+v", err, res)
		}
		r.check("out/", res.Job)
	})
	t.Run("reduce task", func(t *testing.T) {
		r := newFaultRig(t, 0, 0)
		want := wordInput(r, 6)
		var poisoned atomic.Bool
		poisoned.Store(true)
		poison := func(b objstore.Bucket) objstore.Bucket {
			return &faultStore{Bucket: b, put: func(key string, _ *objstore.PutOptions) error {
				if poisoned.Load() && strings.Contains(key, "/staging/"+manifest.ChunkSpread("r000001")+"/r000001/") {
					return functions.Permanent(errors.New("injected: the disk of reduce partition 1 is full"))
				}
				return nil
			}}
		}
		spec := manifest.JobSpec{Inputs: []string{"s3://" + r.bucket + "/in/"}, Function: "wordcount", Output: "s3://" + r.bucket + "/out/",
			OutputFormat: "jsonl", Reducers: 3, MaxObjectsPerChunk: 1, Lease: manifest.Duration(10 * time.Second)}.WithDefaults()
		res, err := r.engine(engineOptions{name: "a", store: poison}).Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
		var jf *fanout.JobFailedError
		if !errors.As(err, &jf) || len(jf.Failed) != 1 || jf.Failed[0].Chunk != "r000001" {
			t.Fatalf("got %v, %+v; want the job failed naming reduce task r000001", err, res)
		}
		poisoned.Store(false)
		r.prefix += "-lost"
		e := r.engine(engineOptions{name: "after"})
		info, err := e.Redrive(context.Background(), spec.Output, res.Job)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Chunks) != 1 || info.Chunks[0] != "r000001" {
			t.Errorf("redrive reports %v, want [r000001]", info.Chunks)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		res, err = e.Wait(ctx, spec.Output, res.Job, fanout.RunOptions{Workers: 2})
		if err != nil || res.State != fanout.StateCommitted {
			t.Fatalf("after redrive: %v, %+v", err, res)
		}
		checkWordCounts(t, r, "out/", res.Job, want)
	})
}

// deadSpy records the chunk whose Queue.Fail dead-lettered it.
type deadSpy struct {
	fanout.Queue
	dead chan string
}

func (q deadSpy) Fail(ctx context.Context, l fanout.Lease, reason string, permanent bool) (fanout.FailOutcome, error) {
	out, err := q.Queue.Fail(ctx, l, reason, permanent)
	if err == nil && out.Dead {
		select {
		case q.dead <- l.Chunk:
		default:
		}
	}
	return out, err
}

// holdPut holds the first Put of a key hold picks until release closes,
// then sends that Put's error on landed.
type holdPut struct {
	objstore.Bucket
	keepUploads
	hold    func(key string) bool
	once    atomic.Bool
	held    chan string
	release chan struct{}
	landed  chan error
}

func (s *holdPut) Put(ctx context.Context, key string, rd io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	if !s.hold(key) || !s.once.CompareAndSwap(false, true) {
		return s.Bucket.Put(ctx, key, rd, opts)
	}
	s.held <- key
	<-s.release
	info, err := s.Bucket.Put(context.WithoutCancel(ctx), key, rd, opts)
	s.landed <- err
	return info, err
}

// staleWriter is a worker engine whose attempt at a poisoned chunk was
// dead-lettered by its Queue.Fail and is held just before it writes the
// chunk's failed marker (the stale write of the tests below).
type staleWriter struct {
	job, key string
	hold     *holdPut
	settled  chan struct{} // the held attempt settled (its Observe)
}

// release lets the held failed-marker write go and returns its error.
func (w *staleWriter) release() error {
	close(w.hold.release)
	return <-w.hold.landed
}

// startStaleWriter submits spec with engine "a", whose one worker slot
// runs until its attempt at the poisoned chunk is dead and its failed
// marker write is held.
func startStaleWriter(t *testing.T, r *faultRig, reg *functions.Registry, spec manifest.JobSpec) *staleWriter {
	t.Helper()
	spy := deadSpy{dead: make(chan string, 1)}
	var deadChunk atomic.Value
	deadChunk.Store("")
	w := &staleWriter{settled: make(chan struct{})}
	w.hold = &holdPut{held: make(chan string, 1), release: make(chan struct{}), landed: make(chan error, 1),
		hold: func(key string) bool {
			c := deadChunk.Load().(string)
			if c == "" {
				select {
				case c = <-spy.dead:
					deadChunk.Store(c)
				default:
					return false
				}
			}
			return strings.HasSuffix(key, "/chunks/"+manifest.ChunkSpread(c)+"/"+c+".json")
		}}
	a := r.engine(engineOptions{name: "a", functions: reg,
		queue: func(q fanout.Queue) fanout.Queue { spy.Queue = q; return spy },
		store: func(b objstore.Bucket) objstore.Bucket {
			w.hold.Bucket, w.hold.keepUploads = b, uploadsOf(b)
			return w.hold
		}})
	info, err := a.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	w.job = info.Job
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var once atomic.Bool
	go func() {
		// One slot: it is held, and runs nothing else meanwhile.
		done <- a.Work(ctx, fanout.WorkOptions{Concurrency: 1, Job: info.Job, Grace: time.Second, IdlePoll: 50 * time.Millisecond,
			Observe: func(ev fanout.ChunkEvent) {
				if ev.Outcome == fanout.OutcomeFailed && ev.Chunk == deadChunk.Load().(string) && once.CompareAndSwap(false, true) {
					close(w.settled)
				}
			}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Work: %v", err)
		}
	})
	select {
	case w.key = <-w.hold.held:
	case <-time.After(60 * time.Second):
		t.Fatal("no worker reached the failed marker of its dead chunk")
	}
	return w
}

// finishHook runs a hook (once) before the queue forgets a job.
type finishHook struct {
	fanout.QueueAdmin
	once   atomic.Bool
	before func()
}

func (a *finishHook) Finish(ctx context.Context, job string) error {
	if a.once.CompareAndSwap(false, true) {
		a.before()
	}
	return a.QueueAdmin.Finish(ctx, job)
}

// TestStaleFailedMarkerAfterARedrive holds a worker whose Queue.Fail
// dead-lettered a chunk just before it writes the chunk's failed marker,
// redrives the job (the chunk's cause fixed), and lets that write land at
// each point of the redrive and the rerun:
//   - during the redrive, before the queue forgets the job (and, in the
//     code before redrive generations, after the redrive listed the
//     failed markers, with the worker's check that its chunk was still
//     dead done before the queue forgot it): the marker then took the
//     chunk's place, the redrive did not enqueue it, and the job failed
//     again with the old reason;
//   - after the redrive, before the rerun;
//   - after the rerun published and the job committed.
//
// The marker carries the generation its writer read before its
// Queue.Fail, older than the redrive's: it is stale wherever it lands,
// the rerun's marker replaces it, and the job commits with every record
// once (the oracle); the chunk's marker is the rerun's done marker.
func TestStaleFailedMarkerAfterARedrive(t *testing.T) {
	for _, when := range []string{"during the redrive", "before the rerun", "after the commit"} {
		t.Run(strings.ReplaceAll(when, " ", "_"), func(t *testing.T) {
			r := newFaultRig(t, 4, 100)
			var poisoned atomic.Bool
			poisoned.Store(true)
			reg := registryWith(copyFn{hook: func(_ context.Context, first *functions.Record) error {
				if poisoned.Load() && first.Object == "in/part-02.jsonl" {
					return functions.Permanent(errors.New("poison"))
				}
				return nil
			}})
			spec := r.spec("out/", 10*time.Second, "copy")
			w := startStaleWriter(t, r, reg, spec)
			poisoned.Store(false)
			var landed error
			admin := func(a fanout.QueueAdmin) fanout.QueueAdmin { return a }
			if when == "during the redrive" {
				admin = func(a fanout.QueueAdmin) fanout.QueueAdmin {
					return &finishHook{QueueAdmin: a, before: func() {
						// The chunk is still dead in the queue: the held
						// worker writes its marker and settles.
						landed = w.release()
						<-w.settled
					}}
				}
			}
			ri, err := r.engine(engineOptions{name: "redriver", functions: reg, admin: admin}).Redrive(context.Background(), spec.Output, w.job)
			if err != nil {
				t.Fatalf("redrive: %v", err)
			}
			if when == "during the redrive" && landed != nil {
				t.Fatalf("the held failed marker did not land: %v", landed)
			}
			if when == "before the rerun" {
				if err := w.release(); err != nil {
					t.Fatalf("the held failed marker did not land: %v", err)
				}
				<-w.settled
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := r.engine(engineOptions{name: "after", functions: reg}).Wait(ctx, spec.Output, w.job, fanout.RunOptions{Workers: 2})
			if err != nil || res.State != fanout.StateCommitted || len(res.Failed) != 0 {
				t.Fatalf("after redrive (%+v): %v, %+v; want committed, nothing failed", ri, err, res)
			}
			if when == "after the commit" {
				if err := w.release(); !errors.Is(err, objstore.ErrPrecondition) {
					t.Fatalf("the held failed marker's write after the commit: got %v, want %v", err, objstore.ErrPrecondition)
				}
				<-w.settled
			}
			if m, err := readMarker(r, w.key); err != nil || m.State != manifest.MarkerDone {
				t.Errorf("the chunk's marker: %+v, %v; want the rerun's done marker", m, err)
			}
			r.check("out/", w.job)
		})
	}
}

// TestFailedMarkerFromBeforeARedriveDoesNotFailTheJob holds a worker
// whose Queue.Fail dead-lettered a chunk just before it writes the
// chunk's failed marker. Meanwhile a settle writes that marker (the chunk
// is a dead letter), the job fails, and a redrive enqueues the chunk
// again; then the held write goes: it finds the settle's marker in the
// way, of its own generation, and leaves it. The rerun's done marker
// replaces the stale failed marker and the job commits with every record
// once.
func TestFailedMarkerFromBeforeARedriveDoesNotFailTheJob(t *testing.T) {
	r := newFaultRig(t, 4, 100)
	var poisoned atomic.Bool
	poisoned.Store(true)
	reg := registryWith(copyFn{hook: func(_ context.Context, first *functions.Record) error {
		if poisoned.Load() && first.Object == "in/part-02.jsonl" {
			return functions.Permanent(errors.New("poison"))
		}
		return nil
	}})
	spec := r.spec("out/", 10*time.Second, "copy")
	w := startStaleWriter(t, r, reg, spec)
	// Another process settles the job: the chunk is a dead letter, so it
	// writes the failed marker itself and the job fails.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := r.engine(engineOptions{name: "driver", functions: reg}).Wait(ctx, spec.Output, w.job, fanout.RunOptions{Workers: 1})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) || len(jf.Failed) != 1 || !r.exists(w.key) {
		t.Fatalf("got %v, %+v; want the job failed on the dead chunk, its marker %s written", err, res, w.key)
	}
	poisoned.Store(false)
	if ri, err := r.engine(engineOptions{name: "redriver", functions: reg}).Redrive(context.Background(), spec.Output, w.job); err != nil || len(ri.Chunks) != 1 {
		t.Fatalf("redrive: %v, %+v", err, ri)
	}
	if err := w.release(); !errors.Is(err, objstore.ErrPrecondition) {
		t.Fatalf("the held failed marker's write: got %v, want %v (the settle's marker is there)", err, objstore.ErrPrecondition)
	}
	<-w.settled
	res, err = r.engine(engineOptions{name: "after", functions: reg}).Wait(ctx, spec.Output, w.job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted || len(res.Failed) != 0 {
		t.Fatalf("after redrive: %v, %+v; want committed, nothing failed", err, res)
	}
	if m, err := readMarker(r, w.key); err != nil || m.State != manifest.MarkerDone {
		t.Errorf("the chunk's marker: %+v, %v; want the rerun's done marker", m, err)
	}
	r.check("out/", w.job)
}

// readMarker reads the marker at key of the rig's bucket.
func readMarker(r *faultRig, key string) (*manifest.ChunkMarker, error) {
	rc, _, err := r.store.Get(context.Background(), key, nil)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return manifest.DecodeMarker(body)
}
