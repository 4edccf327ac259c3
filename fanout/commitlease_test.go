package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore"
)

// endCounts counts the requests that make a job, over every engine.
type endCounts struct {
	published    atomic.Int64 // files put in place: copies or upload completions
	markerGets   atomic.Int64 // chunk markers read
	fences       atomic.Int64 // owner record If-Match writes
	commitPuts   atomic.Int64 // commit record create attempts
	successPuts  atomic.Int64 // _SUCCESS writes
	successWins  atomic.Int64 // _SUCCESS writes that succeeded
	dataStats    atomic.Int64 // HEADs of committed data files (verification)
	inputGets    atomic.Int64 // GETs of keys outside the output (inputs)
	uploads      atomic.Int64 // files written as open uploads
	uploadReqs   atomic.Int64 // their requests: one to start each, one per part
	markerPuts   atomic.Int64 // marker creations
	lists        atomic.Int64 // listings of objects and of open uploads
	aborts       atomic.Int64 // uploads aborted
	other        atomic.Int64 // every other request
	markerPrefix string
	outPrefix    string // the output's prefix: GETs elsewhere are input reads
}

// countingStore counts one engine's requests into c; listed is
// incremented on each listing of the marker prefix (each look at whether
// the job is finished). It keeps the store's uploads (objstore.Uploader),
// so that the engine writes and commits without copies.
type countingStore struct {
	objstore.Bucket
	c      *endCounts
	listed *atomic.Int64
	// gate, when set, holds every copy and upload completion until it
	// returns.
	gate func()
}

var _ objstore.Uploader = (*countingStore)(nil)

func (s *countingStore) List(ctx context.Context, prefix string, opts *objstore.ListOptions) iter.Seq2[objstore.ObjectInfo, error] {
	if prefix == s.c.markerPrefix && s.listed != nil {
		s.listed.Add(1)
	}
	s.c.lists.Add(1)
	return s.Bucket.List(ctx, prefix, opts)
}

func (s *countingStore) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	switch {
	case strings.HasPrefix(key, s.c.markerPrefix):
		s.c.markerGets.Add(1)
	case s.c.outPrefix != "" && !strings.HasPrefix(key, s.c.outPrefix):
		s.c.inputGets.Add(1)
	default:
		s.c.other.Add(1)
	}
	return s.Bucket.Get(ctx, key, opts)
}

func (s *countingStore) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if !strings.Contains(key, "/_") {
		s.c.dataStats.Add(1)
	} else {
		s.c.other.Add(1)
	}
	return s.Bucket.Stat(ctx, key)
}

func (s *countingStore) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	switch {
	case strings.HasSuffix(key, "_fanout/OWNER") && opts != nil && opts.IfMatch != "":
		s.c.fences.Add(1)
	case strings.HasSuffix(key, "/_COMMITTED"):
		s.c.commitPuts.Add(1)
	case strings.HasSuffix(key, "/_SUCCESS"):
		s.c.successPuts.Add(1)
		info, err := s.Bucket.Put(ctx, key, r, opts)
		if err == nil {
			s.c.successWins.Add(1)
		}
		return info, err
	case strings.HasPrefix(key, s.c.markerPrefix) && opts != nil && opts.IfNoneMatch:
		s.c.markerPuts.Add(1)
	default:
		s.c.other.Add(1)
	}
	return s.Bucket.Put(ctx, key, r, opts)
}

func (s *countingStore) Copy(ctx context.Context, dst, src string, opts *objstore.CopyOptions) (objstore.ObjectInfo, error) {
	s.c.published.Add(1)
	if s.gate != nil {
		s.gate()
	}
	return s.Bucket.Copy(ctx, dst, src, opts)
}

func (s *countingStore) Delete(ctx context.Context, key string) error {
	s.c.other.Add(1)
	return s.Bucket.Delete(ctx, key)
}

func (s *countingStore) PutUpload(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.Upload, error) {
	u, err := s.Bucket.(objstore.Uploader).PutUpload(ctx, key, r, opts)
	if err == nil {
		s.c.uploads.Add(1)
		s.c.uploadReqs.Add(1 + int64(len(u.Parts)))
	}
	return u, err
}

func (s *countingStore) CompleteUpload(ctx context.Context, u objstore.Upload) (objstore.ObjectInfo, error) {
	s.c.published.Add(1)
	if s.gate != nil {
		s.gate()
	}
	return s.Bucket.(objstore.Uploader).CompleteUpload(ctx, u)
}

func (s *countingStore) AbortUpload(ctx context.Context, key, id string) error {
	s.c.aborts.Add(1)
	return s.Bucket.(objstore.Uploader).AbortUpload(ctx, key, id)
}

