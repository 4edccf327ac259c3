package cli

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/localstack"
)

// chaosConfig is what scripts/chaos.sh passes in the environment.
type chaosConfig struct {
	seconds, chunks, workers int
	seed                     uint64
	// jobs are the kinds of job run, one after the other: "map" (a
	// map-only exec job), "aggregate" (a group-by through the reduce
	// stage) and "compact" (a partitioned convert whose small files go
	// through the compaction stage); FANOUT_CHAOS_JOB picks one, default
	// all three.
	jobs []string
}

func chaosFromEnv(t *testing.T) chaosConfig {
	num := func(name string, def int) int {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				t.Fatalf("%s=%q: want a positive number", name, v)
			}
			return n
		}
		return def
	}
	c := chaosConfig{seconds: num("FANOUT_CHAOS_SECONDS", 45), chunks: num("FANOUT_CHAOS_CHUNKS", 300), workers: num("FANOUT_CHAOS_WORKERS", 4),
		seed: uint64(time.Now().UnixNano())}
	if v := os.Getenv("FANOUT_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FANOUT_CHAOS_SEED=%q: %v", v, err)
		}
		c.seed = s
	}
	switch v := os.Getenv("FANOUT_CHAOS_JOB"); v {
	case "", "all":
		c.jobs = []string{"map", "aggregate", "compact"}
	case "map", "aggregate", "compact":
		c.jobs = []string{v}
	default:
		t.Fatalf("FANOUT_CHAOS_JOB=%q: want map, aggregate, compact or all", v)
	}
	return c
}

// TestChaos runs a job of several hundred chunks with several worker
// processes on a private Redis and a private MinIO while, at random, it
// kills (SIGKILL), stops (SIGSTOP, then SIGCONT) and gracefully stops
// workers, kills the driver, restarts Redis empty, flushes it, freezes it,
// and restarts MinIO. Then it lets the job finish and checks the committed
// result with the oracle: every record exactly once, one marker per chunk,
// nothing left in staging. It runs a map-only job, an aggregating one
// (a group-by whose reduce stage runs through the same chaos; its oracle
// is the count and sum of every group, computed from the generator) and a
// right-sized one (a convert partitioned by group with a target file size
// its chunks' files are far under, so a compaction stage merges them
// through the same chaos; the oracle also checks that each partition
// commits at most one file under half the target).
// scripts/chaos.sh runs it (scripts/test.sh runs a short one);
// FANOUT_CHAOS_SEED replays a run's schedule of faults.
func TestChaos(t *testing.T) {
	if os.Getenv("FANOUT_CHAOS") == "" {
		t.Skip("the chaos run is started by scripts/chaos.sh (scripts/test.sh runs a short one)")
	}
	cfg := chaosFromEnv(t)
	for _, kind := range cfg.jobs {
		t.Run(kind, func(t *testing.T) { runChaos(t, cfg, kind) })
	}
}

