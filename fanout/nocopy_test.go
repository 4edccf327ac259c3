package fanout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// uploadHooks wraps a store with uploads (objstore.Uploader) and keeps
// them: before may fail a write (op "put", "delete", "copy", "complete",
// "abort") before it is made; after sees each write's result and may
// replace its error (a response lost after the store did the work).
type uploadHooks struct {
	objstore.Bucket
	before func(op, key string, opts *objstore.PutOptions) error
	after  func(op, key string, err error) error
	// upload, when set, changes the upload a completion is asked for.
	upload func(objstore.Upload) objstore.Upload
}

var _ objstore.Uploader = (*uploadHooks)(nil)

func (s *uploadHooks) up() objstore.Uploader { return s.Bucket.(objstore.Uploader) }

func (s *uploadHooks) hook(op, key string, opts *objstore.PutOptions, do func() error) error {
	if s.before != nil {
		if err := s.before(op, key, opts); err != nil {
			return err
		}
	}
	err := do()
	if s.after != nil {
		err = s.after(op, key, err)
	}
	return err
}

func (s *uploadHooks) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (info objstore.ObjectInfo, err error) {
	err = s.hook("put", key, opts, func() error { info, err = s.Bucket.Put(ctx, key, r, opts); return err })
	return info, err
}

func (s *uploadHooks) Delete(ctx context.Context, key string) error {
	return s.hook("delete", key, nil, func() error { return s.Bucket.Delete(ctx, key) })
}

func (s *uploadHooks) Copy(ctx context.Context, dst, src string, opts *objstore.CopyOptions) (info objstore.ObjectInfo, err error) {
	err = s.hook("copy", dst, nil, func() error { info, err = s.Bucket.Copy(ctx, dst, src, opts); return err })
	return info, err
}

func (s *uploadHooks) PutUpload(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.Upload, error) {
	return s.up().PutUpload(ctx, key, r, opts)
}

func (s *uploadHooks) CompleteUpload(ctx context.Context, u objstore.Upload) (info objstore.ObjectInfo, err error) {
	if s.upload != nil {
		u = s.upload(u)
	}
	err = s.hook("complete", u.Key, nil, func() error { info, err = s.up().CompleteUpload(ctx, u); return err })
	return info, err
}

func (s *uploadHooks) AbortUpload(ctx context.Context, key, id string) error {
	return s.hook("abort", key, nil, func() error { return s.up().AbortUpload(ctx, key, id) })
}

func (s *uploadHooks) ListUploads(ctx context.Context, prefix string) iter.Seq2[objstore.Upload, error] {
	return s.up().ListUploads(ctx, prefix)
}

// keepUploads, embedded beside objstore.Bucket in a test's wrapper of a
// store with uploads, keeps them (objstore.Uploader), so that engines
// behind the wrapper write and commit without copies, as on the store
// itself.
type keepUploads struct{ objstore.Uploader }

func uploadsOf(b objstore.Bucket) keepUploads { return keepUploads{b.(objstore.Uploader)} }

// withUploads gives w, a wrapper of b, b's uploads.
func withUploads(b, w objstore.Bucket) objstore.Bucket {
	return struct {
		objstore.Bucket
		keepUploads
	}{w, uploadsOf(b)}
}

// uploadsNoCommit is noCommit keeping the store's uploads: the workers of
// a job finished with it write open uploads, and its commits fail their
// fence.
func uploadsNoCommit(b objstore.Bucket) objstore.Bucket {
	return &uploadHooks{Bucket: b, before: func(op, key string, opts *objstore.PutOptions) error {
		if op == "put" && strings.HasSuffix(key, "_fanout/OWNER") && opts != nil && opts.IfMatch != "" {
			return errNoCommit
		}
		return nil
	}}
}

