package fanout_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// soakJobs is the number of jobs TestLongRunningWorkerStaysFlat serves;
// `go test ./fanout -run TestLongRunningWorkerStaysFlat -soak-jobs 1000`
// runs the long version.
var soakJobs = flag.Int("soak-jobs", 150, "jobs TestLongRunningWorkerStaysFlat serves in one worker engine")

// TestLongRunningWorkerStaysFlat serves many small jobs, one after the
// other, with one long-running worker engine on a real Redis queue (as
// `fanout work` does), and checks that its heap does not grow with the
// jobs served: from a warm-up point to the end, the live heap (after GC)
// must grow by less than half a manifest per job served (the median of its
// growth over intervals of a few jobs), which a cache that kept every
// job's manifest would exceed.
//
// It measures in a process of its own (the test binary run again for this
// test only): in the package's process, goroutines and garbage that other
// tests leave behind move the live heap by more than the bound.
func TestLongRunningWorkerStaysFlat(t *testing.T) {
	if os.Getenv("FANOUT_SOAK_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLongRunningWorkerStaysFlat$", "-test.count=1", "-test.v",
			fmt.Sprintf("-soak-jobs=%d", *soakJobs))
		cmd.Env = append(os.Environ(), "FANOUT_SOAK_CHILD=1")
		out, err := cmd.CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.Contains(line, "soak_test.go") || strings.Contains(line, "SKIP") {
				t.Log(strings.TrimSpace(line))
			}
		}
		if err != nil {
			t.Fatalf("the soak process: %v\n%s", err, out)
		}
		if strings.Contains(string(out), "--- SKIP: TestLongRunningWorkerStaysFlat") {
			t.Skip("the soak process skipped: its reason is above (run the tests with scripts/test.sh)")
		}
		if !strings.Contains(string(out), "--- PASS: TestLongRunningWorkerStaysFlat") {
			t.Fatalf("the soak process did not pass:\n%s", out)
		}
		return
	}
	jobs := *soakJobs
	warm := max(jobs/3, 10)
	if jobs < 2*warm {
		t.Fatalf("-soak-jobs %d: want at least %d", jobs, 2*warm)
	}
	url, prefix := localstack.RedisNamespace(t)
	bucket, s3 := localstack.Bucket(t)
	open := func(ctx context.Context, storeURL string) (objstore.Bucket, error) {
		b, _, err := bucketurl.Open(ctx, storeURL, bucketurl.Options{Endpoint: s3.Endpoint, Region: s3.Region})
		return b, err
	}
	store, err := open(context.Background(), "s3://"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	// Many small objects: a manifest of some size, one chunk.
	for i := range 60 {
		key := fmt.Sprintf("in/part-%03d-%s.txt", i, strings.Repeat("n", 40))
		if _, err := store.Put(context.Background(), key, strings.NewReader(fmt.Sprintf("line %d\n", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	newEngine := func(name string) *fanout.Engine {
		q, err := redisqueue.New(context.Background(), redisqueue.Config{URL: url, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Open: open, Functions: builtin.Registry(), WorkerName: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	worker, driver := newEngine("soak-worker"), newEngine("soak-driver")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.Work(ctx, fanout.WorkOptions{Concurrency: 2, IdlePoll: 20 * time.Millisecond}) }()
	defer func() {
		cancel()
		<-done
	}()

	// The live heap is sampled every few jobs from the warm-up point on.
	// A cache that keeps every job's state grows it by the same amount in
	// every interval; a one-time allocation (the Redis client's pool opening
	// one more connection with its 64 KiB of buffers when the load peaks)
	// moves it once. The median of the per-interval growths tells the two
	// apart: one step moves one interval, a leak moves all of them.
	const every = 5
	var manifestBytes int64 // one job's manifest and shards, decoded, in memory
	var samples []int64
	start := time.Now()
	for i := range jobs {
		spec := manifest.JobSpec{Inputs: []string{"s3://" + bucket + "/in/"}, Function: "grep", Args: map[string]string{"pattern": "line"},
			Output: fmt.Sprintf("s3://%s/out/job-%04d/", bucket, i), OutputFormat: "lines"}.WithDefaults()
		info, err := driver.Submit(ctx, spec)
		if err != nil {
			t.Fatalf("job %d: Submit: %v", i, err)
		}
		res, err := driver.Wait(ctx, spec.Output, info.Manifest.Job, fanout.RunOptions{Poll: 20 * time.Millisecond})
		if err != nil || res.State != fanout.StateCommitted || res.RecordsOut != 60 {
			t.Fatalf("job %d: Wait = %s, %d records out, %v; want committed with 60", i, res.State, res.RecordsOut, err)
		}
		if i == 0 {
			layout := manifest.Layout{Prefix: "out/job-0000/"}
			manifestBytes = decodedManifestBytes(t, store, layout, info.Manifest.Job)
		}
		if i >= warm-1 && (i-(warm-1))%every == 0 {
			samples = append(samples, int64(liveHeap()))
		}
	}
	steps := make([]int64, 0, len(samples)-1)
	for k := 1; k < len(samples); k++ {
		steps = append(steps, samples[k]-samples[k-1])
	}
	slices.Sort(steps)
	perJob := float64(steps[len(steps)/2]) / every
	bound := float64(manifestBytes) / 2
	t.Logf("%d jobs in %s; live heap %d KiB after %d jobs, %d KiB at the end (total %+d KiB); growth per %d jobs, sorted: %v bytes; median %.0f bytes a job; a leak of one manifest would add %d bytes a job; bound %.0f",
		jobs, time.Since(start).Round(time.Millisecond), samples[0]>>10, warm, samples[len(samples)-1]>>10, (samples[len(samples)-1]-samples[0])>>10, every, steps, perJob, manifestBytes, bound)
	if perJob >= bound {
		t.Fatalf("live heap grows by %.0f bytes a job (median over %d intervals of %d jobs); want less than %.0f (half a %d-byte decoded manifest)", perJob, len(steps), every, bound, manifestBytes)
	}
}

// decodedManifestBytes measures what one decoded copy of the job's
// manifest and shards holds on the heap: the least a cache that kept
// every job's manifest would leak per job.
func decodedManifestBytes(t *testing.T, store objstore.Bucket, layout manifest.Layout, job string) int64 {
	t.Helper()
	ctx := context.Background()
	var bodies [][]byte
	manifestKey := layout.ManifestKey(job)
	for o, err := range store.List(ctx, strings.TrimSuffix(manifestKey, ".json"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := store.Get(ctx, o.Key, &objstore.GetOptions{Length: -1})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if o.Key != manifestKey {
			b = append([]byte{'s'}, b...) // a shard
		}
		bodies = append(bodies, b)
	}
	const copies = 50
	kept := make([]any, 0, copies*len(bodies))
	before := liveHeap()
	for range copies {
		for _, b := range bodies {
			var v any
			var err error
			if b[0] == 's' {
				v, err = manifest.DecodeShard(b[1:])
			} else {
				v, err = manifest.DecodeManifest(b)
			}
			if err != nil {
				t.Fatal(err)
			}
			kept = append(kept, v)
		}
	}
	after := liveHeap()
	runtime.KeepAlive(kept)
	return (int64(after) - int64(before)) / copies
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