func (s *countingStore) ListUploads(ctx context.Context, prefix string) iter.Seq2[objstore.Upload, error] {
	s.c.lists.Add(1)
	return s.Bucket.(objstore.Uploader).ListUploads(ctx, prefix)
}

// leaseCounter counts an engine's tries of the commit lease.
type leaseCounter struct {
	*redisqueue.Queue
	tries *atomic.Int64
}

func (l leaseCounter) LeaseCommit(ctx context.Context, job, holder string, ttl time.Duration) (bool, error) {
	l.tries.Add(1)
	return l.Queue.LeaseCommit(ctx, job, holder, ttl)
}

// TestEightIdleWorkersCommitOnce runs a job with eight worker engines (as
// eight processes or Lambda invocations would) and no driver: the idle
// workers commit it. The first upload completion of a commit is held until every
// other engine has tried the commit lease once more, its try begun after the
// holder's commit had begun (each would then have started a commit of its
// own without it; an idle worker tries again at its next look, 16 s later
// once it found another engine committing). All requests of the job's
// end are counted: exactly one commit's worth (each marker read once, each
// file's upload completed once, one fence, one commit record, one
// _SUCCESS, no file verified), and while the commit runs the other
// engines list no marker (settling the job's dead tasks, which lists them
// all, is under the lease too: without it every idle worker of a fleet
// listed every marker each second while one committed).
func TestEightIdleWorkersCommitOnce(t *testing.T) {
	const workers = 8
	r := newFaultRig(t, 12, 60)
	spec := r.spec("out/", 10*time.Second, "convert")
	info, err := r.engine(engineOptions{name: "submit"}).Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	c := &endCounts{markerPrefix: "out/_fanout/" + info.Job + "/chunks/"}
	var listed, tries [workers]atomic.Int64
	var (
		armed     sync.Once
		listedAt  [workers]int64
		gateOpen  = make(chan struct{})
		gateClose sync.Once
	)
	gate := func(holder int) {
		armed.Do(func() {
			var triedAt [workers]int64
			for i := range listed {
				listedAt[i], triedAt[i] = listed[i].Load(), tries[i].Load()
			}
			go func() {
				defer gateClose.Do(func() { close(gateOpen) })
				deadline := time.Now().Add(30 * time.Second)
				for time.Now().Before(deadline) {
					tried := 0
					for i := range tries {
						if i != holder && tries[i].Load() >= triedAt[i]+1 {
							tried++
						}
					}
					if tried == workers-1 {
						for i := range listed {
							if n := listed[i].Load() - listedAt[i]; i != holder && n > 0 {
								t.Errorf("worker %d listed the job's markers %d times while another committed", i, n)
							}
						}
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				t.Errorf("not every idle worker tried the commit lease within 30s")
			}()
		})
		<-gateOpen
	}
	stops := make([]func(), workers)
	for i := range workers {
		e := r.engine(engineOptions{name: fmt.Sprint("w", i),
			admin: func(q fanout.QueueAdmin) fanout.QueueAdmin {
				return leaseCounter{Queue: q.(*redisqueue.Queue), tries: &tries[i]}
			},
			store: func(b objstore.Bucket) objstore.Bucket {
				return &countingStore{Bucket: b, c: c, listed: &listed[i], gate: func() { gate(i) }}
			}})
		stops[i] = work(t, e, info.Job, 1, nil)
	}
	q := r.queue()
	localstack.Poll(t, 2*time.Minute, "the idle workers to commit the job and finish it in the queue", func() bool {
		_, err := q.Stats(context.Background(), info.Job)
		return errors.Is(err, fanout.ErrUnknownJob)
	})
	for _, stop := range stops {
		stop()
	}
	committed := r.check("out/", info.Job)
	counts := map[string][2]int64{
		"marker reads":       {c.markerGets.Load(), int64(committed.Chunks)},
		"completions":        {c.published.Load(), int64(len(committed.Files))},
		"fences":             {c.fences.Load(), 1},
		"commit record PUTs": {c.commitPuts.Load(), 1},
		"_SUCCESS PUTs":      {c.successPuts.Load(), 1},
		"data file HEADs":    {c.dataStats.Load(), 0},
	}
	for what, gw := range counts {
		if gw[0] != gw[1] {
			t.Errorf("%s at the job's end: got %d, want %d (one commit's worth)", what, gw[0], gw[1])
		}
	}
	t.Logf("%d idle workers, %d chunks, %d files: %d marker reads, %d upload completions, 1 commit", workers, committed.Chunks, len(committed.Files), c.markerGets.Load(), c.published.Load())
}

// recordGetCounter counts the GETs of commit records.
type recordGetCounter struct {
	*countingStore
	n *atomic.Int64
}

func (s recordGetCounter) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	if strings.HasSuffix(key, "/_COMMITTED") {
		s.n.Add(1)
	}
	return s.countingStore.Get(ctx, key, opts)
}

// TestVerifierWaitsForTheCommitter: a look at a job whose commit record
// is written but whose _SUCCESS is not yet (its committer is between the
// two) neither finishes the commit beside the committer nor writes
// _SUCCESS itself: it finds the commit lease held and reports the job
// busy. Before, it verified the files and made a second create-only
// _SUCCESS PUT, one of the two losing (the extra attempt
// TestRequestsPerMapChunkAndCommit saw under load).
func TestVerifierWaitsForTheCommitter(t *testing.T) {
	r := newFaultRig(t, 3, 60)
	info := finishedUploadJob(t, r, "out/")
	c := &endCounts{markerPrefix: "out/_fanout/" + info.Job + "/chunks/", outPrefix: "out/"}
	atSuccess, letGo := make(chan struct{}), make(chan struct{})
	var once sync.Once
	committer := r.engine(engineOptions{name: "committer", store: func(b objstore.Bucket) objstore.Bucket {
		return &uploadHooks{Bucket: &countingStore{Bucket: b, c: c}, before: func(op, key string, _ *objstore.PutOptions) error {
			if op == "put" && strings.HasSuffix(key, "/_SUCCESS") {
				once.Do(func() { close(atSuccess) })
				<-letGo
			}
			return nil
		}}
	}})
	type result struct {
		res fanout.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := committer.TryCommit(context.Background(), info.Manifest.Spec.Output, info.Job)
		done <- result{res, err}
	}()
	select {
	case <-atSuccess:
	case r := <-done:
		t.Fatalf("the commit ended before writing _SUCCESS: %v, %+v", r.err, r.res)
	}
	look := r.engine(engineOptions{name: "look", store: func(b objstore.Bucket) objstore.Bucket {
		return &countingStore{Bucket: b, c: c}
	}})
	a, err := look.Advance(context.Background(), info.Manifest.Spec.Output, info.Job)
	// An idle worker bound to the job looks at it too (advanceIdle, which
	// trusts _SUCCESS): it finds the record, tries the commit lease and
	// waits, without reading the record (every idle worker of the scale
	// simulation's 1,000 read and decoded the record of 100,000 files
	// every few seconds until _SUCCESS).
	var tries, recordGets atomic.Int64
	idle := r.engine(engineOptions{name: "idle",
		admin: func(q fanout.QueueAdmin) fanout.QueueAdmin {
			return leaseCounter{Queue: q.(*redisqueue.Queue), tries: &tries}
		},
		store: func(b objstore.Bucket) objstore.Bucket {
			return recordGetCounter{countingStore: &countingStore{Bucket: b, c: &endCounts{}}, n: &recordGets}
		}})
	stopIdle := work(t, idle, info.Job, 1, nil)
	localstack.Poll(t, time.Minute, "the idle worker to try the commit lease twice", func() bool { return tries.Load() >= 2 })
	stopIdle()
	if n := recordGets.Load(); n != 0 {
		t.Errorf("an idle worker read the commit record %d times while the committer held the lease, want 0", n)
	}
	close(letGo)
	if err != nil || a.Done || !a.Busy {
		t.Errorf("a look while the committer writes _SUCCESS: got %v, %+v; want busy and not done", err, a)
	}
	if n := c.successPuts.Load(); n != 0 {
		t.Errorf("_SUCCESS PUTs before the committer's: got %d, want 0", n)
	}
	got := <-done
	if got.err != nil || got.res.State != fanout.StateCommitted {
		t.Fatalf("the commit: %v, %+v", got.err, got.res)
	}
	res, err := look.TryCommit(context.Background(), info.Manifest.Spec.Output, info.Job)
	if err != nil || res.State != fanout.StateCommitted {
		t.Errorf("a look after the commit: got %v, %+v; want committed", err, res)
	}
	r.check("out/", info.Job)
	if n, w := c.successPuts.Load(), c.successWins.Load(); n != 1 || w != 1 {
		t.Errorf("_SUCCESS PUTs: got %d (%d succeeded), want 1 (1)", n, w)
	}
}

// leaseWatch tells which holder has the job's commit lease, and counts
// the tries of other holders while one has it.
type leaseWatch struct {
	*redisqueue.Queue
	mu     sync.Mutex
	holder string
	others atomic.Int64
}

func (l *leaseWatch) LeaseCommit(ctx context.Context, job, holder string, ttl time.Duration) (bool, error) {
	ok, err := l.Queue.LeaseCommit(ctx, job, holder, ttl)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case ok && err == nil:
		l.holder = holder
	case l.holder != "" && holder != l.holder:
		l.others.Add(1)
	}
	return ok, err
}