// chaosJob returns the flags of a chaos job of kind, the oracle's record
// key and the records it must find once each.
func chaosJob(j *faultJob, kind string) (args []string, key faulttest.RecordKey, want []string) {
	// Many attempts, since chaos makes many deliveries fail.
	args = []string{"--in", "s3://" + j.bucket + "/in/", "--out", j.out(), "--chunk-size", "8KiB", "--lease", faultLease, "--max-attempts", "20"}
	if kind == "map" {
		// Each chunk runs a program that takes a moment, so that faults
		// land in the middle of the job.
		return append(args, "--fn", "exec", "--arg", "shell=true", "--arg", "cmd=sleep 0.4; cat", "--out-format", "lines"),
			faulttest.JSONField("id"), j.ids
	}
	if kind == "compact" {
		// The least target (16 KiB): the 8 KiB chunks write files of
		// about 2 KiB per group, staged small and merged some eight to a
		// compaction task (about 40 tasks for 300 chunks).
		return append(args, "--fn", "convert", "--out-format", "jsonl", "--partition-by", "grp", "--target-file-size", sizedTargetFlag),
			faulttest.JSONField("id"), j.ids
	}
	// A group-by through the reduce stage: each output record is a group
	// with its count and sum, which a chunk merged twice or lost changes.
	// newFaultJob gives the i-th record (from 1) grp g<i%4> and n i.
	count, sum := map[string]int64{}, map[string]int64{}
	for i := 1; i <= len(j.ids); i++ {
		g := fmt.Sprintf("g%d", i%4)
		count[g]++
		sum[g] += int64(i)
	}
	for g := range count {
		want = append(want, fmt.Sprintf("%s count=%d sum=%d", g, count[g], sum[g]))
	}
	key = func(line []byte) (string, error) {
		var r struct {
			Grp   string `json:"grp"`
			Count int64  `json:"count"`
			Sum   int64  `json:"sum_n"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s count=%d sum=%d", r.Grp, r.Count, r.Sum), nil
	}
	// Chunks of 2 KiB (four times as many as the map job's) and 8 reduce
	// tasks that each read every map chunk's shuffle file: the job lasts
	// long enough for faults to land in both stages.
	args[slices.Index(args, "--chunk-size")+1] = "2KiB"
	return append(args, "--fn", "aggregate", "--arg", "by=grp", "--arg", "agg=count,sum(n)", "--reducers", "8", "--out-format", "jsonl"), key, want
}

func runChaos(t *testing.T, cfg chaosConfig, kind string) {
	t.Logf("chaos: %s job, seed %d (FANOUT_CHAOS_SEED=%d replays this schedule), %d chunks, %d workers, %ds of faults", kind, cfg.seed, cfg.seed, cfg.chunks, cfg.workers, cfg.seconds)
	rnd := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x5eed))
	m := localstack.StartMinIO(t)
	rs := localstack.StartRedis(t)
	// About six chunks of 8 KiB per object of 600 records.
	j := newFaultJob(t, faultSetup{minio: m, redisURL: rs.URL(), objects: max(1, cfg.chunks/6), rows: 600})
	jobArgs, key, want := chaosJob(j, kind)
	stdout, stderr, err := localstack.Run(t.Context(), j.env(""), fanoutBinary(t), append([]string{"submit", "--json"}, jobArgs...)...)
	if err != nil {
		t.Fatalf("submit: %v\n%s%s", err, stdout, stderr)
	}
	j.job = jobOf(t, stdout)

	var mu sync.Mutex
	workers := map[*localstack.Proc]bool{} // alive workers -> stopped (SIGSTOP)
	n := 0
	startWorker := func() {
		n++
		w := localstack.Start(t, fmt.Sprintf("worker-%d", n), j.env(""), fanoutBinary(t), "work", "--concurrency", "2", "--grace", "2s", "--allow-exec-any")
		mu.Lock()
		workers[w] = false
		mu.Unlock()
	}
	for range cfg.workers {
		startWorker()
	}
	drivers := 0
	startDriver := func() *localstack.Proc {
		drivers++
		return localstack.Start(t, fmt.Sprintf("driver-%d", drivers), j.env(""), fanoutBinary(t), "wait", j.job, "--out", j.out(), "--json", "--quiet")
	}
	driver := startDriver()
	redisStopped := false
	pick := func() *localstack.Proc {
		mu.Lock()
		defer mu.Unlock()
		var ws []*localstack.Proc
		for w := range workers {
			ws = append(ws, w)
		}
		sort.Slice(ws, func(a, b int) bool { return ws[a].Pid() < ws[b].Pid() })
		if len(ws) == 0 {
			return nil
		}
		return ws[rnd.IntN(len(ws))]
	}
	faults := map[string]int{}
	var timers sync.WaitGroup
	start := time.Now()
	deadline := start.Add(time.Duration(cfg.seconds) * time.Second)
	committedEarly := false
	// For the compact job: the faults injected once the compaction plan
	// exists (the compaction stage has begun), logged at the end.
	faultsBeforePlan := -1
	countFaults := func() int {
		n := 0
		for _, v := range faults {
			n += v
		}
		return n
	}
	// replenish keeps cfg.workers workers alive (one that started while
	// Redis was down exits: it cannot connect) and a driver running.
	replenish := func() {
		mu.Lock()
		alive := 0
		for w := range workers {
			select {
			case <-w.Done():
				delete(workers, w)
			default:
				alive++
			}
		}
		mu.Unlock()
		for ; alive < cfg.workers; alive++ {
			startWorker()
		}
		select {
		case <-driver.Done():
			if driver.Err() != nil && strings.Contains(driver.Stderr(), ": connect to redis") {
				faults["driver could not connect at start"]++
				driver = startDriver()
			}
		default:
		}
	}
chaos:
	for time.Now().Before(deadline) {
		replenish()
		select {
		case <-driver.Done():
			if driver.Err() == nil {
				committedEarly = true
				break chaos
			}
			t.Fatalf("%s failed: %v\n%s\n%s", driver.Name, driver.Err(), driver.Stdout(), driver.Stderr())
		case <-time.After(time.Duration(200+rnd.IntN(1000)) * time.Millisecond): // the fault schedule
		}
		if kind == "compact" && faultsBeforePlan < 0 {
			// MinIO may be down (restarting): then the plan is looked
			// for again before the next fault.
			if _, err := j.store.Stat(t.Context(), "out/_fanout/"+j.job+"/compact.json"); err == nil {
				faultsBeforePlan = countFaults()
			}
		}
		switch x := rnd.IntN(100); {
		case x < 30: // SIGKILL a worker, start another
			if w := pick(); w != nil {
				w.Kill()
				mu.Lock()
				delete(workers, w)
				mu.Unlock()
				startWorker()
				faults["worker SIGKILL"]++
			}
		case x < 45: // SIGSTOP a worker for up to 4s (longer than its lease)
			w := pick()
			mu.Lock()
			stopped := w == nil || workers[w]
			if !stopped {
				workers[w] = true
			}
			mu.Unlock()
			if stopped {
				continue
			}
			w.Signal(syscall.SIGSTOP)
			faults["worker SIGSTOP"]++
			timers.Add(1)
			time.AfterFunc(time.Duration(500+rnd.IntN(3500))*time.Millisecond, func() {
				defer timers.Done()
				mu.Lock()
				defer mu.Unlock()
				if _, alive := workers[w]; alive {
					w.Signal(syscall.SIGCONT)
					workers[w] = false
				}
			})
		case x < 55: // SIGTERM a worker (graceful), start another
			if w := pick(); w != nil {
				mu.Lock()
				stopped := workers[w]
				mu.Unlock()
				if stopped {
					continue
				}
				w.Signal(syscall.SIGTERM)
				mu.Lock()
				delete(workers, w)
				mu.Unlock()
				startWorker()
				faults["worker SIGTERM"]++
			}
		case x < 65: // SIGKILL the driver, start another
			driver.Kill()
			<-driver.Done()
			driver = startDriver()
			faults["driver SIGKILL"]++
		case x < 75: // Redis restarted without persistence
			rs.Restart()
			redisStopped = false
			faults["Redis restart (empty)"]++
		case x < 80: // FLUSHALL
			if redisStopped {
				continue
			}
			rs.Client().FlushAll(t.Context())
			faults["Redis FLUSHALL"]++
		case x < 85: // Redis frozen (SIGSTOP) for up to 3s
			if redisStopped {
				continue
			}
			rs.Stop()
			redisStopped = true
			faults["Redis SIGSTOP"]++
			d := time.Duration(500+rnd.IntN(2500)) * time.Millisecond
			select {
			case <-time.After(d): // the fault's length
			case <-driver.Done():
			}
			rs.Cont()
			redisStopped = false
		case x < 95: // MinIO killed and restarted on the same data
			m.Restart()
			faults["MinIO restart"]++
		}
	}
	chaosTime := time.Since(start)
	// Calm: everything resumes, enough workers, one driver.
	timers.Wait()
	rs.Cont()
	replenish()
	res := j.committed(driver, 3*time.Minute)
	if res.Job != j.job {
		t.Fatalf("driver committed %s, want %s", res.Job, j.job)
	}
	// Let every worker finish what it holds (late attempts clean up).
	mu.Lock()
	for w, stopped := range workers {
		if stopped {
			w.Signal(syscall.SIGCONT)
		}
	}
	var alive []*localstack.Proc
	for w := range workers {
		alive = append(alive, w)
	}
	mu.Unlock()
	for _, w := range alive {
		stopWorker(t, w)
	}
	c := faulttest.CheckCommitted(t, j.store, "out/", j.job, key, want)
	var kinds []string
	total := 0
	for k, v := range faults {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
		total += v
	}
	sort.Strings(kinds)
	t.Logf("chaos: %s job: %d faults in %s (%s)%s; then committed after %s; %d chunks, %d output records each exactly once, %d workers and %d drivers started",
		kind, total, chaosTime.Round(time.Millisecond), strings.Join(kinds, ", "), map[bool]string{true: " until the job committed", false: ""}[committedEarly],
		time.Since(start).Round(time.Millisecond), c.Chunks, c.Records, n, drivers)
	if kind == "compact" {
		j.chunks = c.Chunks
		rec, files := j.checkRightSized(sizedTarget)
		epochs := j.compactEpochs()
		retried := 0
		for _, e := range epochs {
			if e > 1 {
				retried++
			}
		}
		during := "none: the plan was made after the faults ended"
		if faultsBeforePlan >= 0 {
			during = fmt.Sprint(countFaults() - faultsBeforePlan)
		}
		t.Logf("chaos: compact job: %d compaction tasks (%d published by a later attempt than the first), %d small map files merged, %d files in %d partitions; faults once the compaction plan existed: %s",
			len(epochs), retried, rec.Compacted, rec.NumFiles(), len(files), during)
	}
	if c.Chunks < cfg.chunks/2 {
		t.Errorf("the job had %d chunks, want about %d", c.Chunks, cfg.chunks)
	}
}
