// Command scale runs fanout's real planner, Redis queue, worker loop and
// committer at scale on one machine, against a simulated S3
// (objstore/simstore: in memory, with S3's latency and per-prefix request
// limits), and reports what a run of that size costs:
//
//	go run ./scripts/scale -chunks 10000 -workers 100 -redis redis://127.0.0.1:16379/0
//
// Each simulated worker is a goroutine with an Engine and a queue client
// of its own (as a Lambda invocation or a worker host has), running
// Engine.Work; the driver is one more Engine that submits the job and
// waits for its commit. Every chunk is one small input object, its task
// sleeps a time drawn from a log-normal distribution (median -task, 1 in
// -straggler-every takes 20 times longer) and writes one output row, so
// that the run measures fanout's overheads, not a function's. The oracle
// at the end lists the output and the markers: every chunk must have
// exactly one marker and one committed file, and the commit record must
// count every record once. scripts/scale.sh runs it with the local stack's
// Redis; docs/scale.md has the model and the numbers.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

type options struct {
	chunks, workers int
	redisURL        string
	firstByte       time.Duration
	bandwidth       int64
	task            time.Duration
	stragglerEvery  int
	splitAfter      time.Duration
	unthrottled     bool
	jsonOut         bool
	timeout         time.Duration
	progress        time.Duration
	heapProfile     string
	peakHeapProfile string
	driverTop       string
	writeRate       float64
	readRate        float64
	prefix          string // Redis key prefix; default a new one per run
	input           string // how the job names its inputs: listing, inventory or keys
	planOnly        string // plan with each of these input kinds and stop
	cpuProfile      string
	mapProfile      string
}

// Input kinds (-input, -plan-only): a listing of in/, an S3 Inventory
// report of it (CSV.gz data files of inventoryFileRows rows), a key list.
const (
	inputListing   = "listing"
	inputInventory = "inventory"
	inputKeys      = "keys"
)

const inventoryFileRows = 100000

