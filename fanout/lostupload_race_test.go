package fanout_test

import (
	"context"
	"io"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// TestLateCommitterKeepsTheMarkerOfTheRerun: a committer that read a
// chunk's marker before that chunk's winning upload was given back (its
// upload gone) and ran again must not, on finding the old upload gone,
// give back the new attempt: that marker names an upload that is not
// lost. Committer B reads the markers and stalls before completing the
// lost upload; the driver A gives the chunk back, runs it again and,
// before completing the new upload, lets B go on. B must leave the new
// marker in place (before, it deleted it and enqueued the chunk once
// more, for a job about to commit), and A commits exactly.
func TestLateCommitterKeepsTheMarkerOfTheRerun(t *testing.T) {
	r := newFaultRig(t, 3, 60)
	info := finishedUploadJob(t, r, "out/")
	ups := openUploads(t, r, "out/", info.Job)
	if len(ups) != 3 {
		t.Fatalf("%d open uploads, want the 3 chunks' winners", len(ups))
	}
	lost := ups[1]
	if err := r.store.(objstore.Uploader).AbortUpload(context.Background(), lost.Key, lost.ID); err != nil {
		t.Fatal(err)
	}
	var (
		bStalled  = make(chan struct{})
		bGo       = make(chan struct{})
		bDone     = make(chan error, 1)
		aStalled  = make(chan struct{})
		aOnce     sync.Once
		bOnce     sync.Once
		aComplete int
		mu        sync.Mutex
	)
	late := r.engine(engineOptions{name: "late", admin: noLease, store: func(b objstore.Bucket) objstore.Bucket {
		return &uploadHooks{Bucket: b, before: func(op, key string, _ *objstore.PutOptions) error {
			if op == "complete" && key == lost.Key {
				bOnce.Do(func() { close(bStalled); <-bGo })
			}
			return nil
		}}
	}})
	go func() {
		_, err := late.TryCommit(context.Background(), "s3://"+r.bucket+"/out/", info.Job)
		bDone <- err
	}()
	select {
	case <-bStalled:
	case err := <-bDone:
		t.Fatalf("the late committer finished (%v) before completing the lost upload", err)
	case <-time.After(time.Minute):
		t.Fatal("the late committer never reached the lost upload")
	}
	driver := r.engine(engineOptions{name: "driver", store: func(b objstore.Bucket) objstore.Bucket {
		return &uploadHooks{Bucket: b, before: func(op, key string, _ *objstore.PutOptions) error {
			if op != "complete" || key != lost.Key {
				return nil
			}
			mu.Lock()
			aComplete++
			n := aComplete
			mu.Unlock()
			if n == 2 { // the rerun's upload: let the late committer go first
				aOnce.Do(func() {
					close(aStalled)
					close(bGo)
					<-bDone
					bDone <- nil
				})
			}
			return nil
		}}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type waited struct {
		res fanout.Result
		err error
	}
	aDone := make(chan waited, 1)
	go func() {
		res, err := driver.Wait(ctx, info.Manifest.Spec.Output, info.Job, fanout.RunOptions{Workers: 2})
		aDone <- waited{res, err}
	}()
	var w waited
	select {
	case w = <-aDone:
	case <-ctx.Done():
		t.Fatal("the driver did not finish")
	}
	select {
	case <-aStalled:
	default:
		t.Fatal("the driver never completed the rerun's upload")
	}
	if w.err != nil || w.res.State != fanout.StateCommitted {
		t.Fatalf("got %v, %+v; want the job committed", w.err, w.res)
	}
	r.check("out/", info.Job)
	// The chunk's marker is the rerun's: it names the committed file's
	// upload, not the lost one, and was not taken away.
	chunk := chunkOf(t, info.Job, lost.Key)
	rc, _, err := r.store.Get(context.Background(), manifest.NewLayout("out/").MarkerKey(info.Job, chunk), nil)
	if err != nil {
		t.Fatalf("the rerun's marker of %s is gone after the late committer gave up: %v", chunk, err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.DecodeMarker(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if f.Key == lost.Key && f.Upload != nil && f.Upload.ID == lost.ID {
			t.Fatalf("the marker of %s still names the lost upload", chunk)
		}
	}
	if left := openUploads(t, r, "out/", info.Job); len(left) != 0 {
		t.Errorf("%d uploads left open after the commit: %+v", len(left), left)
	}
}

// chunkOf returns the task that wrote the file at key
// (.../part-<job>-<task>-<n>.<ext>).
func chunkOf(t *testing.T, job, key string) string {
	t.Helper()
	name, ok := strings.CutPrefix(path.Base(key), "part-"+job+"-")
	task, _, cut := strings.Cut(name, "-")
	if !ok || !cut {
		t.Fatalf("%s: not a file of job %s", key, job)
	}
	return task
}
