package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"sort"
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
		first := 0
		if opts != nil && opts.StartAfter != "" { // the first key past it
			first = sort.Search(s.n, func(i int) bool { return fmt.Sprintf("%sobj-%08d.txt", prefix, i) > opts.StartAfter })
		}
		for i := first; i < s.n; i++ {
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

// A dry-run plan lists, packs and checks like a plan but writes nothing
// to the output; its numbers are the real plan's.
func TestDryRunPlanWritesNothing(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		body := strings.Repeat(fmt.Sprintf("object %d line\n", i), 200*(i+1))
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("o%d.txt", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return b, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "grep", Args: map[string]string{"pattern": "line"},
		Output: "file://" + out + "/", OutputFormat: "jsonl", ChunkBytes: 4 << 10}
	empty := func(what string) {
		t.Helper()
		entries, err := os.ReadDir(out)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Fatalf("%s wrote to the output: %v", what, entries)
		}
	}
	bad := spec
	bad.PartitionBy = []string{"lien"}
	if _, err := e.PlanWith(t.Context(), bad, fanout.PlanOptions{DryRun: true}); err == nil || !strings.Contains(err.Error(), `"lien"`) {
		t.Fatalf("dry run with a misspelt partition column: %v, want it named", err)
	}
	empty("a failed dry run")
	dry, err := e.PlanWith(t.Context(), spec, fanout.PlanOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	empty("a dry run")
	planned, err := e.Plan(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	d, r := dry.Manifest, planned.Manifest
	if dry.Job != planned.Job || planned.Existing || d.Chunks != r.Chunks || d.Objects != 5 || d.Objects != r.Objects || d.Bytes != r.Bytes ||
		d.Shards != r.Shards || dry.Parts != planned.Parts || dry.Parts < d.Chunks || d.Chunks < 5 {
		t.Errorf("dry run: job %s, %d chunks, %d objects, %d bytes, %d shards, %d parts; plan: job %s, %d chunks, %d objects, %d bytes, %d shards, %d parts",
			dry.Job, d.Chunks, d.Objects, d.Bytes, d.Shards, dry.Parts, planned.Job, r.Chunks, r.Objects, r.Bytes, r.Shards, planned.Parts)
	}
	if want := int64(2+d.Shards+dry.Parts+3*d.Chunks) + 2; dry.RequestsEstimate() != want {
		t.Errorf("RequestsEstimate = %d, want %d", dry.RequestsEstimate(), want)
	}
	if _, err := os.Stat(filepath.Join(out, "_fanout", planned.Job, "manifest.json")); err != nil {
		t.Errorf("the real plan wrote no manifest: %v", err)
	}
}

// TestPlannedTargetFileSize: the manifest fixes --target-file-size's
// default at planning, 128 MiB for Parquet partitioned by columns or
// written by an aggregating function's reduce tasks, off for a map-only
// job without partitions or for text output unless asked.
func TestPlannedTargetFileSize(t *testing.T) {
	in := t.TempDir()
	writeFiles(t, in, map[string][]byte{"a.csv": []byte("region,n\neu,1\nus,2\n")})
	e := newEngine(t, nil)
	for _, c := range []struct {
		name    string
		fn      string
		args    map[string]string
		format  string
		part    []string
		target  int64
		want    int64
		compact bool
	}{
		{"convert to parquet partitioned", "convert", nil, "parquet", []string{"region"}, 0, manifest.DefaultTargetFileSize, true},
		{"convert to parquet", "convert", nil, "parquet", nil, 0, 0, false},
		{"convert to jsonl partitioned", "convert", nil, "jsonl", []string{"region"}, 0, 0, false},
		{"convert to jsonl asked", "convert", nil, "jsonl", nil, 1 << 20, 1 << 20, true},
		{"aggregate to parquet", "aggregate", map[string]string{"by": "region", "agg": "count"}, "parquet", nil, 0, manifest.DefaultTargetFileSize, false},
		{"aggregate to parquet off", "aggregate", map[string]string{"by": "region", "agg": "count"}, "parquet", nil, -1, 0, false},
		{"aggregate to jsonl", "aggregate", map[string]string{"by": "region", "agg": "count"}, "jsonl", nil, 0, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: c.fn, Args: c.args, Output: "file://" + filepath.Join(t.TempDir(), "out") + "/",
				OutputFormat: c.format, PartitionBy: c.part, TargetFileSize: c.target}.WithDefaults()
			dry, err := e.PlanWith(t.Context(), spec, fanout.PlanOptions{DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := dry.Manifest.TargetFileSize; got != c.want {
				t.Errorf("planned target file size %d, want %d", got, c.want)
			}
			if got := fanout.HasCompactionStage(dry.Manifest); got != c.compact {
				t.Errorf("compaction stage %v, want %v", got, c.compact)
			}
		})
	}
}
