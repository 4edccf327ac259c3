package fanout_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions/contract/contracttest"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// reduceMarkers reads the job's reduce markers under out by task.
func reduceMarkers(t *testing.T, r *faultRig, out, job string) map[string]*manifest.ChunkMarker {
	t.Helper()
	return markersUnder(t, r, manifest.NewLayout(out).ReduceMarkerPrefix(job))
}

// markersUnder reads the markers under prefix by task.
func markersUnder(t *testing.T, r *faultRig, prefix string) map[string]*manifest.ChunkMarker {
	t.Helper()
	ms := map[string]*manifest.ChunkMarker{}
	for info, err := range r.store.List(context.Background(), prefix, nil) {
		if err != nil {
			t.Fatal(err)
		}
		m, err := readMarker(r, info.Key)
		if err != nil {
			t.Fatalf("%s: %v", info.Key, err)
		}
		ms[m.Chunk] = m
	}
	return ms
}

// lostReduceUpload runs a wordcount on out/ to every reduce task's
// marker without committing it, then aborts reduce task r000001's winning
// upload. It returns the job's spec, the job, the want counts, the reduce
// markers before and the shuffle index's ETag.
func lostReduceUpload(t *testing.T, r *faultRig) (manifest.JobSpec, string, map[string]int64, map[string]*manifest.ChunkMarker, string) {
	t.Helper()
	want := wordInput(r, 4)
	spec := manifest.JobSpec{Inputs: []string{"s3://" + r.bucket + "/in/"}, Function: "wordcount", Output: "s3://" + r.bucket + "/out/",
		OutputFormat: "jsonl", Reducers: 3, MaxObjectsPerChunk: 1, Lease: manifest.Duration(10 * time.Second)}.WithDefaults()
	// Workers that cannot commit (the fence write fails) run every map
	// chunk and reduce task to its marker.
	w := r.engine(engineOptions{name: "worker", store: uploadsNoCommit})
	info, err := w.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	stop := work(t, w, info.Job, 2, nil)
	localstack.Poll(t, 2*time.Minute, "every reduce task's marker", func() bool {
		return len(reduceMarkers(t, r, "out/", info.Job)) == 3
	})
	stop()
	before := reduceMarkers(t, r, "out/", info.Job)
	index, err := r.store.Stat(context.Background(), manifest.NewLayout("out/").ShuffleIndexKey(info.Job))
	if err != nil {
		t.Fatal(err)
	}
	lost := before["r000001"]
	if len(lost.Files) == 0 || lost.Files[0].Upload == nil {
		t.Fatalf("reduce task r000001's marker names %+v, want an open upload", lost.Files)
	}
	if err := r.store.(objstore.Uploader).AbortUpload(context.Background(), lost.Files[0].Key, lost.Files[0].Upload.ID); err != nil {
		t.Fatal(err)
	}
	return spec, info.Job, want, before, index.ETag
}

// TestNoCopyCommitLostReduceUploadRerunsItsTask: a reduce task's winning
// upload is gone when the commit comes (aborted, as a lifecycle rule or gc
// on a live job would, or broken by a completion cut off on MinIO).
// Before, the job failed for good, its output fenced. Now the commit
// gives the task back: its marker goes from under the shuffle index it
// names (the index stays, the same object), the task merges the same map
// outputs again, the next commit completes its new upload, and every word
// is counted exactly (the oracle), no upload left open. The commit is
// made by a driver (fanout run or wait, with its own workers), or by idle
// workers serving every job (fanout work; Lambda), which find the job
// again in the queue: the commit that gave the task back enqueued it.
func TestNoCopyCommitLostReduceUploadRerunsItsTask(t *testing.T) {
	for _, by := range []string{"driver", "idle workers"} {
		t.Run(by, func(t *testing.T) {
			r := newFaultRig(t, 0, 0)
			spec, job, want, before, index := lostReduceUpload(t, r)
			lost := before["r000001"]
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			e := r.engine(engineOptions{name: "committer"})
			if by == "driver" {
				res, err := e.Wait(ctx, spec.Output, job, fanout.RunOptions{Workers: 2})
				if err != nil || res.State != fanout.StateCommitted {
					t.Fatalf("got %v, %+v; want the lost upload's reduce task run again and the job committed", err, res)
				}
			} else {
				wctx, stop := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- e.Work(wctx, fanout.WorkOptions{Concurrency: 2, IdlePoll: 50 * time.Millisecond}) }()
				q := r.queue()
				localstack.Poll(t, time.Minute, "idle workers to commit the job and finish it in the queue", func() bool {
					// Finished in the queue after the commit's clean-up:
					// stopped at _COMMITTED alone, the workers could be
					// cut off before removing staging.
					_, err := q.Stats(context.Background(), job)
					return r.exists("out/_fanout/"+job+"/_COMMITTED") && errors.Is(err, fanout.ErrUnknownJob)
				})
				stop()
				if err := <-done; err != nil {
					t.Errorf("Work: %v", err)
				}
			}
			checkWordCounts(t, r, "out/", job, want)
			after := reduceMarkers(t, r, "out/", job)
			// The queue forgot the job, so epochs start again: an attempt
			// is told by its upload.
			if got := after["r000001"]; got == nil || len(got.Files) == 0 || got.Files[0].Upload == nil ||
				got.Files[0].Upload.ID == lost.Files[0].Upload.ID || got.Shuffle != lost.Shuffle {
				t.Errorf("reduce task r000001's marker after the commit: %+v; want a new attempt's (upload %s before) under the same shuffle index %s", got, lost.Files[0].Upload.ID, lost.Shuffle)
			}
			for _, task := range []string{"r000000", "r000002"} {
				if after[task] == nil || !after[task].Started.Equal(before[task].Started) {
					t.Errorf("reduce task %s ran again (marker %+v, started %v before); only r000001 should", task, after[task], before[task].Started)
				}
			}
			if now, err := r.store.Stat(context.Background(), manifest.NewLayout("out/").ShuffleIndexKey(job)); err != nil || now.ETag != index {
				t.Errorf("shuffle index after the commit: %+v, %v; want the same object (ETag %s)", now, err, index)
			}
			if left := openUploads(t, r, "out/", job); len(left) != 0 {
				t.Errorf("%d uploads left open after the commit", len(left))
			}
		})
	}
}

