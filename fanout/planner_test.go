package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
	"github.com/fanout-dev/fanout/objstore/objstoretest"
)

// syntheticBucket lists n small objects without storing them; the planner
// only lists lines objects, so nothing else is needed.
type syntheticBucket struct {
	objstore.Bucket // nil: any other call panics, proving it is not made
	n               int
}

func (s syntheticBucket) List(ctx context.Context, prefix string, opts *objstore.ListOptions) iter.Seq2[objstore.ObjectInfo, error] {
	return func(yield func(objstore.ObjectInfo, error) bool) {
		for i := range s.n {
			info := objstore.ObjectInfo{Key: fmt.Sprintf("%sobj-%08d.txt", prefix, i), Size: 100 + int64(i%900), ETag: fmt.Sprintf("%032x", i)}
			if !yield(info, nil) {
				return
			}
		}
	}
}

// TestPlanningAMillionObjectsKeepsMemoryFlat plans a job over 1,000,000
// objects and checks that the manifest is sharded and that the planner's
// heap never holds the listing.
func TestPlanningAMillionObjectsKeepsMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("plans 1,000,000 objects; skipped with -short (scripts/test.sh runs it)")
	}
	const objects = 1_000_000
	out := filepath.Join(t.TempDir(), "out")
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			if loc, err := objstore.ParseURL(u); err == nil && loc.StoreURL() == "s3://synthetic" {
				return syntheticBucket{n: objects}, nil
			}
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return b, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	info, err := e.Plan(context.Background(), manifest.JobSpec{Inputs: []string{"s3://synthetic/in/"}, Function: "grep",
		Args: map[string]string{"pattern": "x"}, Output: "file://" + out + "/", OutputFormat: "lines"}.WithDefaults())
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	m := info.Manifest
	if m.Objects != objects {
		t.Fatalf("manifest has %d objects, want %d", m.Objects, objects)
	}
	if m.Chunks != objects/manifest.DefaultMaxObjectsPerChunk || m.Shards < 10 {
		t.Fatalf("got %d chunks in %d shards, want %d chunks in many shards", m.Chunks, m.Shards, objects/manifest.DefaultMaxObjectsPerChunk)
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("planned %d objects into %d chunks, %d shards; peak heap growth %d MiB", objects, m.Chunks, m.Shards, growth>>20)
	if growth > 150<<20 {
		t.Fatalf("peak heap grew by %d MiB while planning, want at most 150 MiB", growth>>20)
	}
}

// TestStoreIgnoringCreateOnlyIsRefused runs a job on a store that accepts
// a second If-None-Match: * write: fanout must refuse to start.
func TestStoreIgnoringCreateOnlyIsRefused(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"a.txt": []byte("x\n")})
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			if err != nil {
				return nil, err
			}
			return objstoretest.IgnoreCreateOnly(b), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "grep",
		Args: map[string]string{"pattern": "x"}, Output: "file://" + out + "/", OutputFormat: "lines"}.WithDefaults(), fanout.RunOptions{Workers: 1})
	if !errors.Is(err, objstore.ErrCreateOnlyNotEnforced) || !strings.Contains(err.Error(), "If-None-Match") {
		t.Fatalf("got %v, want ErrCreateOnlyNotEnforced with a clear message", err)
	}
	_ = io.EOF
}
