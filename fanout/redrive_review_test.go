package fanout_test

// Redrive against the rest of the protocol, found by an adversarial review
// of the redrive and commit paths (December 2026, issue #13): a redrive cut
// off half-way, and what may run while it runs. Real MinIO and Redis; each
// ends in the oracle.

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// TestRedriveKilledBeforeTheReduceStageRestarts fails a wordcount with
// a map chunk tolerated by --max-failed (the shuffle index was built
// without it) and a reduce task failed for good, then redrives it with a
// redriver killed just before it removes the shuffle index, after the
// queue forgot the job and the generation went up. Nothing redrives it
// again: the workers and the driver carry on. The map chunk's failed
// marker is stale, so it runs again; the reduce stage must not then merge
// the old index, which lacks that chunk's words (the commit would count
// the chunk's records in and publish counts without them).
func TestRedriveKilledBeforeTheReduceStageRestarts(t *testing.T) {
	r := newFaultRig(t, 0, 0)
	want := wordInput(r, 6)
	var poisoned atomic.Bool
	poisoned.Store(true)
	poison := func(b objstore.Bucket) objstore.Bucket {
		return &faultStore{Bucket: b, put: func(key string, _ *objstore.PutOptions) error {
			if poisoned.Load() && (strings.Contains(key, "/staging/"+manifest.ChunkSpread("r000001")+"/r000001/") ||
				strings.Contains(key, "/staging/"+manifest.ChunkSpread("c00000002")+"/c00000002/")) {
				return functions.Permanent(errors.New("injected: the disk is full"))
			}
			return nil
		}}
	}
	spec := manifest.JobSpec{Inputs: []string{"s3://" + r.bucket + "/in/"}, Function: "wordcount", Output: "s3://" + r.bucket + "/out/",
		OutputFormat: "jsonl", Reducers: 3, MaxObjectsPerChunk: 1, MaxFailed: "1", Lease: manifest.Duration(10 * time.Second)}.WithDefaults()
	res, err := r.engine(engineOptions{name: "a", store: poison}).Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) || len(jf.Failed) != 2 {
		t.Fatalf("got %v, %+v; want the job failed naming c00000002 and r000001", err, res)
	}
	poisoned.Store(false)
	killed := r.engine(engineOptions{name: "redriver", store: func(b objstore.Bucket) objstore.Bucket {
		return withUploads(b, &faultStore{Bucket: b, del: func(key string) error {
			if strings.HasSuffix(key, "/shuffle.idx") {
				return errCrash
			}
			return nil
		}})
	}})
	if _, err := killed.Redrive(context.Background(), spec.Output, res.Job); !errors.Is(err, errCrash) {
		t.Fatalf("the killed redrive: got %v, want %v", err, errCrash)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err = r.engine(engineOptions{name: "after"}).Wait(ctx, spec.Output, res.Job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("after the killed redrive: %v, %+v", err, res)
	}
	checkWordCounts(t, r, "out/", res.Job, want)
}