// TestLostRejectedFileRerunsItsChunk: the rejected-records file of a
// validate chunk is an open upload like its data files; gone at the
// commit (aborted by a lifecycle rule or gc, or broken by a completion
// cut off on MinIO), it is a lost output like any other: the commit gives
// the chunk back, the chunk runs again on the driver's workers, and the
// job commits with every defect in _rejected/ exactly once and every
// valid record once (the generator's oracle), no upload left open.
func TestLostRejectedFileRerunsItsChunk(t *testing.T) {
	r := newFaultRig(t, 0, 0)
	d := contracttest.Generate(5, "csv", 3, 300)
	for name, body := range d.Files {
		r.put(name, body)
	}
	spec := manifest.JobSpec{Inputs: []string{"s3://" + r.bucket + "/in/"}, Function: "validate",
		Args: map[string]string{"contract": contracttest.Contract}, Output: "s3://" + r.bucket + "/out/",
		OutputFormat: "jsonl", ChunkBytes: 8 << 10, Lease: manifest.Duration(10 * time.Second)}.WithDefaults()
	e := r.engine(engineOptions{name: "worker", store: uploadsNoCommit})
	info, err := e.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Work(context.Background(), fanout.WorkOptions{Concurrency: 2, Job: info.Job, ExitWhenIdle: true}); err != nil {
		t.Fatal(err)
	}
	var lost *objstore.Upload
	for _, u := range openUploads(t, r, "out/", info.Job) {
		if strings.HasPrefix(u.Key, "out/_rejected/") {
			lost = &u
			break
		}
	}
	if lost == nil {
		t.Fatal("no rejected-records file among the open uploads: the test tests nothing")
	}
	if err := r.store.(objstore.Uploader).AbortUpload(context.Background(), lost.Key, lost.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := r.engine(engineOptions{name: "driver"}).Wait(ctx, spec.Output, info.Job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("got %v, %+v; want the chunk of the lost rejected-records file run again and the job committed", err, res)
	}
	if res.Rejected != int64(len(d.Defects)) || res.RecordsIn != int64(d.Records) || res.RecordsOut != int64(len(d.Valid)) {
		t.Errorf("got %d rejected, %d in, %d out; want %d, %d, %d", res.Rejected, res.RecordsIn, res.RecordsOut, len(d.Defects), d.Records, len(d.Valid))
	}
	var rejected [][]byte
	var valid int
	for o, err := range r.store.List(ctx, "out/", nil) {
		if err != nil {
			t.Fatal(err)
		}
		isRej := strings.HasPrefix(o.Key, "out/_rejected/")
		if !isRej && strings.HasPrefix(o.Key, "out/_") || !strings.HasSuffix(o.Key, ".jsonl") {
			continue
		}
		rc, _, err := r.store.Get(ctx, o.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if isRej {
				rejected = append(rejected, line)
			} else {
				valid++
			}
		}
	}
	for _, p := range d.CheckRejected(rejected) {
		t.Error(p)
	}
	if valid != len(d.Valid) {
		t.Errorf("%d valid records in the output, want %d", valid, len(d.Valid))
	}
	if left := openUploads(t, r, "out/", info.Job); len(left) != 0 {
		t.Errorf("%d uploads left open after the commit", len(left))
	}
	// The chunk ran again: its marker names another upload of the file,
	// the one the commit completed.
	name, _ := strings.CutPrefix(lost.Key, "out/_rejected/part-"+info.Job+"-")
	chunk, _, _ := strings.Cut(name, "-")
	m, err := readMarker(r, manifest.NewLayout("out/").MarkerKey(info.Job, chunk))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(m.RejectedFiles, func(f manifest.OutputFile) bool { return f.Key == lost.Key })
	if i < 0 || m.RejectedFiles[i].Upload == nil || m.RejectedFiles[i].Upload.ID == lost.ID {
		t.Errorf("chunk %s's marker after the commit names rejected files %+v; want a new attempt's upload of %s (%s lost)", chunk, m.RejectedFiles, lost.Key, lost.ID)
	}
}

// TestManyLostUploadsRerunTheirChunks aborts 8 winning uploads of a
// finished map job before its commit, as a MinIO restart does to the
// completions it cuts off (35 in one chaos run): each commit finds one
// and gives its chunk back. Each chunk given back for the first time is
// progress, not a failure of the commit, so the job commits every record
// once; before, the sixth lost upload exhausted the driver's 5 commit
// retries and failed the job.
func TestManyLostUploadsRerunTheirChunks(t *testing.T) {
	r := newFaultRig(t, 12, 20)
	info := finishedUploadJob(t, r, "out/")
	ups := openUploads(t, r, "out/", info.Job)
	if len(ups) < 8 {
		t.Fatalf("%d open uploads, want at least 8", len(ups))
	}
	for _, u := range ups[:8] {
		if err := r.store.(objstore.Uploader).AbortUpload(context.Background(), u.Key, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := r.engine(engineOptions{name: "driver"}).Wait(ctx, "s3://"+r.bucket+"/out/", info.Job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("got %v, %+v; want the 8 chunks run again and the job committed", err, res)
	}
	r.check("out/", info.Job)
}
