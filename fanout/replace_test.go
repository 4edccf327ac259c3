package fanout_test

// Replacing a committed output (--overwrite, replace.go) on real MinIO and
// Redis, with a reader that follows _SUCCESS to the commit record it names
// and reads the files that record lists while the overwrite runs.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// readCommitted reads the output under out as a reader that trusts the
// commit record does: _SUCCESS names the job, its commit record lists the
// files. It returns the job and the records' ids, or retry when a file
// was gone (the output was replaced meanwhile: start again).
func readCommitted(ctx context.Context, b objstore.Bucket, out string) (job string, ids []string, retry bool, err error) {
	get := func(key string) ([]byte, error) {
		rc, _, err := b.Get(ctx, key, nil)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	body, err := get(out + "_SUCCESS")
	if err != nil {
		return "", nil, false, err
	}
	var s struct{ Job string }
	if err := json.Unmarshal(body, &s); err != nil {
		return "", nil, false, err
	}
	body, err = get(out + "_fanout/" + s.Job + "/_COMMITTED")
	if err != nil {
		return "", nil, false, err
	}
	rec, err := manifest.DecodeCommit(body)
	if err != nil {
		return "", nil, false, err
	}
	for f, err := range fanout.CommittedFiles(ctx, b, rec) {
		if err != nil {
			return "", nil, false, err
		}
		if !strings.Contains(f.Key, "part-"+s.Job+"-") {
			return "", nil, false, errors.New("the commit record of " + s.Job + " lists " + f.Key)
		}
		data, err := get(f.Key)
		if errors.Is(err, objstore.ErrNotFound) {
			return s.Job, nil, true, nil
		}
		if err != nil {
			return "", nil, false, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			var r struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return "", nil, false, err
			}
			ids = append(ids, r.ID)
		}
	}
	return s.Job, ids, false, nil
}

// TestOverwriteReplacesACommittedOutput commits a job, then replaces its
// output with another job run with Overwrite while a reader reads the
// output through _SUCCESS and the commit record in a loop. The reader
// sees the old job's records, each once, until the switch and the new
// job's after it, never a mix and never neither; the oracle then finds
// only the new job's files (the old ones are deleted) and status names
// the replacement. Without Overwrite another job is refused with a hint
// naming it; an overwrite whose job fails leaves the output as it was.
func TestOverwriteReplacesACommittedOutput(t *testing.T) {
	r := newFaultRig(t, 4, 150)
	e := r.engine(engineOptions{name: "a"})
	ctx := context.Background()
	oldSpec := r.spec("out/", 10*time.Second, "convert")
	old, err := e.Run(ctx, oldSpec, fanout.RunOptions{Workers: 2})
	if err != nil || old.State != fanout.StateCommitted {
		t.Fatalf("the first job: %v, %+v", err, old)
	}
	r.check("out/", old.Job)

	other := oldSpec
	other.MaxObjectsPerChunk = 2
	_, err = e.Submit(ctx, other)
	var owned *fanout.OutputOwnedError
	if !errors.As(err, &owned) || owned.Owner != old.Job || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("another job without overwrite: got %v, want refused naming the committed job and --overwrite", err)
	}

	want := slices.Sorted(slices.Values(r.ids))
	var mu sync.Mutex
	seen := map[string]int{} // job -> whole reads
	retries := 0
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			job, ids, retry, err := readCommitted(ctx, r.store, "out/")
			mu.Lock()
			switch {
			case err != nil:
				t.Errorf("reader: %v", err)
			case retry:
				retries++
			case !slices.Equal(slices.Sorted(slices.Values(ids)), want):
				t.Errorf("reader: job %s's commit record led to %d records, want the input's %d once each (a mixed or partial read)", job, len(ids), len(want))
			default:
				seen[job]++
			}
			mu.Unlock()
		}
	}()
	waitSeen := func(job string) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := seen[job]
			mu.Unlock()
			if n > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the reader never read job %s whole", job)
			}
			time.Sleep(10 * time.Millisecond) // polling, with a deadline
		}
	}
	waitSeen(old.Job)

	other.Overwrite = true
	res, err := r.engine(engineOptions{name: "b"}).Run(ctx, other, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted || res.Replaces != old.Job {
		t.Fatalf("the overwrite: %v, %+v; want committed, replacing %s", err, res, old.Job)
	}
	waitSeen(res.Job)
	close(stop)
	<-readerDone
	mu.Lock()
	if len(seen) != 2 {
		t.Errorf("the reader read %v, want only the two jobs", seen)
	}
	t.Logf("the reader read the old job whole %d times, the new one %d times, and started again %d times (old files gone under it)", seen[old.Job], seen[res.Job], retries)
	mu.Unlock()

	r.check("out/", res.Job) // only the new job's files are left
	st, err := e.Status(ctx, oldSpec.Output, old.Job)
	if err != nil || st.State != fanout.StateCommitted || st.ReplacedBy != res.Job {
		t.Errorf("status of the replaced job: %v, %+v; want committed, replaced by %s", err, st, res.Job)
	}
	// Committing the replaced job again (a late committer) changes nothing.
	if _, err := e.TryCommit(ctx, oldSpec.Output, old.Job); err != nil {
		t.Errorf("a late commit of the replaced job: %v", err)
	}
	r.check("out/", res.Job)

	// An overwrite whose job fails leaves the output as it was (its owner
	// record names the failed job, as any failed job's does).
	published := func() map[string]string {
		m := snapshotStore(t, r.store, "out/")
		maps.DeleteFunc(m, func(k, _ string) bool { return strings.HasPrefix(k, "out/_fanout/") })
		return m
	}
	before := published()
	poison := registryWith(copyFn{hook: func(_ context.Context, first *functions.Record) error {
		if first.Object == "in/part-01.jsonl" {
			return functions.Permanent(errors.New("poison"))
		}
		return nil
	}})
	bad := r.spec("out/", 10*time.Second, "copy")
	bad.Overwrite = true
	_, err = r.engine(engineOptions{name: "c", functions: poison}).Run(ctx, bad, fanout.RunOptions{Workers: 2})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) {
		t.Fatalf("the failing overwrite: got %v, want *JobFailedError", err)
	}
	if after := published(); !maps.Equal(before, after) {
		t.Errorf("the failed overwrite changed the output: %d objects before, %d after:\n%v\n%v", len(before), len(after), before, after)
	}
	if job, ids, _, err := readCommitted(ctx, r.store, "out/"); err != nil || job != res.Job || len(ids) != len(want) {
		t.Errorf("after the failed overwrite a reader finds job %s with %d records (%v); want %s's %d", job, len(ids), err, res.Job, len(want))
	}
}
