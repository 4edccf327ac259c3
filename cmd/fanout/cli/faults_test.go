package cli

// Process-level fault tests: fanout work processes against real MinIO and
// Redis, with faults aimed at exact windows through an S3 proxy in front
// of one worker (faulttest.S3Proxy), and private Redis and MinIO servers
// where the fault is the server's. Every test ends with the oracle
// (faulttest.CheckCommitted): every input record exactly once, exactly one
// marker per chunk, nothing left in staging.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/miniostore"
)

// faultLease is the lease of the fault tests' jobs: short, so that a
// killed or stopped worker's chunk is reclaimed quickly.
const faultLease = "2s"

// s3Service is how a fault job reaches its S3 store.
type s3Service struct {
	Endpoint, AccessKey, SecretKey, Region string
	client                                 *minio.Client
}

// faultJob is one job of a fault test: JSONL input with a unique id per
// record in a bucket of its own, a Redis key namespace (or a private
// Redis), and fanout processes.
type faultJob struct {
	t        *testing.T
	s3       s3Service
	bucket   string
	redisURL string
	prefix   string
	ids      []string
	job      string
	chunks   int
	store    objstore.Bucket
}

// faultSetup says where a fault job's services are.
type faultSetup struct {
	// minio is a private MinIO; nil: the shared local one.
	minio *localstack.MinIO
	// redisURL is a private Redis; "": a namespace on the shared one.
	redisURL string
	// objects and rows size the input (default 4 objects of 500 rows,
	// about 20 chunks of 8 KiB).
	objects, rows int
}

func newFaultJob(t *testing.T, setup faultSetup) *faultJob {
	t.Helper()
	fanoutBinary(t) // build before any service starts its clock
	j := &faultJob{t: t}
	if setup.minio != nil {
		m := setup.minio
		j.s3 = s3Service{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, Region: m.Region, client: m.Client()}
		j.bucket = localstack.UniqueName(t)
		m.MakeBucket(j.bucket)
	} else {
		bucket, cfg := localstack.Bucket(t)
		client, err := cfg.MinioClient()
		if err != nil {
			t.Fatal(err)
		}
		j.s3 = s3Service{Endpoint: cfg.Endpoint, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Region: cfg.Region, client: client}
		j.bucket = bucket
	}
	if setup.redisURL != "" {
		j.redisURL, j.prefix = setup.redisURL, "fanout"
	} else {
		j.redisURL, j.prefix = localstack.RedisNamespace(t)
	}
	store, err := miniostore.New(context.Background(), miniostore.Config{Endpoint: j.s3.Endpoint, Bucket: j.bucket,
		AccessKey: j.s3.AccessKey, SecretKey: j.s3.SecretKey, Region: j.s3.Region})
	if err != nil {
		t.Fatal(err)
	}
	j.store = store
	if setup.objects == 0 {
		setup.objects, setup.rows = 4, 500
	}
	r := rand.New(rand.NewPCG(uint64(len(t.Name())), 7))
	for o := range setup.objects {
		var b bytes.Buffer
		for range setup.rows {
			id := fmt.Sprintf("r%06d", len(j.ids))
			j.ids = append(j.ids, id)
			fmt.Fprintf(&b, `{"id":%q,"grp":"g%d","n":%d,"pad":%q}`+"\n", id, len(j.ids)%4, len(j.ids), strings.Repeat("x", r.IntN(60)))
		}
		j.put(fmt.Sprintf("in/part-%02d.jsonl", o), b.Bytes())
	}
	return j
}

func (j *faultJob) put(key string, body []byte) {
	j.t.Helper()
	if _, err := j.s3.client.PutObject(context.Background(), j.bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		j.t.Fatal(err)
	}
}

func (j *faultJob) out() string { return "s3://" + j.bucket + "/out/" }

// env is the environment of a fanout process whose S3 requests go to
// endpoint ("" for the store itself).
func (j *faultJob) env(endpoint string) []string {
	if endpoint == "" {
		endpoint = j.s3.Endpoint
	}
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"AWS_ENDPOINT_URL_S3=" + endpoint, "AWS_ACCESS_KEY_ID=" + j.s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + j.s3.SecretKey,
		"AWS_REGION=" + j.s3.Region, "FANOUT_REDIS_URL=" + j.redisURL, "FANOUT_REDIS_PREFIX=" + j.prefix,
		"FANOUT_OUT_BASES=s3://" + j.bucket + "/"}
}

