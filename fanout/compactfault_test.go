package fanout_test

// The compaction stage under faults: a compacted file's upload lost at the
// commit, a compaction task failing for good then redriven, a map chunk
// failing within --max-failed. Real MinIO and Redis; each ends in the
// oracle.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// compactMarkers reads the job's compaction markers under out (of every
// plan) by task.
func compactMarkers(t *testing.T, r *faultRig, out, job string) map[string]*manifest.ChunkMarker {
	t.Helper()
	return markersUnder(t, r, manifest.NewLayout(out).CompactMarkerPrefix(job))
}

// readCompactPlan reads the job's compaction plan under out.
func readCompactPlan(t *testing.T, r *faultRig, out, job string) *manifest.CompactPlan {
	t.Helper()
	rc, _, err := r.store.Get(context.Background(), manifest.NewLayout(out).CompactPlanKey(job), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := manifest.DecodeCompactPlan(body)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestLostCompactedUploadRerunsItsTask: a compaction task's winning
// upload is gone when the commit comes (aborted by a lifecycle rule, or a
// completion cut off on MinIO). The commit gives the task back from under
// its plan (the plan stays, the same object), the task merges the same
// staged map files again, and the next commit completes its new upload:
// every record once (the oracle), files right-sized, no upload left open.
func TestLostCompactedUploadRerunsItsTask(t *testing.T) {
	r := newFaultRig(t, 12, 300)
	// Workers that cannot commit (the fence write fails) run every map
	// chunk and compaction task to its marker.
	w := r.engine(engineOptions{name: "worker", store: uploadsNoCommit})
	info, err := w.Submit(context.Background(), r.compactSpec("out/", 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	job := info.Job
	stop := work(t, w, job, 2, nil)
	layout := manifest.NewLayout("out/")
	localstack.Poll(t, 2*time.Minute, "every compaction task's marker", func() bool {
		if !r.exists(layout.CompactPlanKey(job)) {
			return false
		}
		return len(compactMarkers(t, r, "out/", job)) == readCompactPlan(t, r, "out/", job).NumTasks()
	})
	stop()
	plan := readCompactPlan(t, r, "out/", job)
	if plan.NumTasks() < 2 {
		t.Fatalf("the plan has %d compaction tasks, want several", plan.NumTasks())
	}
	before := compactMarkers(t, r, "out/", job)
	lost := before[manifest.CompactTaskID(1)]
	if lost == nil || len(lost.Files) == 0 || lost.Files[0].Upload == nil {
		t.Fatalf("compaction task k000001's marker is %+v, want one naming an open upload", lost)
	}
	if err := r.store.(objstore.Uploader).AbortUpload(context.Background(), lost.Files[0].Key, lost.Files[0].Upload.ID); err != nil {
		t.Fatal(err)
	}
	planInfo, err := r.store.Stat(context.Background(), layout.CompactPlanKey(job))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := r.engine(engineOptions{name: "committer"})
	res, err := e.Wait(ctx, info.Manifest.Spec.Output, job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("got %v, %+v; want the lost upload's compaction task run again and the job committed", err, res)
	}
	r.check("out/", job)
	checkRightSized(t, r, "out/", job, compactTarget)
	after := compactMarkers(t, r, "out/", job)
	if got := after[lost.Chunk]; got == nil || len(got.Files) == 0 || got.Files[0].Upload == nil ||
		got.Files[0].Upload.ID == lost.Files[0].Upload.ID || got.Plan != lost.Plan {
		t.Errorf("compaction task %s's marker after the commit: %+v; want a new attempt's (upload %s before) under the same plan %s", lost.Chunk, got, lost.Files[0].Upload.ID, lost.Plan)
	}
	for id, m := range before {
		if id != lost.Chunk && (after[id] == nil || !after[id].Started.Equal(m.Started)) {
			t.Errorf("compaction task %s ran again; only %s should", id, lost.Chunk)
		}
	}
	if now, err := r.store.Stat(context.Background(), layout.CompactPlanKey(job)); err != nil || now.ETag != planInfo.ETag {
		t.Errorf("compaction plan after the commit: %+v, %v; want the same object (ETag %s)", now, err, planInfo.ETag)
	}
	if left := openUploads(t, r, "out/", job); len(left) != 0 {
		t.Errorf("%d uploads left open after the commit", len(left))
	}
}

// TestRedriveAfterACompactionTaskFailed fails one compaction task for
// good (its output writes fail with a permanent error), so the job fails
// naming it; then redrives the job with the cause gone: the plan is made
// again from the same map markers, and the job commits every record once,
// right-sized.
func TestRedriveAfterACompactionTaskFailed(t *testing.T) {
	r := newFaultRig(t, 12, 300)
	var poisoned atomic.Bool
	poisoned.Store(true)
	task := manifest.CompactTaskID(0)
	poison := func(b objstore.Bucket) objstore.Bucket {
		return &faultStore{Bucket: b, put: func(key string, _ *objstore.PutOptions) error {
			if poisoned.Load() && strings.Contains(key, "/staging/"+manifest.ChunkSpread(task)+"/"+task+"/") {
				return functions.Permanent(errors.New("injected: the disk of compaction task 0 is full"))
			}
			return nil
		}}
	}
	e := r.engine(engineOptions{name: "a", store: poison})
	spec := r.compactSpec("out/", 10*time.Second)
	res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) || len(jf.Failed) != 1 || jf.Failed[0].Chunk != task {
		t.Fatalf("got %v, %+v; want the job failed naming compaction task %s", err, res, task)
	}
	job := jf.Job
	if r.exists("out/_SUCCESS") {
		t.Fatal("the failed job wrote _SUCCESS")
	}
	poisoned.Store(false)
	info, err := e.Redrive(context.Background(), spec.Output, job)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(info.Chunks) != "["+task+"]" {
		t.Errorf("redrive reports %v, want [%s]", info.Chunks, task)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err = e.Wait(ctx, spec.Output, job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("after redrive: %v, %+v", err, res)
	}
	r.check("out/", job)
	checkRightSized(t, r, "out/", job, compactTarget)
}

// TestCompactionWithinMaxFailed: one map chunk of a compacting job fails
// for good (a malformed record), within --max-failed 1. The plan is made
// from the other chunks' markers, and the job commits exactly the records
// of the other objects, right-sized, naming the failed chunk.
func TestCompactionWithinMaxFailed(t *testing.T) {
	const objects, rows = 12, 300
	r := newFaultRig(t, objects, rows)
	// Object 5 gets a line that is not JSON after its records: its chunk
	// fails for good.
	key := "in/part-05.jsonl"
	rc, _, err := r.store.Get(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	r.put(key, append(body, []byte("{not json\n")...))
	want := append(append([]string(nil), r.ids[:5*rows]...), r.ids[6*rows:]...)

	e := r.engine(engineOptions{name: "a"})
	spec := r.compactSpec("out/", 10*time.Second)
	spec.MaxFailed = "1"
	res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("got %v, %+v; want the job committed without the failed chunk", err, res)
	}
	if len(res.Failed) != 1 {
		t.Errorf("result names failed chunks %+v, want one", res.Failed)
	}
	if res.Compacted == 0 {
		t.Errorf("result: %d files compacted, want some", res.Compacted)
	}
	r.ids = want
	r.check("out/", res.Job)
	checkRightSized(t, r, "out/", res.Job, compactTarget)
}

// TestLostMapUploadOfACompactingJobRerunsItsChunk: in a job with a
// compaction stage (the default for partitioned Parquet), a map chunk's
// file at or above half the target is an open upload of its final key;
// that upload is gone when the commit comes. Before, the commit did not
// give the chunk back (the compaction plan names its small files) and
// failed with the output fenced for the job (owner record committing): a
// job that could never commit, and an output no other job could take.
// Now the chunk runs again and the compaction stage starts over from the
// map markers, and the job commits every record once, right-sized, no
// upload left open.
func TestLostMapUploadOfACompactingJobRerunsItsChunk(t *testing.T) {
	r := newFaultRig(t, 12, 300)
	// One larger object: each of its partition files is above half the
	// target, an open upload.
	var b strings.Builder
	for range 1200 {
		id := fmt.Sprintf("r%06d", len(r.ids))
		r.ids = append(r.ids, id)
		fmt.Fprintf(&b, `{"id":%q,"grp":"g%d","pad":%q}`+"\n", id, len(r.ids)%3, strings.Repeat("q", 40))
	}
	r.put("in/part-99.jsonl", []byte(b.String()))
	w := r.engine(engineOptions{name: "worker", store: uploadsNoCommit})
	info, err := w.Submit(context.Background(), r.compactSpec("out/", 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	job := info.Job
	stop := work(t, w, job, 2, nil)
	layout := manifest.NewLayout("out/")
	localstack.Poll(t, 2*time.Minute, "every compaction task's marker", func() bool {
		if !r.exists(layout.CompactPlanKey(job)) {
			return false
		}
		return len(compactMarkers(t, r, "out/", job)) == readCompactPlan(t, r, "out/", job).NumTasks()
	})
	stop()
	if readCompactPlan(t, r, "out/", job).NumTasks() == 0 {
		t.Fatal("the plan has no compaction task, want some")
	}
	// The larger object's chunk's marker names its open uploads.
	var lost *manifest.OutputFile
	for i := range info.Manifest.Chunks {
		m, err := readMarker(r, layout.MarkerKey(job, manifest.ChunkID(i)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m.Files {
			if f.Upload != nil {
				lost = &f
			}
		}
	}
	if lost == nil {
		t.Fatal("no map marker names an open upload, want the larger object's")
	}
	if err := r.store.(objstore.Uploader).AbortUpload(context.Background(), lost.Key, lost.Upload.ID); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := r.engine(engineOptions{name: "committer"}).Wait(ctx, info.Manifest.Spec.Output, job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("got %v, %+v; want the lost upload's chunk run again and the job committed", err, res)
	}
	r.check("out/", job)
	checkRightSized(t, r, "out/", job, compactTarget)
	if left := openUploads(t, r, "out/", job); len(left) != 0 {
		t.Errorf("%d uploads left open after the commit", len(left))
	}
}

// TestLostRejectedUploadOfAnAggregatingJobRerunsItsChunk: a map chunk of
// an aggregating job writes its malformed records (--on-error reject) as
// an open upload of their final key under <out>/_rejected/; that upload
// is gone when the commit comes. Before, the commit did not give the
// chunk back (running it again changes the reduce stage's input) and
// failed with the output fenced for the job: a job that could never
// commit, and an output no other job could take. Now the chunk runs again
// and the reduce stage starts over from the map markers (a new shuffle
// index), and the job commits every word counted exactly, the malformed
// record rejected once, no upload left open.
func TestLostRejectedUploadOfAnAggregatingJobRerunsItsChunk(t *testing.T) {
	r := newFaultRig(t, 0, 0)
	want := map[string]int64{}
	rnd := rand.New(rand.NewPCG(7, 8))
	for o := range 4 {
		var b strings.Builder
		for range 200 {
			var words []string
			for range 5 {
				w := fmt.Sprintf("w%03d", rnd.IntN(100))
				want[w]++
				words = append(words, w)
			}
			fmt.Fprintf(&b, `{"text":%q}`+"\n", strings.Join(words, " "))
		}
		if o == 2 {
			b.WriteString("{not json\n")
		}
		r.put(fmt.Sprintf("in/t-%d.jsonl", o), []byte(b.String()))
	}
	spec := manifest.JobSpec{Inputs: []string{"s3://" + r.bucket + "/in/"}, Function: "wordcount", Args: map[string]string{"column": "text"},
		Output: "s3://" + r.bucket + "/out/", OutputFormat: "jsonl", Reducers: 2, MaxObjectsPerChunk: 1, OnError: manifest.OnErrorReject,
		Lease: manifest.Duration(10 * time.Second)}.WithDefaults()
	w := r.engine(engineOptions{name: "worker", store: uploadsNoCommit})
	info, err := w.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	job := info.Job
	stop := work(t, w, job, 2, nil)
	localstack.Poll(t, 2*time.Minute, "every reduce task's marker", func() bool {
		return len(reduceMarkers(t, r, "out/", job)) == 2
	})
	stop()
	layout := manifest.NewLayout("out/")
	index, err := r.store.Stat(context.Background(), layout.ShuffleIndexKey(job))
	if err != nil {
		t.Fatal(err)
	}
	var lost *manifest.OutputFile
	for i := range info.Manifest.Chunks {
		m, err := readMarker(r, layout.MarkerKey(job, manifest.ChunkID(i)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m.RejectedFiles {
			if f.Upload != nil {
				lost = &f
			}
		}
	}
	if lost == nil {
		t.Fatal("no map marker names a rejected-records upload")
	}
	if err := r.store.(objstore.Uploader).AbortUpload(context.Background(), lost.Key, lost.Upload.ID); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := r.engine(engineOptions{name: "committer"}).Wait(ctx, spec.Output, job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("got %v, %+v; want the lost upload's chunk run again and the job committed", err, res)
	}
	checkWordCounts(t, r, "out/", job, want)
	if res.Rejected != 1 {
		t.Errorf("rejected %d records, want 1", res.Rejected)
	}
	var rejected []string
	for o, err := range r.store.List(context.Background(), "out/_rejected/", nil) {
		if err != nil {
			t.Fatal(err)
		}
		rejected = append(rejected, o.Key)
	}
	if len(rejected) != 1 {
		t.Errorf("files under out/_rejected/: %v, want one", rejected)
	}
	if now, err := r.store.Stat(context.Background(), layout.ShuffleIndexKey(job)); err != nil || now.ETag == index.ETag {
		t.Errorf("shuffle index after the commit: %+v, %v; want a new one (ETag %s before)", now, err, index.ETag)
	}
	if left := openUploads(t, r, "out/", job); len(left) != 0 {
		t.Errorf("%d uploads left open after the commit", len(left))
	}
}

// TestRedriveStoppedBeforeTheCompactionStageRestarts fails one compaction
// task for good, so the job fails naming it, then redrives the job with
// the cause gone, stopping the redrive after it raised the generation and
// before it removed the compaction plan and markers (its delete of the
// plan fails; the redrive gives its hold up). The task's failed marker
// stays where the commit reads it, of the generation before. Before, the
// commit counted it as the task's failure, nothing ran the task again,
// and the job failed again with the old reason; now it is stale at the
// commit, as map and reduce markers are: the task runs again, its done
// marker replaces the stale one, and the job commits every record once,
// right-sized.
func TestRedriveStoppedBeforeTheCompactionStageRestarts(t *testing.T) {
	r := newFaultRig(t, 12, 300)
	var poisoned atomic.Bool
	poisoned.Store(true)
	task := manifest.CompactTaskID(0)
	poison := func(b objstore.Bucket) objstore.Bucket {
		return &faultStore{Bucket: b, put: func(key string, _ *objstore.PutOptions) error {
			if poisoned.Load() && strings.Contains(key, "/staging/"+manifest.ChunkSpread(task)+"/"+task+"/") {
				return functions.Permanent(errors.New("injected: the disk of compaction task 0 is full"))
			}
			return nil
		}}
	}
	spec := r.compactSpec("out/", 10*time.Second)
	res, err := r.engine(engineOptions{name: "a", store: poison}).Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) || len(jf.Failed) != 1 || jf.Failed[0].Chunk != task {
		t.Fatalf("got %v, %+v; want the job failed naming compaction task %s", err, res, task)
	}
	job := jf.Job
	poisoned.Store(false)
	stopped := r.engine(engineOptions{name: "redriver", store: func(b objstore.Bucket) objstore.Bucket {
		return withUploads(b, &faultStore{Bucket: b, del: func(key string) error {
			if strings.HasSuffix(key, "/"+job+"/compact.json") {
				return errCrash
			}
			return nil
		}})
	}})
	if _, err := stopped.Redrive(context.Background(), spec.Output, job); !errors.Is(err, errCrash) {
		t.Fatalf("the stopped redrive: got %v, want %v", err, errCrash)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err = r.engine(engineOptions{name: "after"}).Wait(ctx, spec.Output, job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted || len(res.Failed) != 0 {
		t.Fatalf("after the stopped redrive: %v, %+v; want committed, nothing failed", err, res)
	}
	r.check("out/", job)
	checkRightSized(t, r, "out/", job, compactTarget)
}