func (l *leaseWatch) ReleaseCommit(ctx context.Context, job, holder string) error {
	l.mu.Lock()
	if l.holder == holder {
		l.holder = ""
	}
	l.mu.Unlock()
	return l.Queue.ReleaseCommit(ctx, job, holder)
}

func (l *leaseWatch) held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holder != ""
}

// TestWaitLetsItsWorkerFinishTheCommit: Wait's own idle worker commits the
// job (its look is held until the worker writes _SUCCESS), and Wait then
// finds the commit record. Wait stops its workers before it commits or
// verifies, and did so before it took the commit lease: it cut short
// its worker's _SUCCESS PUT, which MinIO had written (the request is let
// through here, its response lost to the cancel, as under load), and
// verified the job itself: TestRequestsPerMapChunkAndCommit's "_SUCCESS
// PUTs that succeeded: got 0, want 1" on a loaded machine. Now Wait finds
// the lease held and waits: one _SUCCESS PUT, and it succeeds.
func TestWaitLetsItsWorkerFinishTheCommit(t *testing.T) {
	r := newFaultRig(t, 3, 60)
	info := finishedUploadJob(t, r, "out/")
	c := &endCounts{markerPrefix: "out/_fanout/" + info.Job + "/chunks/", outPrefix: "out/"}
	var leases *leaseWatch
	atSuccess := make(chan struct{})
	var once sync.Once
	var cut atomic.Bool
	hold := func(what string, until func() bool) {
		deadline := time.Now().Add(time.Minute)
		for !until() {
			if time.Now().After(deadline) {
				t.Errorf("%s: not released within a minute", what)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	e := r.engine(engineOptions{name: "wait",
		admin: func(q fanout.QueueAdmin) fanout.QueueAdmin {
			leases = &leaseWatch{Queue: q.(*redisqueue.Queue)}
			return leases
		},
		store: func(b objstore.Bucket) objstore.Bucket {
			cs := &countingStore{Bucket: b, c: c}
			return &successHold{countingStore: cs,
				get: func(key string) {
					// Only Wait reads the commit record without the lease
					// (an idle worker HEADs it): hold its looks until the
					// worker commits.
					if strings.HasSuffix(key, "/_COMMITTED") && !leases.held() {
						hold("Wait's look", func() bool {
							select {
							case <-atSuccess:
								return true
							default:
								return false
							}
						})
					}
				},
				put: func(ctx context.Context, put func(context.Context) error) error {
					once.Do(func() { close(atSuccess) })
					// Let Wait find the record; go on once it tried the
					// lease or cancelled this commit.
					tried := leases.others.Load()
					hold("the worker's _SUCCESS PUT", func() bool { return ctx.Err() != nil || leases.others.Load() > tried })
					if ctx.Err() != nil {
						cut.Store(true)
						return errors.Join(put(context.WithoutCancel(ctx)), ctx.Err())
					}
					return put(ctx)
				}}
		}})
	res, err := e.Wait(context.Background(), info.Manifest.Spec.Output, info.Job, fanout.RunOptions{Workers: 1})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("wait: %v, %+v", err, res)
	}
	r.check("out/", info.Job)
	if cut.Load() {
		t.Errorf("Wait cancelled its worker's _SUCCESS PUT while the worker held the commit lease")
	}
	if got, wins := c.successPuts.Load(), c.successWins.Load(); got != 1 || wins != 1 {
		t.Errorf("_SUCCESS PUTs: got %d (%d succeeded), want 1 (1 succeeded)", got, wins)
	}
	if n := c.commitPuts.Load(); n != 1 {
		t.Errorf("commit record PUTs: got %d, want 1", n)
	}
}

// successHold runs get before every GET and routes the _SUCCESS PUT
// through put.
type successHold struct {
	*countingStore
	get func(key string)
	put func(ctx context.Context, put func(context.Context) error) error
}

func (s *successHold) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	s.get(key)
	return s.countingStore.Get(ctx, key, opts)
}

func (s *successHold) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (info objstore.ObjectInfo, err error) {
	if !strings.HasSuffix(key, "/_SUCCESS") {
		return s.countingStore.Put(ctx, key, r, opts)
	}
	err = s.put(ctx, func(ctx context.Context) error {
		var perr error
		info, perr = s.countingStore.Put(ctx, key, r, opts)
		return perr
	})
	return info, err
}