// jobArgs are the flags of the fault tests' job: JSONL to JSONL
// partitioned by grp (several files per chunk), small chunks, short lease,
// and no backup attempts (each fault test pins which attempt publishes;
// TestSlowWorkerGetsABackup turns them on, the chaos test leaves them on).
func (j *faultJob) jobArgs(extra ...string) []string {
	return append([]string{"--in", "s3://" + j.bucket + "/in/", "--fn", "convert", "--out", j.out(), "--out-format", "jsonl",
		"--partition-by", "grp", "--chunk-size", "8KiB", "--lease", faultLease, "--backup-after", "0"}, extra...)
}

// submit plans and enqueues the job and remembers its ID.
func (j *faultJob) submit(extra ...string) {
	j.t.Helper()
	stdout, stderr, err := localstack.Run(context.Background(), j.env(""), fanoutBinary(j.t), append([]string{"submit", "--json"}, j.jobArgs(extra...)...)...)
	if err != nil {
		j.t.Fatalf("fanout submit: %v\n%s%s", err, stdout, stderr)
	}
	var res struct {
		Job    string `json:"job"`
		Chunks int    `json:"chunks"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		j.t.Fatalf("fanout submit --json: %v: %s", err, stdout)
	}
	j.job, j.chunks = res.Job, res.Chunks
	if j.chunks < 10 {
		j.t.Fatalf("the job has %d chunks, want at least 10", j.chunks)
	}
}

// worker starts `fanout work -v` with its S3 requests going to endpoint.
// killWorkerWhenCaught starts "worker-a" through endpoint (a fault
// proxy), waits until the proxy's handler sends what it caught (a chunk
// or key), and SIGKILLs the worker there; what names the moment for the
// failure message ("created a marker").
func (j *faultJob) killWorkerWhenCaught(t *testing.T, endpoint string, caught <-chan string, what string) string {
	t.Helper()
	a := j.worker("worker-a", endpoint, 1)
	var got string
	select {
	case got = <-caught:
	case <-time.After(60 * time.Second):
		t.Fatalf("worker a never %s:\n%s", what, a.Stderr())
	}
	a.Kill()
	a.Wait(t, 10*time.Second)
	return got
}

func (j *faultJob) worker(name, endpoint string, concurrency int) *localstack.Proc {
	return localstack.Start(j.t, name, j.env(endpoint), fanoutBinary(j.t), "work", "-v", "--concurrency", strconv.Itoa(concurrency), "--grace", "2s")
}

// driver starts `fanout wait JOB --json` in the background.
func (j *faultJob) driver(endpoint string) *localstack.Proc {
	return localstack.Start(j.t, "wait", j.env(endpoint), fanoutBinary(j.t), "wait", j.job, "--out", j.out(), "--json", "--quiet")
}

// committed waits for a driver (wait or run --json) and checks that it
// reports the job committed.
func (j *faultJob) committed(d *localstack.Proc, timeout time.Duration) runJSON {
	j.t.Helper()
	err := d.Wait(j.t, timeout)
	var res runJSON
	if jerr := json.Unmarshal([]byte(d.Stdout()), &res); jerr != nil || err != nil || res.State != "committed" {
		j.t.Fatalf("%s: %v; state %q; stdout:\n%s\nstderr:\n%s", d.Name, err, res.State, d.Stdout(), d.Stderr())
	}
	return res
}

// check runs the oracle on the committed output.
func (j *faultJob) check() faulttest.Committed {
	j.t.Helper()
	return faulttest.CheckCommitted(j.t, j.store, "out/", j.job, faulttest.JSONField("id"), j.ids)
}

// markerCount counts the job's markers in the bucket.
func (j *faultJob) markerCount() int {
	n := 0
	for _, err := range j.store.List(context.Background(), "out/_fanout/"+j.job+"/chunks/", nil) {
		if err != nil {
			j.t.Fatal(err)
		}
		n++
	}
	return n
}

// snapshot lists every key under out/ with its ETag.
func (j *faultJob) snapshot() map[string]string {
	j.t.Helper()
	m := map[string]string{}
	for info, err := range j.store.List(context.Background(), "out/", nil) {
		if err != nil {
			j.t.Fatal(err)
		}
		m[info.Key] = info.ETag
	}
	return m
}

// snapshotDiff lists the keys added, removed or changed between two
// snapshots, one per line; "" when they are equal.
func snapshotDiff(before, after map[string]string) string {
	var b strings.Builder
	for k, v := range before {
		switch w, ok := after[k]; {
		case !ok:
			fmt.Fprintf(&b, "- %s\n", k)
		case w != v:
			fmt.Fprintf(&b, "~ %s (etag %s -> %s)\n", k, v, w)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			fmt.Fprintf(&b, "+ %s\n", k)
		}
	}
	return b.String()
}

// workerCounters parses the line `fanout work` prints when it stops.
var workerCounters = regexp.MustCompile(`stopped after (\d+) chunks \((\d+) skipped, (\d+) failed, (\d+) leases lost\)`)

// stopWorker sends SIGTERM and returns the worker's counters: chunks,
// skipped, failed, leases lost.
func stopWorker(t *testing.T, w *localstack.Proc) [4]int {
	t.Helper()
	w.Signal(syscall.SIGTERM)
	if err := w.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("%s exited with %v after SIGTERM:\n%s", w.Name, err, w.Stderr())
	}
	m := workerCounters.FindStringSubmatch(w.Stderr())
	if m == nil {
		t.Fatalf("%s printed no counters:\n%s", w.Name, w.Stderr())
	}
	var c [4]int
	for i := range c {
		c[i], _ = strconv.Atoi(m[i+1])
	}
	return c
}

// hold makes a proxy hook block until the request's client gives up, the
// proxy closes, or release is closed; it returns ErrDrop unless released.
func hold(r *http.Request, p *faulttest.S3Proxy, release <-chan struct{}) error {
	select {
	case <-release:
		return nil
	case <-r.Context().Done():
	case <-p.Closed():
	}
	return faulttest.ErrDrop
}

// TestWorkerKilledMidOutput kills a worker with SIGKILL after it uploaded
// part of a chunk's output (the first of several partition files) and
// before it published the marker. Another worker reruns the chunk once the
// lease expires; the dead attempt's file never reaches the output.
func TestWorkerKilledMidOutput(t *testing.T) {
	j := newFaultJob(t, faultSetup{})
	j.submit()
	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	caught := make(chan string, 1)
	var mu sync.Mutex
	perAttempt := map[string]int{}
	proxy.Before(func(r *http.Request) error {
		chunk, attempt, start, ok := faulttest.OutputWrite(r, j.job)
		if !ok || !start {
			return nil
		}
		mu.Lock()
		perAttempt[attempt]++
		second := perAttempt[attempt] == 2
		mu.Unlock()
		if !second {
			return nil
		}
		select {
		case caught <- chunk:
			return hold(r, proxy, nil) // until the worker is dead
		default:
			return nil
		}
	})
	chunk := j.killWorkerWhenCaught(t, proxy.URL, caught, "wrote a second staging file")
	staged := 0
	for _, err := range j.store.List(context.Background(), manifest.NewLayout("out").StagingRoot(j.job)+manifest.ChunkSpread(chunk)+"/"+chunk+"/", nil) {
		if err == nil {
			staged++
		}
	}
	staged += openUploadsOf(t, j, chunk)
	if staged != 1 {
		t.Fatalf("chunk %s has %d staged files (or open uploads) after the kill, want exactly the first one", chunk, staged)
	}

	j.worker("worker-b", "", 2)
	j.committed(j.driver(""), 2*time.Minute)
	c := j.check()
	if m := c.Markers[chunk]; m.Epoch < 2 {
		t.Errorf("chunk %s was published by epoch %d, want a later attempt than the killed one", chunk, m.Epoch)
	}
	if n := openUploadsOf(t, j, chunk); n != 0 {
		t.Errorf("chunk %s: %d uploads left open after the commit, want the killed attempt's aborted", chunk, n)
	}
	t.Logf("killed worker a in chunk %s with 1 of its files staged; %d chunks, %d records committed once", chunk, c.Chunks, c.Records)
}

// openUploadsOf counts the job's open uploads of chunk's files (the
// no-copy commit's staged output on MinIO).
func openUploadsOf(t *testing.T, j *faultJob, chunk string) int {
	t.Helper()
	n := 0
	for u, err := range fanout.JobUploads(context.Background(), j.store, manifest.NewLayout("out/"), j.job) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(path.Base(u.Key), "part-"+j.job+"-"+chunk+"-") {
			n++
		}
	}
	return n
}

// TestWorkerStoppedPastItsLease stops a worker (SIGSTOP) in the middle of
// a chunk for longer than its lease; another worker takes the chunk over
// and the job commits. Then the stopped worker resumes (SIGCONT): its
// heartbeat learns the lease is lost, it stops the chunk, and its late
// writes change nothing in the committed output.
func TestWorkerStoppedPastItsLease(t *testing.T) {
	j := newFaultJob(t, faultSetup{})
	j.submit()
	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	caught := make(chan string, 1)
	release := make(chan struct{})
	var resumed atomic.Bool
	var replays sync.WaitGroup
	var lateMu sync.Mutex
	var latePuts []string
	releaseMarker := make(chan struct{})
	proxy.Before(func(r *http.Request) error {
		if resumed.Load() && r.Method == http.MethodPut {
			lateMu.Lock()
			latePuts = append(latePuts, faulttest.ObjectKey(r))
			lateMu.Unlock()
		}
		if _, _, _, output := faulttest.OutputWrite(r, j.job); output && resumed.Load() {
			// A late staged write lands after its client gave up on
			// it (the heartbeat cancelled the attempt), as a request
			// cut off in flight may on any S3, unless the client waits
			// for its answer.
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return err
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-r.Context().Done():
				replays.Add(1)
				defer replays.Done()
				time.Sleep(300 * time.Millisecond)
				if err := proxy.Replay(r, body); err != nil {
					t.Errorf("replaying a late write: %v", err)
				}
				return faulttest.ErrDrop
			case <-time.After(time.Second):
				return nil
			}
		}
		if resumed.Load() && faulttest.IsMarkerPut(r) {
			// A late marker waits until the heartbeat has spoken, then
			// goes to the store (which refuses it: another attempt won).
			return hold(r, proxy, releaseMarker)
		}
		chunk, _, _, ok := faulttest.OutputWrite(r, j.job)
		if !ok {
			return nil
		}
		select {
		case caught <- chunk:
			return hold(r, proxy, release)
		default:
			return nil
		}
	})
	a := j.worker("worker-a", proxy.URL, 1)
	var chunk string
	select {
	case chunk = <-caught:
	case <-time.After(60 * time.Second):
		t.Fatalf("worker a never staged a file:\n%s", a.Stderr())
	}
	if err := a.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	close(release) // the staged write lands while the worker is stopped

	j.worker("worker-b", "", 2)
	res := j.committed(j.driver(""), 2*time.Minute)
	if res.Job != j.job {
		t.Fatalf("committed job %s, want %s", res.Job, j.job)
	}
	before := j.snapshot()

	resumed.Store(true)
	if err := a.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	a.WaitLog(t, "lease lost", 30*time.Second)
	close(releaseMarker)
	// The resumed attempt cleans up after itself.
	localstack.Poll(t, 30*time.Second, "the resumed worker to remove its staged files and abort its uploads", func() bool {
		for range j.store.List(context.Background(), "out/_fanout/"+j.job+"/staging/", nil) {
			return false
		}
		return openUploadsOf(t, j, chunk) == 0
	})
	counters := stopWorker(t, a)
	// Worker a runs one chunk at a time, but publishes a chunk while it
	// runs the next: stopped while publishing chunk, it may hold the next
	// chunk's lease too, and loses both.
	if counters[3] < 1 || counters[3] > 2 || counters[0] != 0 {
		t.Errorf("worker a: %d chunks, %d leases lost; want 0 chunks and 1 lease lost (2 with the chunk after it)", counters[0], counters[3])
	}
	replays.Wait()
	if d := snapshotDiff(before, j.snapshot()); d != "" {
		lateMu.Lock()
		t.Errorf("the resumed worker changed the committed output:\n%slate writes: %q\n%s", d, latePuts, a.Stderr())
		lateMu.Unlock()
	}
	c := j.check()
	if m := c.Markers[chunk]; m.Epoch < 2 {
		t.Errorf("chunk %s was published by epoch %d, want the attempt that took over", chunk, m.Epoch)
	}
	t.Logf("stopped worker a in chunk %s past its %s lease; it made %d late write(s) after resuming; %d chunks, %d records committed once",
		chunk, faultLease, len(latePuts), c.Chunks, c.Records)
}

// TestWorkerKilledAfterMarkerBeforeAck kills a worker with SIGKILL after
// the store created its chunk marker and before the worker could ack the
// lease: the chunk is delivered again, the new attempt finds the marker
// and skips it, and the killed attempt's output is the one committed.
func TestWorkerKilledAfterMarkerBeforeAck(t *testing.T) {
	j := newFaultJob(t, faultSetup{})
	j.submit()
	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	caught := make(chan string, 1)
	proxy.After(func(r *http.Request, resp *http.Response) error {
		if !faulttest.IsMarkerPut(r) || resp.StatusCode != http.StatusOK {
			return nil
		}
		select {
		case caught <- faulttest.ObjectKey(r):
			return hold(r, proxy, nil) // the worker never hears of it
		default:
			return nil
		}
	})
	key := j.killWorkerWhenCaught(t, proxy.URL, caught, "created a marker")
	marker, err := j.store.Stat(context.Background(), key)
	if err != nil {
		t.Fatalf("the marker the store created is not there: %v", err)
	}

	b := j.worker("worker-b", "", 2)
	j.committed(j.driver(""), 2*time.Minute)
	counters := stopWorker(t, b)
	c := j.check()
	chunk := strings.TrimSuffix(key[strings.LastIndex(key, "/")+1:], ".json")
	if m := c.Markers[chunk]; m.Epoch != 1 || m.ETag != marker.ETag {
		t.Errorf("chunk %s: marker epoch %d etag %s, want the killed attempt's (epoch 1, etag %s)", chunk, m.Epoch, m.ETag, marker.ETag)
	}
	if counters[1] < 1 {
		t.Errorf("worker b skipped %d chunks, want the redelivered chunk %s skipped", counters[1], chunk)
	}
	t.Logf("killed worker a between the marker of %s and its ack; worker b: %d chunks, %d skipped", chunk, counters[0], counters[1])
}

// gate is a proxy hook that lets the first n marker writes through and
// holds the later ones until opened, so that a fault hits a job with some
// chunks published and others in flight.
type gate struct {
	proxy  *faulttest.S3Proxy
	n      int64
	passed atomic.Int64
	held   atomic.Int64
	open   chan struct{}
	once   sync.Once
}

func newGate(p *faulttest.S3Proxy, n int) *gate {
	g := &gate{proxy: p, n: int64(n), open: make(chan struct{})}
	p.Before(func(r *http.Request) error {
		if !faulttest.IsMarkerPut(r) {
			return nil
		}
		select {
		case <-g.open:
			return nil
		default:
		}
		if g.passed.Add(1) <= g.n {
			return nil
		}
		g.held.Add(1)
		defer g.held.Add(-1)
		return hold(r, p, g.open)
	})
	return g
}

// waitHalfway waits until n markers went through and a later one is held.
func (g *gate) waitHalfway(t *testing.T) {
	t.Helper()
	localstack.Poll(t, 60*time.Second, "the job to publish some chunks and hold another", func() bool {
		return g.passed.Load() > g.n && g.held.Load() > 0
	})
}

func (g *gate) Open() { g.once.Do(func() { close(g.open) }) }

// TestRedisFlushAllMidJob flushes Redis while chunks are in flight and
// others published: `fanout resume` rebuilds the queue from the manifest
// minus the markers, the workers finish, `fanout wait` commits.
func TestRedisFlushAllMidJob(t *testing.T) {
	redis := localstack.StartRedis(t)
	j := newFaultJob(t, faultSetup{redisURL: redis.URL()})
	j.submit()
	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	g := newGate(proxy, j.chunks/3)
	j.worker("worker-a", proxy.URL, 2)
	j.worker("worker-b", proxy.URL, 2)
	g.waitHalfway(t)
	if err := redis.Client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	g.Open()
	stdout, stderr, err := localstack.Run(context.Background(), j.env(""), fanoutBinary(t), "resume", j.job, "--out", j.out())
	if err != nil || !strings.Contains(stdout, "without a marker enqueued") {
		t.Fatalf("fanout resume: %v\n%s%s", err, stdout, stderr)
	}
	j.committed(j.driver(""), 2*time.Minute)
	c := j.check()
	t.Logf("FLUSHALL after %d markers; resume said %q; %d chunks, %d records committed once", j.chunks/3, strings.TrimSpace(stdout), c.Chunks, c.Records)
}

// TestRedisRestartedWithoutPersistence kills Redis and starts it empty on
// the same port in the middle of a `fanout run`: the run notices that the
// queue forgot the job, rebuilds it from the bucket and commits.
func TestRedisRestartedWithoutPersistence(t *testing.T) {
	redis := localstack.StartRedis(t)
	j := newFaultJob(t, faultSetup{redisURL: redis.URL()})
	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	g := newGate(proxy, 6)
	j.worker("worker-a", proxy.URL, 2)
	j.worker("worker-b", proxy.URL, 2)
	run := localstack.Start(t, "run", j.env(""), fanoutBinary(t), append([]string{"run", "--workers", "0", "--json", "--quiet"}, j.jobArgs()...)...)
	g.waitHalfway(t)
	redis.Restart()
	g.Open()
	res := j.committed(run, 2*time.Minute)
	j.job, j.chunks = res.Job, res.Chunks
	c := j.check()
	t.Logf("Redis restarted empty after 6 markers; %d chunks, %d records committed once", c.Chunks, c.Records)
}

// TestRedisUnreachableLongerThanALease freezes Redis (SIGSTOP) for longer
// than a lease while chunks are in flight: the workers cannot confirm
// their leases and stop their chunks; once Redis is back the expired
// leases are reclaimed and `fanout wait` commits.
func TestRedisUnreachableLongerThanALease(t *testing.T) {
	redis := localstack.StartRedis(t)
	j := newFaultJob(t, faultSetup{redisURL: redis.URL()})
	j.submit()
	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	g := newGate(proxy, j.chunks/3)
	a := j.worker("worker-a", proxy.URL, 2)
	b := j.worker("worker-b", proxy.URL, 2)
	g.waitHalfway(t)
	redis.Stop()
	stopped := time.Now()
	lease, _ := time.ParseDuration(faultLease)
	// Deliberately longer than a lease: poll until a worker holding a
	// chunk gave it up and the lease is over on any clock.
	localstack.Poll(t, 60*time.Second, "a worker to give up a lease it cannot confirm", func() bool {
		return time.Since(stopped) > 2*lease &&
			(strings.Contains(a.Stderr(), "lease lost") || strings.Contains(b.Stderr(), "lease lost"))
	})
	g.Open()
	redis.Cont()
	j.committed(j.driver(""), 2*time.Minute)
	c := j.check()
	t.Logf("Redis frozen for %s; %d chunks, %d records committed once", time.Since(stopped).Round(time.Millisecond), c.Chunks, c.Records)
}

// TestMinIORestartedMidJob kills a private MinIO with SIGKILL in the
// middle of a `fanout run` and starts it again on the same data: requests
// in the gap are retried, and the job commits exactly once.
func TestMinIORestartedMidJob(t *testing.T) {
	m := localstack.StartMinIO(t)
	j := newFaultJob(t, faultSetup{minio: m})
	proxy := faulttest.NewS3Proxy(t, m.Endpoint)
	g := newGate(proxy, 6)
	j.worker("worker-a", proxy.URL, 2)
	j.worker("worker-b", proxy.URL, 2)
	run := localstack.Start(t, "run", j.env(proxy.URL), fanoutBinary(t), append([]string{"run", "--workers", "0", "--json", "--quiet"}, j.jobArgs()...)...)
	g.waitHalfway(t)
	t0 := time.Now()
	m.Restart()
	down := time.Since(t0)
	g.Open()
	res := j.committed(run, 2*time.Minute)
	j.job, j.chunks = res.Job, res.Chunks
	c := j.check()
	t.Logf("MinIO down for %s after 6 markers; %d chunks, %d records committed once", down.Round(time.Millisecond), c.Chunks, c.Records)
}

// TestPoisonChunkDeadLettersAndRedrive runs a job one of whose chunks
// fails every time (the exec function exits 3 on a poisoned record until
// a "healed" file exists). After --max-attempts the chunk is
// dead-lettered with its reason; the job fails naming it; with
// --max-failed 1 the same input commits and reports what it left out; and
// `fanout redrive` reruns only the failed chunk once the cause is fixed.
func TestPoisonChunkDeadLettersAndRedrive(t *testing.T) {
	j := newFaultJob(t, faultSetup{objects: 1, rows: 1})
	healed := j.t.TempDir() + "/healed"
	var want, wantTolerated []string
	for o := range 12 {
		var b strings.Builder
		for i := range 50 {
			line := fmt.Sprintf("obj%02d-line%03d", o, i)
			if o == 5 && i == 17 {
				line += " POISON"
			}
			b.WriteString(line + "\n")
			want = append(want, line)
			if o != 5 {
				wantTolerated = append(wantTolerated, line)
			}
		}
		j.put(fmt.Sprintf("text/obj-%02d.txt", o), []byte(b.String()))
	}
	cmd := `data=$(cat); case "$data" in *POISON*) [ -e '` + healed + `' ] || { echo "poisoned record, cannot go on" >&2; exit 3; };; esac; printf '%s\n' "$data"`
	args := func(out string, extra ...string) []string {
		return append([]string{"run", "--in", "s3://" + j.bucket + "/text/", "--fn", "exec", "--arg", "shell=true", "--arg", "cmd=" + cmd,
			"--out", out, "--out-format", "lines", "--max-objects-per-chunk", "1", "--max-attempts", "2", "--lease", "10s",
			"--workers", "2", "--json", "--quiet"}, extra...)
	}
	type result struct {
		runJSON
		Failed []struct{ Chunk, Reason string } `json:"failed"`
		Error  string                           `json:"error"`
	}
	run := func(args []string) (result, error) {
		stdout, stderr, err := localstack.Run(context.Background(), j.env(""), fanoutBinary(t), args...)
		var res result
		if jerr := json.Unmarshal([]byte(stdout), &res); jerr != nil {
			t.Fatalf("fanout %s: %v: %v\n%s%s", args[0], err, jerr, stdout, stderr)
		}
		return res, err
	}

	// No tolerance: the job fails and names the chunk and why.
	res, err := run(args("s3://" + j.bucket + "/out/"))
	if err == nil || res.State != "failed" || len(res.Failed) != 1 {
		t.Fatalf("got %v, %+v; want a failed job with one failed chunk", err, res)
	}
	failedChunk, reason := res.Failed[0].Chunk, res.Failed[0].Reason
	for _, s := range []string{"chunk " + failedChunk, "exit status 3", "poisoned record, cannot go on"} {
		if !strings.Contains(reason, s) || !strings.Contains(res.Error, failedChunk) {
			t.Errorf("failure %q (error %q) does not say %q", reason, res.Error, s)
		}
	}
	if _, err := j.store.Stat(context.Background(), "out/_SUCCESS"); err == nil {
		t.Error("a failed job wrote _SUCCESS")
	}
	// The queue's dead-letter list holds it with the same reason.
	stdout, stderr, err := localstack.Run(context.Background(), j.env(""), fanoutBinary(t), "status", res.Job, "--json")
	var st struct {
		Markers int `json:"markers"`
		Queue   struct {
			Dead int `json:"dead"`
		} `json:"queue"`
	}
	if err != nil || json.Unmarshal([]byte(stdout), &st) != nil || st.Queue.Dead != 1 || st.Markers != 12 {
		t.Fatalf("fanout status: %v: %s%s; want 1 dead-lettered chunk and 12 markers", err, stdout, stderr)
	}
	q, err := redisqueue.New(context.Background(), redisqueue.Config{URL: j.redisURL, Prefix: j.prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	dead, err := q.DeadLetters(context.Background(), res.Job)
	if err != nil || len(dead) != 1 || dead[0].Chunk != failedChunk || dead[0].Failures != 2 || !strings.Contains(dead[0].Reason, "poisoned record") {
		t.Fatalf("dead letters: %v %+v; want %s after 2 failures with its reason", err, dead, failedChunk)
	}

	// With --max-failed 1 the same input commits without the chunk, and
	// says so.
	res2, err := run(args("s3://"+j.bucket+"/tolerant/", "--max-failed", "1"))
	if err != nil || res2.State != "committed" || len(res2.Failed) != 1 || !strings.Contains(res2.Failed[0].Reason, "exit status 3") {
		t.Fatalf("with --max-failed 1: %v, %+v; want committed with the chunk left out", err, res2)
	}
	c := faulttest.CheckCommitted(t, j.store, "tolerant/", res2.Job, faulttest.Line, wantTolerated)
	if len(c.Failed) != 1 || c.Records != len(wantTolerated) {
		t.Fatalf("tolerant commit: %d failed chunks, %d records; want 1 and %d", len(c.Failed), c.Records, len(wantTolerated))
	}
	// A committed job cannot be redriven.
	if _, stderr, err := localstack.Run(context.Background(), j.env(""), fanoutBinary(t), "redrive", res2.Job, "--out", "s3://"+j.bucket+"/tolerant/"); err == nil || !strings.Contains(stderr, "is committed") {
		t.Errorf("redrive of a committed job: %v %s; want a refusal", err, stderr)
	}

	// Fix the cause, redrive: only the failed chunk runs again.
	before := map[string]string{}
	for info, err := range j.store.List(context.Background(), "out/_fanout/"+res.Job+"/chunks/", nil) {
		if err != nil {
			t.Fatal(err)
		}
		before[info.Key] = info.ETag
	}
	if err := os.WriteFile(healed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err = localstack.Run(context.Background(), j.env(""), fanoutBinary(t), "redrive", res.Job, "--json")
	var rd struct {
		Chunks   []string `json:"chunks"`
		Redriven int      `json:"redriven"`
		Enqueued int      `json:"enqueued"`
	}
	if err != nil || json.Unmarshal([]byte(stdout), &rd) != nil || len(rd.Chunks) != 1 || rd.Chunks[0] != failedChunk || rd.Redriven != 1 {
		t.Fatalf("fanout redrive: %v: %s%s; want chunk %s redriven", err, stdout, stderr, failedChunk)
	}
	stdout, stderr, err = localstack.Run(context.Background(), j.env(""), fanoutBinary(t), "wait", res.Job, "--workers", "2", "--json", "--quiet")
	var res3 result
	if err != nil || json.Unmarshal([]byte(stdout), &res3) != nil || res3.State != "committed" || len(res3.Failed) != 0 {
		t.Fatalf("fanout wait after redrive: %v: %s%s", err, stdout, stderr)
	}
	c = faulttest.CheckCommitted(t, j.store, "out/", res.Job, faulttest.Line, want)
	for key, etag := range before {
		chunk := strings.TrimSuffix(key[strings.LastIndex(key, "/")+1:], ".json")
		if m := c.Markers[chunk]; chunk != failedChunk && m.ETag != etag {
			t.Errorf("chunk %s ran again on redrive (marker %s, was %s)", chunk, m.ETag, etag)
		}
	}
	t.Logf("poison chunk %s: %q; tolerated run left it out; redrive reran only it; %d records committed once", failedChunk, reason, c.Records)
}

// TestSlowWorkerGetsABackup makes one worker slow: the proxy in front of
// it holds its first input read. Once every other chunk is done and the
// straggler has run past the backup threshold (twice the median, at
// least manifest.BackupMinAge), the driver starts a backup attempt that
// the healthy worker runs and publishes; the job commits without waiting
// for the slow worker, which finds its lease gone, and whose late writes
// change nothing.
func TestSlowWorkerGetsABackup(t *testing.T) {
	j := newFaultJob(t, faultSetup{})
	j.submit("--backup-after", "2")
	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	caught := make(chan string, 1)
	release := make(chan struct{})
	proxy.Before(func(r *http.Request) error {
		if r.Method != http.MethodGet || !strings.HasPrefix(faulttest.ObjectKey(r), "in/") {
			return nil
		}
		select {
		case caught <- faulttest.ObjectKey(r):
			return hold(r, proxy, release) // a read that takes forever
		default:
			return nil
		}
	})
	slow := j.worker("worker-slow", proxy.URL, 1)
	select {
	case <-caught:
	case <-time.After(60 * time.Second):
		t.Fatalf("the slow worker never read its input:\n%s", slow.Stderr())
	}
	// `fanout status` names the straggler.
	stdout, stderr, err := localstack.Run(context.Background(), j.env(""), fanoutBinary(t), "status", j.job, "--json")
	var st struct {
		State   string `json:"state"`
		Slowest []struct {
			Chunk   string        `json:"chunk"`
			Worker  string        `json:"worker"`
			Running time.Duration `json:"running_ns"`
		} `json:"slowest"`
	}
	if err != nil || json.Unmarshal([]byte(stdout), &st) != nil || st.State != "running" || len(st.Slowest) != 1 ||
		!strings.HasPrefix(st.Slowest[0].Chunk, "c") || st.Slowest[0].Running <= 0 || st.Slowest[0].Worker == "" {
		t.Errorf("fanout status --json: %v\n%s%s\nwant the job running with one slowest chunk", err, stdout, stderr)
	}
	text, _, _ := localstack.Run(context.Background(), j.env(""), fanoutBinary(t), "status", j.job)
	if len(st.Slowest) == 1 && !regexp.MustCompile(`slowest\s+`+st.Slowest[0].Chunk+` running`).MatchString(text) {
		t.Errorf("fanout status does not name the slowest chunk %s:\n%s", st.Slowest[0].Chunk, text)
	}
	healthy := j.worker("worker-healthy", "", 1)
	res := j.committed(j.driver(""), 2*time.Minute)
	if res.Backups != 1 {
		t.Errorf("the commit record counts %d chunk(s) won by a backup attempt, want 1", res.Backups)
	}
	before := j.snapshot()
	slow.WaitLog(t, "lease lost", 30*time.Second)
	close(release)
	if counters := stopWorker(t, slow); counters[0] != 0 || counters[3] != 1 {
		t.Errorf("slow worker: %d chunks, %d leases lost; want 0 chunks and its lease taken by the backup's ack", counters[0], counters[3])
	}
	stopWorker(t, healthy)
	if d := snapshotDiff(before, j.snapshot()); d != "" {
		t.Errorf("the slow worker changed the committed output:\n%s", d)
	}
	c := j.check()
	t.Logf("%d chunks, %d records committed once; the straggler's chunk published by its backup", c.Chunks, c.Records)
}