// finishedUploadJob runs every chunk of a convert job writing to out to
// its marker, without committing, on workers that write open uploads.
func finishedUploadJob(t *testing.T, r *faultRig, out string) fanout.PlanInfo {
	t.Helper()
	e := r.engine(engineOptions{name: "worker", store: uploadsNoCommit})
	info, err := e.Submit(context.Background(), r.spec(out, 10*time.Second, "convert"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Work(context.Background(), fanout.WorkOptions{Concurrency: 2, Job: info.Job, ExitWhenIdle: true}); err != nil {
		t.Fatal(err)
	}
	return info
}

// openUploads lists the job's open uploads under out.
func openUploads(t *testing.T, r *faultRig, out, job string) []objstore.Upload {
	t.Helper()
	var ups []objstore.Upload
	for u, err := range fanout.JobUploads(context.Background(), r.store, manifest.NewLayout(out), job) {
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	return ups
}

// orphanUpload opens an upload of the first committed file's key, with
// other bytes, as an attempt killed before its marker write leaves: the
// commit must abort it, and it must never be the file's content.
func orphanUpload(t *testing.T, r *faultRig, key string) objstore.Upload {
	t.Helper()
	u, err := r.store.(objstore.Uploader).PutUpload(context.Background(), key, strings.NewReader(`{"id":"orphan"}`+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// markerUploads reads the uploads the job's markers name.
func markerUploads(t *testing.T, r *faultRig, out, job string) []string {
	t.Helper()
	var keys []string
	for info, err := range r.store.List(context.Background(), out+"_fanout/"+job+"/chunks/", nil) {
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := r.store.Get(context.Background(), info.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		m, err := manifest.DecodeMarker(body)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m.Files {
			if f.Upload == nil {
				t.Fatalf("marker %s names %s without an upload: the workers copied", info.Key, f.Key)
			}
			keys = append(keys, f.Key)
		}
	}
	slices.Sort(keys)
	return keys
}

// TestNoCopyCommitOnMinIO runs a job whose workers write their files as
// open multipart uploads of the final keys. Before the commit, a listing
// of the output prefix shows no data object (nothing a glob matches: only
// the job's bookkeeping under _fanout/), while the uploads are open; the
// commit completes them without a copy (no Copy call at all), aborts an
// orphan upload of the job, and the oracle finds every record once.
func TestNoCopyCommitOnMinIO(t *testing.T) {
	r := newFaultRig(t, 4, 120)
	info := finishedUploadJob(t, r, "out/")
	keys := markerUploads(t, r, "out/", info.Job)
	if len(keys) != 4 {
		t.Fatalf("the markers name %d uploaded files, want 4 (one per chunk)", len(keys))
	}
	for o, err := range r.store.List(context.Background(), "out/", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(o.Key, "out/_fanout/") || slices.Contains(faulttest.DataExtensions, path.Ext(o.Key)) ||
			strings.HasSuffix(o.Key, manifest.StagedSuffix) {
			t.Errorf("before the commit the output lists %s", o.Key)
		}
	}
	if got := len(openUploads(t, r, "out/", info.Job)); got != 4 {
		t.Fatalf("%d open uploads before the commit, want 4", got)
	}
	orphan := orphanUpload(t, r, keys[0])
	var copies atomic.Int64
	e := r.engine(engineOptions{name: "committer", store: func(b objstore.Bucket) objstore.Bucket {
		return &uploadHooks{Bucket: b, before: func(op, _ string, _ *objstore.PutOptions) error {
			if op == "copy" {
				copies.Add(1)
			}
			return nil
		}}
	}})
	res, err := e.TryCommit(context.Background(), info.Manifest.Spec.Output, info.Job)
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("commit: %v, %+v", err, res)
	}
	if copies.Load() != 0 {
		t.Errorf("the commit copied %d objects, want none", copies.Load())
	}
	c := r.check("out/", info.Job)
	if ups := openUploads(t, r, "out/", info.Job); len(ups) != 0 {
		t.Errorf("open uploads after the commit: %+v (the orphan was %s)", ups, orphan.ID)
	}
	t.Logf("%d files committed by completing their uploads, 0 copies; %d records once; the orphan upload aborted", len(c.Files), c.Records)
}

// TestNoCopyCommitCrashAtEveryStep kills the committer after each of its
// writes in turn (a store that fails every write after the k-th: the
// fence, each completion, the commit record, _SUCCESS, the cleanup's
// aborts) and then commits again with a healthy store: every time the
// output is exact by the oracle and no upload of the job is left open.
func TestNoCopyCommitCrashAtEveryStep(t *testing.T) {
	r := newFaultRig(t, 3, 60)
	total := -1
	for k := 0; total < 0 || k <= total; k++ {
		out := fmt.Sprintf("k%d/", k)
		info := finishedUploadJob(t, r, out)
		keys := markerUploads(t, r, out, info.Job)
		orphanUpload(t, r, keys[len(keys)-1])
		var steps atomic.Int64
		var mu sync.Mutex
		var ops []string
		crashing := r.engine(engineOptions{name: "crashing", admin: noLease, store: func(b objstore.Bucket) objstore.Bucket {
			return &uploadHooks{Bucket: b, before: func(op, key string, _ *objstore.PutOptions) error {
				if steps.Add(1) > int64(k) {
					return errCrash
				}
				mu.Lock()
				ops = append(ops, op+" "+strings.TrimPrefix(key, out))
				mu.Unlock()
				return nil
			}}
		}})
		_, err := crashing.TryCommit(context.Background(), info.Manifest.Spec.Output, info.Job)
		if total < 0 {
			// k = 0 fails the first write; count the steps of a whole
			// commit with a store that does not fail.
			if err == nil {
				t.Fatal("a commit whose every write fails succeeded")
			}
			whole := r.engine(engineOptions{name: "counting", admin: noLease, store: func(b objstore.Bucket) objstore.Bucket {
				return &uploadHooks{Bucket: b, before: func(op, key string, _ *objstore.PutOptions) error {
					steps.Add(1)
					mu.Lock()
					ops = append(ops, op+" "+strings.TrimPrefix(key, out))
					mu.Unlock()
					return nil
				}}
			}})
			steps.Store(0)
			ops = nil
			if _, err := whole.TryCommit(context.Background(), info.Manifest.Spec.Output, info.Job); err != nil {
				t.Fatal(err)
			}
			total = int(steps.Load())
			t.Logf("a whole commit makes %d writes: %s", total, strings.Join(ops, ", "))
		} else {
			t.Logf("k=%d: crashed after %q: %v", k, ops, err)
			res, err := r.engine(engineOptions{name: "next", admin: noLease}).TryCommit(context.Background(), info.Manifest.Spec.Output, info.Job)
			if err != nil || res.State != fanout.StateCommitted {
				t.Fatalf("k=%d: the commit after the crash: %v, %+v", k, err, res)
			}
		}
		r.check(out, info.Job)
		if ups := openUploads(t, r, out, info.Job); len(ups) != 0 {
			t.Errorf("k=%d: %d uploads of the job left open", k, len(ups))
		}
	}
}

// TestNoCopyCommitLostCompletion loses the response of a completion that
// the store made (the committer sees an error): that commit fails; the
// next one finds the upload gone and recognises the object at its key as
// the upload's completion, here without the ETag computed from the parts
// (the conformance suite's Uploads covers that): by its size, as on a
// bucket whose ETags encryption makes opaque. The job commits exactly.
func TestNoCopyCommitLostCompletion(t *testing.T) {
	r := newFaultRig(t, 3, 60)
	info := finishedUploadJob(t, r, "out/")
	var lost atomic.Bool
	var lostKey atomic.Value
	errLost := errors.New("injected: the completion's response was lost")
	e := r.engine(engineOptions{name: "lossy", admin: noLease, store: func(b objstore.Bucket) objstore.Bucket {
		return &uploadHooks{Bucket: b, after: func(op, key string, err error) error {
			if op == "complete" && err == nil && lost.CompareAndSwap(false, true) {
				lostKey.Store(key)
				return errLost
			}
			return err
		}}
	}})
	if _, err := e.TryCommit(context.Background(), info.Manifest.Spec.Output, info.Job); !errors.Is(err, errLost) {
		t.Fatalf("commit with a lost completion: got %v, want the lost response", err)
	}
	// The next committer cannot tell the completed object by its ETag
	// (as on a bucket that encrypts by default: ETags are not MD5s), so
	// it goes by what only the winner's completion can have put there.
	opaque := func(u objstore.Upload) objstore.Upload {
		if u.Key != lostKey.Load() {
			return u
		}
		u.Parts = slices.Clone(u.Parts)
		u.Parts[0].ETag = strings.Repeat("0", 32)
		return u
	}
	res, err := r.engine(engineOptions{name: "next", admin: noLease, store: func(b objstore.Bucket) objstore.Bucket {
		return &uploadHooks{Bucket: b, upload: opaque}
	}}).TryCommit(context.Background(), info.Manifest.Spec.Output, info.Job)
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("the commit after the lost completion: %v, %+v", err, res)
	}
	r.check("out/", info.Job)
	if ups := openUploads(t, r, "out/", info.Job); len(ups) != 0 {
		t.Errorf("%d uploads of the job left open: %+v", len(ups), ups)
	}
}

// TestRequestsPerMapChunkAndCommit counts every store request of a
// map-only convert on MinIO on the happy path (one engine runs the chunks
// and commits; planning is another's and not counted) and pins the
// budget per map chunk: at most one GET per input part, one request to
// start each output file's upload plus one per part, one marker PUT; and
// at the commit one request per output file (its completion: no copy)
// plus listings. The README prints the numbers.
func TestRequestsPerMapChunkAndCommit(t *testing.T) {
	r := newFaultRig(t, 8, 200)
	spec := r.spec("out/", 10*time.Second, "convert")
	info, err := r.engine(engineOptions{name: "planner"}).Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	c := &endCounts{markerPrefix: "out/_fanout/" + info.Job + "/chunks/", outPrefix: "out/"}
	e := r.engine(engineOptions{name: "worker", store: func(b objstore.Bucket) objstore.Bucket {
		return &countingStore{Bucket: b, c: c}
	}})
	res, err := e.Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("run: %v, %+v", err, res)
	}
	committed := r.check("out/", info.Job)
	chunks, files := int64(committed.Chunks), int64(len(committed.Files))
	parts := c.uploadReqs.Load() - c.uploads.Load()
	inputParts := int64(0)
	for range info.Manifest.Chunks {
		inputParts++ // one object per chunk (MaxObjectsPerChunk 1), read whole
	}
	checks := []struct {
		what      string
		got, want int64
		atMost    bool
	}{
		{"input GETs", c.inputGets.Load(), inputParts, true},
		{"files written as uploads", c.uploads.Load(), files, false},
		{"upload requests (start + parts)", c.uploadReqs.Load(), files + parts, false},
		{"marker PUTs", c.markerPuts.Load(), chunks, false},
		{"completions at the commit", c.published.Load(), files, false},
		{"aborted uploads", c.aborts.Load(), 0, false},
		{"commit record PUTs", c.commitPuts.Load(), 1, false},
		// Exactly one attempt: a second (a create-only PUT losing the
		// race) came from a look at the job that found the commit
		// record without _SUCCESS and finished the commit beside its
		// committer; verifying now takes the commit lease too.
		{"_SUCCESS PUTs", c.successPuts.Load(), 1, false},
		{"_SUCCESS PUTs that succeeded", c.successWins.Load(), 1, false},
	}
	for _, ck := range checks {
		if ck.got > ck.want || !ck.atMost && ck.got != ck.want {
			t.Errorf("%s: got %d, want %s%d", ck.what, ck.got, map[bool]string{true: "at most "}[ck.atMost], ck.want)
		}
	}
	per := func(n int64) string { return fmt.Sprintf("%.2f", float64(n)/float64(chunks)) }
	t.Logf("%d map chunks, %d output files (%d parts): per chunk %s input GETs, %s upload requests, %s marker PUTs; commit: %d completions (%s per chunk), %d listings over the whole job, 1 fence, 1 commit record, 1 _SUCCESS; other requests (manifest, shards, owner, checks) %d",
		chunks, files, parts, per(c.inputGets.Load()), per(c.uploadReqs.Load()), per(c.markerPuts.Load()),
		c.published.Load(), per(c.published.Load()), c.lists.Load(), c.other.Load())
}

// BenchmarkCommit measures, on MinIO, the commit of a map-only job (the
// copy function, one file per input object) writing
// FANOUT_BENCH_COMMIT_BYTES (default 64MiB) in FANOUT_BENCH_COMMIT_FILES
// (default 200) files, both ways in one run over the same input: the copy
// commit (a store without uploads: workers stage each file, the commit
// copies every byte into place) and the no-copy commit (workers write open
// uploads of the final keys, the commit completes them). It reports the
// commit's wall time (commit-s); scripts/bench.sh runs it at 4GiB in 2,000
// files.
func BenchmarkCommit(b *testing.B) {
	size, files := int64(64<<20), 200
	if v := os.Getenv("FANOUT_BENCH_COMMIT_BYTES"); v != "" {
		n, err := manifest.ParseSize(v)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	if v := os.Getenv("FANOUT_BENCH_COMMIT_FILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("FANOUT_BENCH_COMMIT_FILES=%q: want a positive number", v)
		}
		files = n
	}
	r := newFaultRig(b, 0, 0)
	line := strings.Repeat("0123456789", 10)[:99] + "\n"
	body := []byte(strings.Repeat(line, int(max(size/int64(files)/100, 1))))
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(8)
	for i := range files {
		g.Go(func() error {
			_, err := r.store.Put(ctx, fmt.Sprintf("in/o%05d.txt", i), bytes.NewReader(body), &objstore.PutOptions{Size: int64(len(body))})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	hide := func(s objstore.Bucket) objstore.Bucket { return struct{ objstore.Bucket }{s} } // no uploads: the copy commit
	for _, mode := range []string{"copy", "no-copy"} {
		b.Run("commit="+mode, func(b *testing.B) {
			for i := range b.N {
				workers, committer := uploadsNoCommit, func(s objstore.Bucket) objstore.Bucket { return s }
				if mode == "copy" {
					workers = func(s objstore.Bucket) objstore.Bucket { return noCommit(hide(s)) }
					committer = hide
				}
				spec := r.spec(fmt.Sprintf("%s-%d/", mode, i), time.Minute, "copy")
				e := r.engine(engineOptions{name: "worker", store: workers, functions: registryWith(copyFn{})})
				info, err := e.Submit(context.Background(), spec)
				if err != nil {
					b.Fatal(err)
				}
				if err := e.Work(context.Background(), fanout.WorkOptions{Concurrency: 4, Job: info.Job, ExitWhenIdle: true}); err != nil {
					b.Fatal(err)
				}
				c := r.engine(engineOptions{name: "committer", store: committer, functions: registryWith(copyFn{})})
				start := time.Now()
				res, err := c.TryCommit(context.Background(), spec.Output, info.Job)
				if err != nil || res.State != fanout.StateCommitted {
					b.Fatalf("commit: %v, %+v", err, res)
				}
				b.ReportMetric(time.Since(start).Seconds(), "commit-s")
				b.ReportMetric(float64(res.BytesOut)/(1<<20), "out-MiB")
				b.ReportMetric(float64(res.Files), "files")
			}
		})
	}
}

// TestNoCopyCommitLostUploadRerunsItsChunk: a winning upload is gone when
// the commit comes (MinIO breaks one whose completion was cut off; a
// lifecycle rule or gc may abort one). The commit gives its chunk back:
// the chunk runs again on Wait's own workers, whose new upload the next
// commit completes, and the job commits every record exactly once (the
// oracle), the output fenced for it throughout.
func TestNoCopyCommitLostUploadRerunsItsChunk(t *testing.T) {
	r := newFaultRig(t, 3, 60)
	info := finishedUploadJob(t, r, "out/")
	ups := openUploads(t, r, "out/", info.Job)
	if len(ups) != 3 {
		t.Fatalf("%d open uploads, want the 3 chunks' winners", len(ups))
	}
	if err := r.store.(objstore.Uploader).AbortUpload(context.Background(), ups[1].Key, ups[1].ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := r.engine(engineOptions{name: "driver"}).Wait(ctx, info.Manifest.Spec.Output, info.Job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("got %v, %+v; want the lost upload's chunk run again and the job committed", err, res)
	}
	r.check("out/", info.Job)
	if left := openUploads(t, r, "out/", info.Job); len(left) != 0 {
		t.Errorf("%d uploads left open after the commit", len(left))
	}
}