func main() {
	var o options
	flag.IntVar(&o.chunks, "chunks", 10000, "map chunks (one input object each)")
	flag.IntVar(&o.workers, "workers", 100, "simulated workers (goroutines, each with its own Engine and Redis client)")
	flag.StringVar(&o.redisURL, "redis", os.Getenv("FANOUT_REDIS_URL"), "Redis URL (default $FANOUT_REDIS_URL)")
	flag.DurationVar(&o.firstByte, "first-byte", 15*time.Millisecond, "median S3 time to first byte")
	flag.Int64Var(&o.bandwidth, "bandwidth", 90<<20, "S3 bytes per second per request")
	flag.DurationVar(&o.task, "task", 20*time.Millisecond, "median time a chunk's function runs")
	flag.IntVar(&o.stragglerEvery, "straggler-every", 200, "one chunk in this many runs 20x longer (0: none)")
	flag.DurationVar(&o.splitAfter, "split-after", 5*time.Second, "how long a throttling S3 partition takes to split (0: never)")
	flag.BoolVar(&o.unthrottled, "unthrottled", false, "no S3 request limits")
	flag.Float64Var(&o.writeRate, "write-rate", simstore.S3WriteRate, "S3 PUT/COPY/POST/DELETE per second per partition")
	flag.Float64Var(&o.readRate, "read-rate", simstore.S3ReadRate, "S3 GET/HEAD per second per partition")
	flag.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	flag.DurationVar(&o.timeout, "timeout", time.Hour, "give up after this long")
	flag.StringVar(&o.heapProfile, "heapprofile", "", "write a heap profile here when the map stage ends")
	flag.StringVar(&o.peakHeapProfile, "peakheapprofile", "", "write a heap profile here whenever the heap but the simulated bucket's reaches a new peak")
	flag.StringVar(&o.driverTop, "drivertop", "", "write the driver and committer class's largest allocating stacks (text) here whenever that class reaches a new peak")
	flag.DurationVar(&o.progress, "progress", 10*time.Second, "print progress to stderr this often (0: never)")
	flag.StringVar(&o.input, "input", inputListing, "how the job names its input objects: listing (of the prefix), inventory (an S3 Inventory report, CSV.gz) or keys (a key list)")
	flag.StringVar(&o.planOnly, "plan-only", "", "only plan the job, once with each of these input kinds (`KINDS`, comma-separated: listing,inventory,keys), and print the times (no Redis needed)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run here")
	flag.StringVar(&o.mapProfile, "mapprofile", "", "write a CPU profile of the map stage alone here (not with -cpuprofile)")
	runtime.MemProfileRate = memProfileRate
	flag.Parse()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if o.planOnly != "" {
		if err := planOnly(o, os.Stdout); err != nil {
			pprof.StopCPUProfile()
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
		return
	}
	if o.redisURL == "" {
		fmt.Fprintln(os.Stderr, "scale: -redis (or FANOUT_REDIS_URL) is required; scripts/scale.sh sets it from scripts/services.sh")
		os.Exit(2)
	}
	rep, err := run(o)
	if rep != nil {
		if o.jsonOut {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			enc.Encode(rep)
		} else {
			rep.print(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// report is what a run measured.
type report struct {
	Chunks, Workers     int
	PlanSeconds         float64
	MapSeconds          float64 // submit done to the last map chunk done
	CommitSeconds       float64 // last map chunk done to the commit
	WallSeconds         float64
	ChunksPerSecond     float64   // over the map stage
	ChunksPerSecondEach []float64 // per tenth of the map stage
	// RedisRoundTripsPerChunk counts this process's requests to Redis
	// (a pipeline is one); RedisServerCallsPerChunk the commands the
	// server ran (INFO commandstats, commands inside Lua scripts
	// included, and anything else using the server meanwhile).
	RedisRoundTripsPerChunk  float64
	RedisServerCallsPerChunk float64
	// RedisRoundTrips breaks RedisRoundTripsPerChunk down by the run's
	// stage (plan: the submit; map: until the last map chunk is done;
	// commit: then until the commit), the client (the driver's, which also
	// reports progress; the simulated workers') and the request.
	RedisRoundTrips []tripRow
	RedisCalls      map[string]int64
	S3PerChunk      map[string]float64
	S3SlowDowns     int64
	S3Failed        int64
	S3Partitions    int
	S3PeakRate      int64
	S3PeakPartition string
	S3Parts         []simstore.PartStats
	// ProcessCPUSeconds is this process's CPU time (user and system)
	// from the submit to the end, RedisCPUSeconds redis-server's (INFO
	// cpu, main thread and others; anything else using the server
	// meanwhile included); CPUMicrosPerChunk their sum per chunk, what
	// the run costs on one machine.
	ProcessCPUSeconds float64
	RedisCPUSeconds   float64
	CPUMicrosPerChunk float64
	// MapProcessCPUSeconds, MapRedisCPUSeconds and MapCPUMicrosPerChunk
	// are the same over the map stage alone (from the plan's end until
	// the last map chunk is done): what bounds the chunks a second.
	MapProcessCPUSeconds float64
	MapRedisCPUSeconds   float64
	MapCPUMicrosPerChunk float64
	LoadAverage          string
	PeakRSSMiB           float64
	PeakHeapMiB          float64
	StoreMiB             float64
	// HeapMiB is the peak of the live heap allocated by each of
	// heapDriver, heapWorker, heapRedis and heapBucket (heap.go: by the
	// allocating stack, sampled every 2 s); HeapEngineMiB the peak of all
	// but the bucket's.
	HeapMiB       map[string]float64
	HeapEngineMiB float64
	Attempts      int64
	Retries       int64
	Failed        int
	Oracle        string
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "chunks %d, workers %d\n", r.Chunks, r.Workers)
	fmt.Fprintf(w, "wall %.1f s: plan %.1f s, map %.1f s, commit %.1f s\n", r.WallSeconds, r.PlanSeconds, r.MapSeconds, r.CommitSeconds)
	fmt.Fprintf(w, "chunks/s over the map stage %.0f; by tenth:", r.ChunksPerSecond)
	for _, c := range r.ChunksPerSecondEach {
		fmt.Fprintf(w, " %.0f", c)
	}
	fmt.Fprintf(w, "\nattempts %d (%d retries), failed chunks %d\n", r.Attempts, r.Retries, r.Failed)
	fmt.Fprintf(w, "Redis round trips per chunk %.2f; commands the server ran per chunk %.2f:", r.RedisRoundTripsPerChunk, r.RedisServerCallsPerChunk)
	for _, k := range sortedKeys(r.RedisCalls) {
		fmt.Fprintf(w, " %s=%.2f", k, float64(r.RedisCalls[k])/float64(r.Chunks))
	}
	fmt.Fprintf(w, "\nRedis round trips per chunk by stage, client and request (a script by its name):")
	var last tripRow
	for _, t := range r.RedisRoundTrips {
		if t.Stage != last.Stage || t.Client != last.Client {
			var sum float64
			for _, u := range r.RedisRoundTrips {
				if u.Stage == t.Stage && u.Client == t.Client {
					sum += u.PerChunk
				}
			}
			fmt.Fprintf(w, "\n  %-6s %-7s %.3f:", t.Stage, t.Client, sum)
		}
		fmt.Fprintf(w, " %s=%.3f", t.What, t.PerChunk)
		last = t
	}
	fmt.Fprintf(w, "\nS3 requests per chunk:")
	for _, k := range sortedKeys(r.S3PerChunk) {
		fmt.Fprintf(w, " %s=%.2f", k, r.S3PerChunk[k])
	}
	fmt.Fprintf(w, "\nS3 SlowDown %d (failed after retries %d), partitions %d, hottest partition %d req/s (from %q)\n",
		r.S3SlowDowns, r.S3Failed, r.S3Partitions, r.S3PeakRate, r.S3PeakPartition)
	printParts(w, r.S3Parts)
	fmt.Fprintf(w, "CPU %.0f µs per chunk: this process %.1f s, redis-server %.1f s; load average %s\n",
		r.CPUMicrosPerChunk, r.ProcessCPUSeconds, r.RedisCPUSeconds, r.LoadAverage)
	fmt.Fprintf(w, "CPU over the map stage %.0f µs per chunk: this process %.1f s, redis-server %.1f s\n",
		r.MapCPUMicrosPerChunk, r.MapProcessCPUSeconds, r.MapRedisCPUSeconds)
	fmt.Fprintf(w, "peak RSS %.0f MiB, peak Go heap %.0f MiB (of which the simulated bucket holds %.0f MiB)\n", r.PeakRSSMiB, r.PeakHeapMiB, r.StoreMiB)
	fmt.Fprintf(w, "peak live heap by who allocated it: driver and committer %.1f MiB, workers %.1f MiB (%.0f KiB each), Redis clients %.1f MiB, simulated bucket %.1f MiB; all but the bucket %.1f MiB\n",
		r.HeapMiB[heapDriver], r.HeapMiB[heapWorker], r.HeapMiB[heapWorker]*1024/float64(max(1, r.Workers)), r.HeapMiB[heapRedis], r.HeapMiB[heapBucket], r.HeapEngineMiB)
	fmt.Fprintf(w, "oracle: %s\n", r.Oracle)
}

// printParts prints the partitions in key order (the 30 that refused
// most when there are more): where each starts, when it was made, and
// what it admitted and refused.
func printParts(w io.Writer, parts []simstore.PartStats) {
	if len(parts) <= 1 && (len(parts) == 0 || parts[0].Refused == [2]int64{}) {
		return
	}
	show := parts
	if len(parts) > 30 {
		show = slices.Clone(parts)
		slices.SortStableFunc(show, func(a, b simstore.PartStats) int {
			return cmp.Compare(b.Refused[0]+b.Refused[1], a.Refused[0]+a.Refused[1])
		})
		show = show[:30]
		slices.SortFunc(show, func(a, b simstore.PartStats) int { return strings.Compare(a.Lo, b.Lo) })
	}
	fmt.Fprintf(w, "S3 partitions (%d shown of %d), from key, made at, writes admitted/refused, reads admitted/refused, refused by kind:\n", len(show), len(parts))
	for _, p := range show {
		fmt.Fprintf(w, "  %-60q %7s  W %9d/%-8d R %9d/%-8d", p.Lo, p.Born.Round(time.Second), p.Admitted[0], p.Refused[0], p.Admitted[1], p.Refused[1])
		for _, k := range sortedKeys(p.RefusedByKind) {
			fmt.Fprintf(w, " %s=%d", k, p.RefusedByKind[k])
		}
		fmt.Fprintln(w)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func run(o options) (*report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cfg := simstore.Config{Name: "scale", FirstByte: o.firstByte, Bandwidth: o.bandwidth, SplitAfter: o.splitAfter}
	if !o.unthrottled {
		cfg.WriteRate, cfg.ReadRate = o.writeRate, o.readRate
	}
	// The input is written before the limits apply: it stands for a
	// bucket that already exists.
	input := simstore.New(simstore.Config{Name: "scale"})
	if err := writeInput(ctx, input, o.chunks); err != nil {
		return nil, err
	}
	inputSpec, err := writeInputList(ctx, input, o.input)
	if err != nil {
		return nil, err
	}
	store := input.WithConfig(cfg)
	open := func(context.Context, string) (objstore.Bucket, error) { return store, nil }
	reg := builtin.Registry()
	reg.Register(sleepFunc{median: o.task, stragglerEvery: o.stragglerEvery})
	prefix := o.prefix
	if prefix == "" {
		prefix = fmt.Sprintf("fanout-scale-%d", time.Now().UnixNano())
	}
	rdb, err := redisClient(o.redisURL)
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	trips := newRoundTrips()
	newEngine := func(name string) (*fanout.Engine, func(), error) {
		client, err := redisClient(o.redisURL)
		if err != nil {
			return nil, nil, err
		}
		if name == "driver" {
			client.AddHook(trips.hook("driver"))
		} else {
			client.AddHook(trips.hook("workers"))
		}
		q, err := redisqueue.New(ctx, redisqueue.Config{Client: client, Prefix: prefix})
		if err != nil {
			client.Close()
			return nil, nil, err
		}
		e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Open: open, Functions: reg, WorkerName: name,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
		if err != nil {
			client.Close()
			return nil, nil, err
		}
		return e, func() { e.Close(); q.Close(); client.Close() }, nil
	}
	driver, closeDriver, err := newEngine("driver")
	if err != nil {
		return nil, err
	}
	defer closeDriver()

	var peakHeap atomic.Uint64
	stopSampling := sampleHeap(&peakHeap)
	defer stopSampling()
	heap := &heapSampler{peakProfile: o.peakHeapProfile, driverTop: o.driverTop}
	stopHeap := sync.OnceFunc(heap.run(2 * time.Second))
	defer stopHeap()
	trips.reset()
	before, err := commandStats(ctx, rdb)
	if err != nil {
		return nil, err
	}
	redisCPU, err := redisCPUSeconds(ctx, rdb)
	if err != nil {
		return nil, err
	}
	rep := &report{Chunks: o.chunks, Workers: o.workers}
	start, cpu := time.Now(), cpuSeconds()
	spec := manifest.JobSpec{Function: "simsleep", Output: "s3://scale/out/", OutputFormat: "jsonl", MaxObjectsPerChunk: 1}
	inputSpec(&spec)
	spec = spec.WithDefaults()
	info, err := driver.Submit(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	planned := time.Now()
	planCPU := cpuSeconds()
	stopMapProfile := func() {}
	if o.mapProfile != "" && o.cpuProfile == "" {
		f, err := os.Create(o.mapProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			return nil, err
		}
		var once sync.Once
		stopMapProfile = func() { once.Do(func() { pprof.StopCPUProfile(); f.Close() }) }
		defer stopMapProfile()
	}
	planRedisCPU, _ := redisCPUSeconds(ctx, rdb)
	mapCPU := make(chan [2]float64, 1) // the process's and Redis's at the map stage's end
	trips.stage.Store(stageMap)
	rep.PlanSeconds = planned.Sub(start).Seconds()

	// The workers.
	var done atomic.Int64
	var attempts atomic.Int64
	doneAt := make([]int64, 0, o.chunks) // ns since planned, per chunk done
	var doneMu sync.Mutex
	observe := func(ev fanout.ChunkEvent) {
		attempts.Add(1)
		if ev.Outcome != fanout.OutcomeDone || manifest.IsReduceTask(ev.Chunk) {
			return
		}
		if done.Add(1) == int64(o.chunks) {
			trips.stage.Store(stageCommit)
			stopMapProfile()
			p := cpuSeconds()
			r, _ := redisCPUSeconds(ctx, rdb)
			mapCPU <- [2]float64{p, r}
			if o.heapProfile != "" {
				writeHeapProfile(o.heapProfile)
			}
		}
		doneMu.Lock()
		doneAt = append(doneAt, int64(time.Since(planned)))
		doneMu.Unlock()
	}
	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range o.workers {
		e, closeWorker, err := newEngine(fmt.Sprintf("w%04d", i))
		if err != nil {
			stopWorkers()
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer closeWorker()
			e.Work(wctx, fanout.WorkOptions{Concurrency: 1, Job: info.Job, Grace: time.Second, IdlePoll: 200 * time.Millisecond, Observe: observe})
		}()
	}
	stopProgress := progress(o.progress, func() string {
		st := store.Stats()
		return fmt.Sprintf("%s: %d of %d chunks done, %d attempts, S3 %d SlowDown, %d partitions, RSS %.0f MiB",
			time.Since(start).Round(time.Second), done.Load(), o.chunks, attempts.Load(), st.SlowDowns, st.Partitions, rss())
	})
	res, err := driver.Wait(ctx, spec.Output, info.Job, fanout.RunOptions{Poll: time.Second})
	stopProgress()
	end := time.Now()
	stopWorkers()
	wg.Wait()
	if err != nil {
		return rep, fmt.Errorf("wait: %w", err)
	}
	rep.WallSeconds = end.Sub(start).Seconds()
	doneMu.Lock()
	slices.Sort(doneAt)
	mapEnd := planned
	if len(doneAt) > 0 {
		mapEnd = planned.Add(time.Duration(doneAt[len(doneAt)-1]))
	}
	rep.MapSeconds = mapEnd.Sub(planned).Seconds()
	rep.CommitSeconds = end.Sub(mapEnd).Seconds()
	if rep.MapSeconds > 0 {
		rep.ChunksPerSecond = float64(len(doneAt)) / rep.MapSeconds
		tenth := rep.MapSeconds / 10
		counts := make([]float64, 10)
		for _, at := range doneAt {
			counts[min(9, int(time.Duration(at).Seconds()/tenth))]++
		}
		for i := range counts {
			counts[i] /= tenth
		}
		rep.ChunksPerSecondEach = counts
	}
	doneMu.Unlock()
	rep.Attempts = attempts.Load()
	rep.Retries = rep.Attempts - int64(o.chunks)
	rep.Failed = len(res.Failed)

	rep.ProcessCPUSeconds = cpuSeconds() - cpu
	if r, err := redisCPUSeconds(ctx, rdb); err == nil {
		rep.RedisCPUSeconds = r - redisCPU
	}
	rep.CPUMicrosPerChunk = (rep.ProcessCPUSeconds + rep.RedisCPUSeconds) / float64(o.chunks) * 1e6
	select {
	case m := <-mapCPU:
		rep.MapProcessCPUSeconds, rep.MapRedisCPUSeconds = m[0]-planCPU, m[1]-planRedisCPU
		rep.MapCPUMicrosPerChunk = (rep.MapProcessCPUSeconds + rep.MapRedisCPUSeconds) / float64(o.chunks) * 1e6
	default:
	}
	rep.LoadAverage = loadAverage()
	after, err := commandStats(ctx, rdb)
	if err != nil {
		return rep, err
	}
	rep.RedisCalls = map[string]int64{}
	var calls int64
	for k, v := range after {
		if d := v - before[k]; d > 0 && k != "info" {
			rep.RedisCalls[k] = d
			calls += d
		}
	}
	rep.RedisServerCallsPerChunk = float64(calls) / float64(o.chunks)
	rep.RedisRoundTripsPerChunk = float64(trips.n.Load()) / float64(o.chunks)
	rep.RedisRoundTrips = trips.rows(o.chunks)
	st := store.Stats()
	rep.S3PerChunk = map[string]float64{}
	for k, v := range st.Requests {
		rep.S3PerChunk[k] = float64(v) / float64(o.chunks)
	}
	rep.S3SlowDowns, rep.S3Failed, rep.S3Partitions = st.SlowDowns, st.Failed, st.Partitions
	rep.S3PeakRate, rep.S3PeakPartition = st.PeakRate, st.PeakPartition
	rep.S3Parts = st.Parts
	rep.StoreMiB = float64(st.Bytes) / (1 << 20)
	rep.PeakRSSMiB = peakRSS()
	rep.PeakHeapMiB = float64(peakHeap.Load()) / (1 << 20)
	stopHeap()
	rep.HeapMiB, rep.HeapEngineMiB = heap.peaks()
	rep.Oracle, err = oracle(ctx, input, info.Job, o.chunks, res)
	return rep, err
}

// writeInput writes one object per chunk, holding its index.
func writeInput(ctx context.Context, b objstore.Bucket, n int) error {
	for i := range n {
		body := fmt.Sprintf("%08d\n", i)
		if _, err := b.Put(ctx, fmt.Sprintf("in/%08d.txt", i), strings.NewReader(body), nil); err != nil {
			return err
		}
	}
	return nil
}

// writeInputList writes what a job of the given input kind names its
// inputs by (nothing for a listing; a report of in/ or a key list under
// lists/) and returns the change to its spec.
func writeInputList(ctx context.Context, b *simstore.Store, kind string) (func(*manifest.JobSpec), error) {
	switch kind {
	case inputListing, "": // a listing unless told otherwise (the zero options of a test)
		return func(s *manifest.JobSpec) { s.Inputs = []string{"s3://scale/in/"} }, nil
	case inputInventory:
		u, err := writeInventory(ctx, b)
		return func(s *manifest.JobSpec) { s.Inventories = []string{u} }, err
	case inputKeys:
		pr, pw := io.Pipe()
		go func() {
			w := bufio.NewWriter(pw)
			for info, err := range b.List(ctx, "in/", nil) {
				if err != nil {
					pw.CloseWithError(err)
					return
				}
				fmt.Fprintln(w, info.Key)
			}
			pw.CloseWithError(w.Flush())
		}()
		_, err := b.Put(ctx, "lists/keys.txt", pr, nil)
		return func(s *manifest.JobSpec) { s.KeyLists = []string{"s3://scale/lists/keys.txt"} }, err
	}
	return nil, fmt.Errorf("-input %q: want listing, inventory or keys", kind)
}

// writeInventory writes an S3 Inventory report of in/ as AWS lays one
// out (gzipped CSV data files, a manifest.json listing them with their
// MD5) and returns its manifest's URL.
func writeInventory(ctx context.Context, b *simstore.Store) (string, error) {
	const dir = "inventory/scale/all/2026-12-06T00-00Z/"
	type file struct {
		Key         string `json:"key"`
		Size        int64  `json:"size"`
		MD5Checksum string `json:"MD5checksum"`
	}
	var files []file
	var buf bytes.Buffer
	var zw *gzip.Writer
	rows := 0
	flush := func() error {
		if zw == nil {
			return nil
		}
		if err := zw.Close(); err != nil {
			return err
		}
		key := fmt.Sprintf("inventory/scale/all/data/%05d.csv.gz", len(files))
		sum := md5.Sum(buf.Bytes())
		if _, err := b.Put(ctx, key, bytes.NewReader(buf.Bytes()), nil); err != nil {
			return err
		}
		files = append(files, file{Key: key, Size: int64(buf.Len()), MD5Checksum: hex.EncodeToString(sum[:])})
		buf.Reset()
		zw, rows = nil, 0
		return nil
	}
	for info, err := range b.List(ctx, "in/", nil) {
		if err != nil {
			return "", err
		}
		if zw == nil {
			zw = gzip.NewWriter(&buf)
		}
		fmt.Fprintf(zw, "\"scale\",\"%s\",\"%d\",\"%s\",\"STANDARD\"\n", url.QueryEscape(info.Key), info.Size, info.ETag)
		if rows++; rows == inventoryFileRows {
			if err := flush(); err != nil {
				return "", err
			}
		}
	}
	if err := flush(); err != nil {
		return "", err
	}
	m, err := json.Marshal(map[string]any{"sourceBucket": "scale", "destinationBucket": "arn:aws:s3:::scale",
		"version": "2016-11-30", "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size, ETag, StorageClass", "files": files})
	if err != nil {
		return "", err
	}
	_, err = b.Put(ctx, dir+"manifest.json", bytes.NewReader(m), nil)
	return "s3://scale/" + dir + "manifest.json", err
}

// planOnly plans the job once with each input kind of o.planOnly, each
// into an output of its own over the same simulated bucket (S3's latency
// and limits), and prints how long each took.
func planOnly(o options, w io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cfg := simstore.Config{Name: "scale", FirstByte: o.firstByte, Bandwidth: o.bandwidth, SplitAfter: o.splitAfter}
	if !o.unthrottled {
		cfg.WriteRate, cfg.ReadRate = o.writeRate, o.readRate
	}
	input := simstore.New(simstore.Config{Name: "scale"})
	if err := writeInput(ctx, input, o.chunks); err != nil {
		return err
	}
	store := input.WithConfig(cfg)
	reg := builtin.Registry()
	reg.Register(sleepFunc{median: o.task, stragglerEvery: o.stragglerEvery})
	fmt.Fprintf(w, "planning %d objects (one chunk each), first byte %v, %d MiB/s a request:\n", o.chunks, o.firstByte, o.bandwidth>>20)
	var first float64
	for _, kind := range strings.Split(o.planOnly, ",") {
		inputSpec, err := writeInputList(ctx, input, kind)
		if err != nil {
			return err
		}
		q := memqueue.New(memqueue.Config{})
		e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: reg,
			Open: func(context.Context, string) (objstore.Bucket, error) { return store, nil }})
		if err != nil {
			return err
		}
		spec := manifest.JobSpec{Function: "simsleep", Output: "s3://scale/out-" + kind + "/", OutputFormat: "jsonl", MaxObjectsPerChunk: 1}
		inputSpec(&spec)
		before := store.Stats()
		start, cpu := time.Now(), cpuSeconds()
		info, err := e.Plan(ctx, spec.WithDefaults())
		took, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu
		e.Close()
		if err != nil {
			return fmt.Errorf("plan from %s: %w", kind, err)
		}
		if info.Manifest.Chunks != o.chunks {
			return fmt.Errorf("plan from %s: %d chunks, want %d", kind, info.Manifest.Chunks, o.chunks)
		}
		after := store.Stats()
		var reqs []string
		for _, k := range sortedKeys(after.Requests) {
			if d := after.Requests[k] - before.Requests[k]; d > 0 {
				reqs = append(reqs, fmt.Sprintf("%s=%d", k, d))
			}
		}
		if first == 0 {
			first = took
		}
		fmt.Fprintf(w, "  %-9s %7.1f s  %5.2fx  %8.0f objects/s  CPU %5.1f s  S3 %s\n", kind, took, first/took, float64(o.chunks)/took, cpu, strings.Join(reqs, " "))
	}
	fmt.Fprintf(w, "peak RSS %.0f MiB; load average %s\n", peakRSS(), loadAverage())
	return nil
}

// cpuSeconds is the CPU time (user and system) the process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// loadAverage is the machine's load average over 1, 5 and 15 minutes
// (the simulation's times depend on the CPU it gets).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// oracle checks the committed job from the bucket, without the engine:
// one marker per chunk, one committed file per chunk naming it, and the
// records counted once.
func oracle(ctx context.Context, b *simstore.Store, job string, chunks int, res fanout.Result) (string, error) {
	layout := manifest.NewLayout("out/")
	markers := 0
	for o, err := range b.List(ctx, layout.MarkerPrefix(job), nil) {
		if err != nil {
			return "", err
		}
		if _, ok := layout.ChunkFromMarkerKey(job, o.Key); ok {
			markers++
		}
	}
	seen := make([]int, chunks)
	files := 0
	stem := "part-" + job + "-"
	for o, err := range b.List(ctx, "out/", nil) {
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(o.Key, "out/_") {
			continue
		}
		files++
		name := o.Key[strings.LastIndexByte(o.Key, '/')+1:]
		id, ok := strings.CutPrefix(name, stem)
		if !ok {
			return "", fmt.Errorf("oracle: output file %q is not the job's", o.Key)
		}
		id, _, _ = strings.Cut(id, "-") // part-<job>-<chunk>-<n>.jsonl
		i, err := manifest.ChunkIndex(id)
		if err != nil || i >= chunks {
			return "", fmt.Errorf("oracle: output file %q names no chunk of the job", o.Key)
		}
		seen[i]++
	}
	var bad []string
	for i, n := range seen {
		if n != 1 {
			bad = append(bad, fmt.Sprintf("%s has %d files", manifest.ChunkID(i), n))
		}
	}
	switch {
	case markers != chunks:
		return "", fmt.Errorf("oracle: %d markers for %d chunks", markers, chunks)
	case len(bad) > 0:
		return "", fmt.Errorf("oracle: %d chunks not committed exactly once, e.g. %s", len(bad), strings.Join(bad[:min(5, len(bad))], ", "))
	case res.RecordsIn != int64(chunks) || res.RecordsOut != int64(chunks):
		return "", fmt.Errorf("oracle: the commit counts %d records in, %d out; want %d", res.RecordsIn, res.RecordsOut, chunks)
	}
	return fmt.Sprintf("ok: %d markers, %d committed files, one per chunk; %d records in and out", markers, files, chunks), nil
}

// roundTrips is a go-redis hook counting requests: a command or a
// pipeline is one round trip. It also counts them by the run's stage, the
// client that made them (the driver's, or a simulated worker's) and what
// they were: the command's name, a script's name (redisqueue.ScriptNames)
// for an EVALSHA or EVAL, a pipeline's commands joined by '+'.
type roundTrips struct {
	n       atomic.Int64
	stage   atomic.Int32 // stagePlan, stageMap, stageCommit
	scripts map[string]string
	by      sync.Map // tripKey -> *atomic.Int64
}

// Stages of a run, for roundTrips.
const (
	stagePlan int32 = iota
	stageMap
	stageCommit
)

var stageNames = [...]string{stagePlan: "plan", stageMap: "map", stageCommit: "commit"}

type tripKey struct {
	stage        int32
	client, what string
}

func newRoundTrips() *roundTrips {
	return &roundTrips{scripts: redisqueue.ScriptNames()}
}

// hook is the hook of the clients of one kind ("driver", "workers").
func (r *roundTrips) hook(client string) redis.Hook { return tripHook{r, client} }

func (r *roundTrips) count(client, what string) {
	r.n.Add(1)
	k := tripKey{r.stage.Load(), client, what}
	c, ok := r.by.Load(k)
	if !ok {
		c, _ = r.by.LoadOrStore(k, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

// what names a command: a script by its name.
func (r *roundTrips) what(cmd redis.Cmder) string {
	name := cmd.Name()
	switch name {
	case "evalsha", "evalsha_ro", "eval", "eval_ro":
		args := cmd.Args()
		if len(args) < 2 {
			return name
		}
		s, _ := args[1].(string)
		if strings.HasPrefix(name, "eval_") || name == "eval" {
			sum := sha1.Sum([]byte(s))
			s = hex.EncodeToString(sum[:])
		}
		if script, ok := r.scripts[s]; ok {
			return script
		}
		return name + " (not the queue's)"
	}
	return name
}

// reset forgets what was counted.
func (r *roundTrips) reset() {
	r.n.Store(0)
	r.by.Clear()
}

// rows are the counts per chunk, by stage, client and count (largest
// first).
func (r *roundTrips) rows(chunks int) []tripRow {
	var rows []tripRow
	r.by.Range(func(k, v any) bool {
		key := k.(tripKey)
		rows = append(rows, tripRow{Stage: stageNames[key.stage], Client: key.client, What: key.what,
			PerChunk: float64(v.(*atomic.Int64).Load()) / float64(chunks)})
		return true
	})
	order := map[string]int{}
	for i, s := range stageNames {
		order[s] = i
	}
	slices.SortFunc(rows, func(a, b tripRow) int {
		if c := order[a.Stage] - order[b.Stage]; c != 0 {
			return c
		}
		if c := strings.Compare(b.Client, a.Client); c != 0 {
			return c // workers first
		}
		if a.PerChunk != b.PerChunk {
			if a.PerChunk > b.PerChunk {
				return -1
			}
			return 1
		}
		return strings.Compare(a.What, b.What)
	})
	return rows
}

// tripRow is one line of the round trips' breakdown.
type tripRow struct {
	Stage, Client, What string
	PerChunk            float64
}

type tripHook struct {
	r      *roundTrips
	client string
}

func (h tripHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h tripHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.r.count(h.client, h.r.what(cmd))
		return next(ctx, cmd)
	}
}
func (h tripHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = h.r.what(c)
		}
		h.r.count(h.client, strings.Join(names, "+"))
		return next(ctx, cmds)
	}
}

func redisClient(url string) (redis.UniversalClient, error) {
	if strings.Contains(url, "+cluster://") {
		return nil, fmt.Errorf("scale: give one Redis server (INFO commandstats is read from it)")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	// Sized as redisqueue sizes the client it makes from a URL (this one
	// is made here to count its round trips).
	opt.ReadBufferSize, opt.WriteBufferSize = redisqueue.DefaultBufferSize, redisqueue.DefaultBufferSize
	opt.PipelineReadBufferSize, opt.PipelineWriteBufferSize = redisqueue.DefaultBufferSize, redisqueue.DefaultBufferSize
	opt.PipelinePoolSize = 2
	return redis.NewClient(opt), nil
}

// commandStats reads the calls of every command from INFO commandstats.
func commandStats(ctx context.Context, rdb redis.UniversalClient) (map[string]int64, error) {
	s, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO commandstats: %w", err)
	}
	stats := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		name, rest, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		if v, err := strconv.ParseInt(n, 10, 64); err == nil {
			stats[name] = v
		}
	}
	return stats, nil
}

// redisCPUSeconds is the CPU time redis-server has used (INFO cpu:
// used_cpu_sys and used_cpu_user, every thread).
func redisCPUSeconds(ctx context.Context, rdb redis.UniversalClient) (float64, error) {
	s, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, fmt.Errorf("INFO cpu: %w", err)
	}
	var sum float64
	for _, line := range strings.Split(s, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (name == "used_cpu_sys" || name == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("INFO cpu: %s: %w", name, err)
			}
			sum += f
		}
	}
	return sum, nil
}

func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// progress prints line() to stderr every interval until stopped.
func progress(interval time.Duration, line func() string) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintln(os.Stderr, line())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		return
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
	}
}

