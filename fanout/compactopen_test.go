package fanout_test

// Opening a map file in the compaction stage: a transient store error
// (S3 SlowDown or a timeout that outlived the store's own retries) while
// a compaction task reads a file's footer is retried like any transient
// error, and the job commits; a corrupt Parquet map file fails its task
// for good at once. Before 0f97f77 every error opening a map file failed
// the compaction task for good, a transient one included.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// footerFaults is a store that picks the first staged Parquet map file a
// compaction task reads and does something to the reads of its footer:
// the reads that end at the file's end (the compaction task reads a
// footer, whole for files this small, once to try to copy its row groups
// and once more to open its rows, or only to open them in a sorted job).
// fault returns the error to give the n-th such read (from 1), or nil
// with corrupt true to hand back the bytes with a broken end magic.
type footerFaults struct {
	fault func(n int) (err error, corrupt bool)

	mu     sync.Mutex
	target string
	reads  int // footer reads of target
}

// wrap returns b with its footer reads faulted; it keeps b's uploads.
func (s *footerFaults) wrap(b objstore.Bucket) objstore.Bucket {
	return withUploads(b, footerFaultStore{Bucket: b, f: s})
}

type footerFaultStore struct {
	objstore.Bucket
	f *footerFaults
}

func (fs footerFaultStore) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	s := fs.f
	rc, info, err := fs.Bucket.Get(ctx, key, opts)
	if err != nil || opts == nil || opts.Length <= 0 || opts.Offset+opts.Length != info.Size ||
		!strings.Contains(key, "/staging/") || !strings.Contains(key, ".parquet") {
		return rc, info, err
	}
	s.mu.Lock()
	if s.target == "" {
		s.target = key
	}
	if key != s.target {
		s.mu.Unlock()
		return rc, info, err
	}
	s.reads++
	ferr, corrupt := s.fault(s.reads)
	s.mu.Unlock()
	if ferr != nil {
		rc.Close()
		return nil, objstore.ObjectInfo{}, ferr
	}
	if !corrupt {
		return rc, info, nil
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	copy(body[len(body)-4:], "PAR0")
	return io.NopCloser(bytes.NewReader(body)), info, nil
}

func (s *footerFaults) seen() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.target, s.reads
}

// TestCompactionOpeningAMapFile runs a Parquet job whose compaction stage
// merges small map files, plain and sorted (each opens the files' rows
// its own way), with one map file's footer read failing once with a
// transient error, then with that file corrupt.
func TestCompactionOpeningAMapFile(t *testing.T) {
	for _, c := range []struct {
		name   string
		sortBy []manifest.SortKey
		// open is which footer read of the file opens its rows: the
		// plain task first tries to copy the file's row groups.
		open int
	}{
		{"plain", nil, 2},
		{"sorted", []manifest.SortKey{{Column: "id"}}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Run("transient", func(t *testing.T) {
				r := newFaultRig(t, 6, 100)
				errSlowDown := errors.New("injected: 503 SlowDown: please reduce your request rate")
				faults := &footerFaults{fault: func(n int) (error, bool) {
					if n == c.open {
						return fmt.Errorf("miniostore: get: %w", errSlowDown), false
					}
					return nil, false
				}}
				e := r.engine(engineOptions{name: "a", store: faults.wrap})
				spec := r.compactSpec("out/", 10*time.Second)
				spec.OutputFormat, spec.SortBy = "parquet", c.sortBy
				var failed atomic.Int64
				res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2, Observe: func(ev fanout.ChunkEvent) {
					if manifest.IsCompactTask(ev.Chunk) && ev.Outcome == fanout.OutcomeFailed {
						failed.Add(1)
					}
				}})
				target, reads := faults.seen()
				if err != nil || res.State != fanout.StateCommitted {
					t.Fatalf("got %v, %s; want the job committed after a transient error reading %q's footer", err, res.State, target)
				}
				if reads <= c.open {
					t.Fatalf("%d footer reads of %q, want more than %d: the fault was not injected, or its task not retried", reads, target, c.open)
				}
				if n := failed.Load(); n != 1 {
					t.Errorf("%d failed compaction attempts, want 1 (the one the fault hit)", n)
				}
				r.check("out/", res.Job)
				checkRightSized(t, r, "out/", res.Job, compactTarget)
				if res.Compacted == 0 {
					t.Errorf("%d files compacted, want some", res.Compacted)
				}
			})
			t.Run("corrupt", func(t *testing.T) {
				r := newFaultRig(t, 6, 100)
				faults := &footerFaults{fault: func(int) (error, bool) { return nil, true }}
				e := r.engine(engineOptions{name: "a", store: faults.wrap})
				spec := r.compactSpec("out/", 10*time.Second)
				spec.OutputFormat, spec.SortBy = "parquet", c.sortBy
				res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
				target, reads := faults.seen()
				var jf *fanout.JobFailedError
				if !errors.As(err, &jf) || len(jf.Failed) != 1 || !manifest.IsCompactTask(jf.Failed[0].Chunk) {
					t.Fatalf("got %v, %s; want the job failed naming one compaction task", err, res.State)
				}
				if reason := jf.Failed[0].Reason; !strings.Contains(reason, target) || !strings.Contains(reason, "PAR1") {
					t.Errorf("failed task's reason %q, want it to name %q and its missing PAR1 magic", reason, target)
				}
				// One attempt: the error is permanent, not retried.
				if reads != c.open {
					t.Errorf("%d footer reads of the corrupt file, want %d (one attempt: a corrupt file is not retried)", reads, c.open)
				}
				if r.exists("out/_SUCCESS") {
					t.Error("the failed job wrote _SUCCESS")
				}
			})
		})
	}
}
