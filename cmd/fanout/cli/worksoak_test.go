package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
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

// workSoakJobs is the number of jobs TestWorkProcessRSSStaysFlat serves;
// `go test ./cmd/fanout/cli -run TestWorkProcessRSSStaysFlat
// -work-soak-jobs 1000 -v` runs the long version.
var workSoakJobs = flag.Int("work-soak-jobs", 150, "jobs TestWorkProcessRSSStaysFlat serves with one fanout work process")

// TestWorkProcessRSSStaysFlat serves many small jobs, one after the
// other, with one `fanout work` process (the binary, on Redis and MinIO),
// and reads its resident set (VmRSS) after every job. Each job's inputs
// are 100 objects with keys of about 820 bytes, so its manifest holds
// more than 80 KB of keys: a process that kept every job's manifest
// would grow by at least that much a job. From the first third of the
// jobs on, the RSS's median growth over stretches of 5 jobs must be less
// than half of that a job, and its growth in all less than that a job
// (about 8 MB over 100 jobs in the default run); the test logs the RSS
// along the way.
func TestWorkProcessRSSStaysFlat(t *testing.T) {
	jobs := *workSoakJobs
	warm := max(jobs/3, 10)
	if jobs < 2*warm {
		t.Fatalf("-work-soak-jobs %d: want at least %d", jobs, 2*warm)
	}
	if _, err := os.ReadFile("/proc/self/status"); err != nil {
		localstack.Missing(t, fmt.Sprintf("/proc/<pid>/status, to read a process's RSS (%v),", err))
	}
	bin := fanoutBinary(t)
	url, prefix := localstack.RedisNamespace(t)
	bucket, s3 := localstack.Bucket(t)
	open := func(ctx context.Context, storeURL string) (objstore.Bucket, error) {
		b, _, err := bucketurl.Open(ctx, storeURL, bucketurl.Options{Endpoint: s3.Endpoint, Region: s3.Region})
		return b, err
	}
	ctx := t.Context()
	store, err := open(ctx, "s3://"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	// MinIO allows 255 bytes a path segment: four long directories.
	dir := "in/"
	for d := range 4 {
		dir += fmt.Sprintf("d%d-%s/", d, strings.Repeat("k", 200))
	}
	var keyBytes int64
	for i := range 100 {
		key := fmt.Sprintf("%spart-%03d.txt", dir, i)
		keyBytes += int64(len(key))
		if _, err := store.Put(ctx, key, strings.NewReader(fmt.Sprintf("line %d\n", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"AWS_ENDPOINT_URL_S3=" + s3.Endpoint, "AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey,
		"AWS_REGION=" + s3.Region, "FANOUT_REDIS_URL=" + url, "FANOUT_REDIS_PREFIX=" + prefix,
		"FANOUT_OUT_BASES=s3://" + bucket + "/"}
	worker := localstack.Start(t, "work", env, bin, "work", "--concurrency", "2", "--grace", "2s")
	defer worker.Kill()

	q, err := redisqueue.New(ctx, redisqueue.Config{URL: url, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	driver, err := fanout.New(fanout.Config{Queue: q, Admin: q, Open: open, Functions: builtin.Registry(), WorkerName: "soak-driver"})
	if err != nil {
		t.Fatal(err)
	}
	defer driver.Close()

	rss := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", worker.Pid()))
		if err != nil {
			t.Fatalf("the work process: %v\nstderr:\n%s", err, worker.Stderr())
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					t.Fatalf("VmRSS %q: %v", v, err)
				}
				return kb << 10
			}
		}
		t.Fatalf("no VmRSS in /proc/%d/status", worker.Pid())
		return 0
	}
	var samples []int64
	start := time.Now()
	for i := range jobs {
		spec := manifest.JobSpec{Inputs: []string{"s3://" + bucket + "/in/"}, Function: "grep", Args: map[string]string{"pattern": "line"},
			Output: fmt.Sprintf("s3://%s/out/job-%04d/", bucket, i), OutputFormat: "lines"}.WithDefaults()
		info, err := driver.Submit(ctx, spec)
		if err != nil {
			t.Fatalf("job %d: Submit: %v", i, err)
		}
		// Workers 0: the work process runs every chunk; a minute is
		// plenty for a job of 100 lines, and the work process must live.
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		go func() {
			select {
			case <-worker.Done():
				cancel()
			case <-wctx.Done():
			}
		}()
		res, err := driver.Wait(wctx, spec.Output, info.Manifest.Job, fanout.RunOptions{Poll: 20 * time.Millisecond})
		cancel()
		if err != nil || res.State != fanout.StateCommitted || res.RecordsOut != 100 {
			t.Fatalf("job %d: Wait = %s, %d records out, %v; want committed with 100\nwork's stderr:\n%s", i, res.State, res.RecordsOut, err, worker.Stderr())
		}
		if i >= warm-1 {
			samples = append(samples, rss())
		}
	}
	select {
	case <-worker.Done():
		t.Fatalf("the work process ended: %v\n%s", worker.Err(), worker.Stderr())
	default:
	}
	if !strings.Contains(worker.Stderr(), "serving every job") {
		t.Fatalf("the work process did not say it serves every job:\n%s", worker.Stderr())
	}
	growth := samples[len(samples)-1] - samples[0]
	// A process that keeps what it served grows in every stretch of jobs;
	// a one-time step (one more Redis connection and its buffers, the
	// heap's next arena pages) moves one stretch. The median growth of
	// stretches of 5 jobs tells them apart; the total catches the rest.
	const every = 5
	var steps []int64
	for k := every; k < len(samples); k += every {
		steps = append(steps, samples[k]-samples[k-every])
	}
	slices.Sort(steps)
	perJob := steps[len(steps)/2] / every
	bound := int64(jobs-warm) * keyBytes / 2
	var line bytes.Buffer
	for k := 0; k < len(samples); k += max(len(samples)/10, 1) {
		fmt.Fprintf(&line, " %d", samples[k]>>10)
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	t.Logf("%d jobs in %s on one fanout work process; RSS after job %d: %d KiB, at the end: %d KiB (%+d KiB; min %d, max %d KiB); along the way (KiB):%s; median growth %d bytes a job; a process keeping every manifest would add at least %d KiB a job; bounds: %d bytes a job (median), %d KiB in all",
		jobs, time.Since(start).Round(time.Second), warm, samples[0]>>10, samples[len(samples)-1]>>10, growth>>10, sorted[0]>>10, sorted[len(sorted)-1]>>10, line.String(), perJob, keyBytes>>10, keyBytes/2, 2*bound>>10)
	if perJob >= keyBytes/2 || growth >= 2*bound {
		t.Fatalf("the work process's RSS grew by %d bytes a job (median of stretches of %d jobs) and %d KiB in all over %d jobs; want less than %d bytes a job (half the keys of a job's manifest) and %d KiB", perJob, every, growth>>10, jobs-warm, keyBytes/2, 2*bound>>10)
	}
}