// rss is the process's VmRSS in MiB.
func rss() float64 { return procStatus("VmRSS:") }

// peakRSS is the process's VmHWM in MiB (0 where /proc is missing).
func peakRSS() float64 { return procStatus("VmHWM:") }

func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// sleepFunc is the simulated task: it counts its records, sleeps a drawn
// time and writes one row.
type sleepFunc struct {
	median         time.Duration
	stragglerEvery int
}

func (sleepFunc) Name() string     { return "simsleep" }
func (sleepFunc) Describe() string { return "scale simulation: sleeps a drawn time, writes one row" }
func (f sleepFunc) Prepare(functions.Params) (functions.Task, error) {
	return sleepTask(f), nil
}

type sleepTask sleepFunc

var sleepSchema = &functions.Schema{Columns: []functions.Column{{Name: "records", Type: functions.Int64}}}

func (sleepTask) Output() *functions.Schema { return sleepSchema }
func (t sleepTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	var n int64
	for {
		_, err := in.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		n++
	}
	d := time.Duration(float64(t.median) * math.Exp(0.5*rand.NormFloat64()))
	if t.stragglerEvery > 0 && rand.IntN(t.stragglerEvery) == 0 {
		d *= 20
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
	}
	return out.Write(functions.Row{functions.IntValue(n)})
}
