package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// OpenFunc opens the store named by a store URL such as "s3://bucket" or
// "file:///data" (objstore.Location.StoreURL). An S3 URL may go on with
// the key prefix the engine is about to work under ("s3://bucket/out/"):
// the store is still the whole bucket, and the prefix only says where the
// credentials are expected to reach (bucketurl.Open checks there).
type OpenFunc func(ctx context.Context, storeURL string) (objstore.Bucket, error)

// Config wires an Engine. Queue, Admin, Open and Functions are required.
type Config struct {
	Queue     Queue
	Admin     QueueAdmin
	Open      OpenFunc
	Functions *functions.Registry
	// Logger receives progress and warnings; nil discards them.
	Logger *slog.Logger
	// WorkerName prefixes worker identities (default host:pid).
	WorkerName string
	// MemoryMB is the memory of the Lambda function (or other sandbox)
	// this process runs in, recorded in chunk markers for cost reports;
	// zero (unknown) leaves it out. cmd/fanout-lambda sets it from
	// AWS_LAMBDA_FUNCTION_MEMORY_SIZE.
	MemoryMB int
	// CombineBudget is how many bytes of partial rows one map attempt of
	// an aggregating job keeps in its table before it spills a sorted run
	// to a local temporary file; zero means DefaultCombineBudget.
	CombineBudget int64
	// SortMemory bounds the rows one attempt holds to sort its output
	// files (JobSpec.SortBy), shared by the files it has open; past a
	// file's share a sorted run spills to a local temporary file, merged
	// when the file is finished. Zero means DefaultSortMemory.
	SortMemory int64
	// TempDir is where sorted runs spill; "" means the operating system's
	// temporary directory.
	TempDir string
	// MergeFanIn bounds the streams a reduce task holds open at once: a
	// merge step reads at most MergeFanIn-2 sorted inputs (map files'
	// ranges and local runs, at least 2) beside the run it writes and the
	// slice of the shuffle index it reads; more map files are merged in
	// levels of local runs. Zero means DefaultMergeFanIn, else at least 2.
	MergeFanIn int
	// Clock is the worker's local clock, by which a heartbeat measures how
	// long it went without a confirmed extension; nil means time.Now.
	// Tests set it to run workers whose clock is off. A worker's clock
	// never decides a lease: deadlines are kept on the queue's clock
	// (Redis TIME), and the heartbeat only measures intervals.
	Clock func() time.Time
	// Secrets are values that must never leave the process: credentials,
	// passwords, tokens it holds. A failure reason (a function's error,
	// which may quote what a program printed) is stored in the queue and
	// in markers and logged with each of them replaced by "[redacted]".
	// Values shorter than MinSecretLen are ignored.
	Secrets []string
	// SpecKey, when set, signs the manifest of every job this engine plans
	// (manifest.Sign), so that workers whose Admission holds the same key
	// run it.
	SpecKey []byte
	// Admit, when set, decides which jobs found in the queue this engine's
	// workers run (see Admission); nil runs every job.
	Admit *Admission
	// JobCacheBytes bounds the decoded manifests and shards the engine
	// keeps of the jobs it works on (least recently used jobs leave
	// first; the job in use stays); zero means DefaultJobCacheBytes.
	JobCacheBytes int64
	// JobCacheIdle is how long a job nobody asked for stays cached; zero
	// means DefaultJobCacheIdle. Finished jobs leave at once.
	JobCacheIdle time.Duration
	// CommitPartFiles is how many files each part of a commit record's
	// file list holds (manifest.CommitRecord.FileParts): what a committer
	// or a reader of the record holds at once. Zero means
	// DefaultCommitPartFiles.
	CommitPartFiles int
}

// Defaults of Config's zero values.
const (
	DefaultCombineBudget = 64 << 20
	DefaultSortMemory    = 64 << 20
	DefaultMergeFanIn    = 64
	DefaultJobCacheBytes = 256 << 20
	DefaultJobCacheIdle  = 10 * time.Minute
)

// MinSecretLen is the shortest Config.Secrets value that is redacted:
// shorter ones would garble messages without hiding anything.
const MinSecretLen = 6

// Engine plans, runs and commits jobs. It is safe for concurrent use; it
// holds no per-job state beyond caches of decoded manifests.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	stores sync.Map // store URL -> objstore.Bucket
	probed sync.Map // store URL -> error (nil when create-only is enforced)

	jobs *jobCache

	specMu sync.Mutex
	specs  map[string]JobQueueSpec

	// runs is what this engine's workers claim: each function of
	// Config.Functions at its version.
	runs Runs

	// lastAdvance is when advanceIdle last ran (unix ns); failedJobs holds
	// the jobs it found failed, so that idle workers stop re-checking them.
	lastAdvance atomic.Int64
	failedJobs  sync.Map
	// advanceEvery is how long advanceIdle waits between two steps of a
	// worker's one job (ns; 0 is advanceInterval): longer while the job
	// runs elsewhere or another engine commits it (idleBackoff).
	advanceEvery atomic.Int64
	// jobQuiet says that the last step of a worker's one job found
	// nothing of it claimable but what a wake-up (WorkWaiter) would
	// announce or the next step find (nothing pending): an idle worker
	// then waits for a wake-up until its next step, without claiming in
	// between (workLoop).
	jobQuiet atomic.Bool

	// settled is signalled (without blocking) whenever a local worker
	// settles a chunk, so that Wait looks at once instead of polling.
	settled chan struct{}

	// redactor replaces Config.Secrets (nil when there are none).
	redactor *strings.Replacer

	// refused holds, per job and manifest URL, why Config.Admit refused
	// it, so that the manifest is read once; refusedLogged the jobs whose
	// refusal was logged.
	refused       sync.Map
	refusedLogged sync.Map
}

// New validates cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	switch {
	case cfg.Queue == nil:
		return nil, errors.New("fanout: Config.Queue is required")
	case cfg.Admin == nil:
		return nil, errors.New("fanout: Config.Admin is required")
	case cfg.Open == nil:
		return nil, errors.New("fanout: Config.Open is required")
	case cfg.Functions == nil:
		return nil, errors.New("fanout: Config.Functions is required")
	case cfg.MemoryMB < 0:
		return nil, fmt.Errorf("fanout: Config.MemoryMB %d is negative", cfg.MemoryMB)
	case cfg.CombineBudget < 0:
		return nil, fmt.Errorf("fanout: Config.CombineBudget %d is negative", cfg.CombineBudget)
	case cfg.MergeFanIn < 0 || cfg.MergeFanIn == 1:
		return nil, fmt.Errorf("fanout: Config.MergeFanIn %d: want 0 (default) or at least 2", cfg.MergeFanIn)
	case cfg.CommitPartFiles < 0:
		return nil, fmt.Errorf("fanout: Config.CommitPartFiles %d is negative", cfg.CommitPartFiles)
	}
	if cfg.CommitPartFiles == 0 {
		cfg.CommitPartFiles = DefaultCommitPartFiles
	}
	if cfg.CombineBudget == 0 {
		cfg.CombineBudget = DefaultCombineBudget
	}
	if cfg.MergeFanIn == 0 {
		cfg.MergeFanIn = DefaultMergeFanIn
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.WorkerName == "" {
		host, _ := os.Hostname()
		cfg.WorkerName = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if cfg.JobCacheBytes <= 0 {
		cfg.JobCacheBytes = DefaultJobCacheBytes
	}
	if cfg.JobCacheIdle <= 0 {
		cfg.JobCacheIdle = DefaultJobCacheIdle
	}
	runs := Runs{}
	for _, name := range cfg.Functions.Names() {
		f, _ := cfg.Functions.Lookup(name)
		runs[name] = functions.VersionOf(f)
	}
	return &Engine{cfg: cfg, log: log, jobs: newJobCache(cfg.JobCacheBytes, cfg.JobCacheIdle), settled: make(chan struct{}, 1),
		redactor: newRedactor(cfg.Secrets), runs: runs}, nil
}

// store opens (once) and returns the store for a store URL. prefix is
// where the caller works in it: the store is opened with the URL of that
// prefix, so that an S3 store checks the bucket by listing there, which a
// least-privilege policy allows where a listing of the whole bucket is
// refused (localstack/iam-worker-policy.json).
func (e *Engine) store(ctx context.Context, storeURL, prefix string) (objstore.Bucket, error) {
	if b, ok := e.stores.Load(storeURL); ok {
		return b.(objstore.Bucket), nil
	}
	b, err := e.cfg.Open(ctx, objstore.OpenURL(storeURL, prefix))
	if err != nil {
		return nil, err
	}
	actual, _ := e.stores.LoadOrStore(storeURL, b)
	return actual.(objstore.Bucket), nil
}

// output opens the store of an output URL and returns it with the job
// layout rooted at the URL's prefix.
func (e *Engine) output(ctx context.Context, outURL string) (objstore.Bucket, objstore.Location, manifest.Layout, error) {
	loc, err := objstore.ParseURL(outURL)
	if err != nil {
		return nil, loc, manifest.Layout{}, fmt.Errorf("output %q: %w", outURL, err)
	}
	b, err := e.store(ctx, loc.StoreURL(), loc.Prefix)
	if err != nil {
		return nil, loc, manifest.Layout{}, fmt.Errorf("output %q: %w", outURL, err)
	}
	return b, loc, manifest.NewLayout(loc.Prefix), nil
}

// probe checks once per store that create-only writes are enforced, since
// every guarantee rests on them.
func (e *Engine) probe(ctx context.Context, storeURL string, b objstore.Bucket, prefix string) error {
	if v, ok := e.probed.Load(storeURL); ok {
		if v == nil {
			return nil
		}
		return v.(error)
	}
	err := objstore.ProbeCreateOnly(ctx, b, prefix+"_fanout/.probe-"+randomHex(8))
	if err != nil && !errors.Is(err, objstore.ErrCreateOnlyNotEnforced) {
		return fmt.Errorf("probing %s: %w", storeURL, err) // transient: do not cache
	}
	if err != nil {
		e.probed.Store(storeURL, err)
		return err
	}
	e.probed.Store(storeURL, nil)
	return nil
}

// Close releases the stores the engine opened.
func (e *Engine) Close() error {
	var errs []error
	e.stores.Range(func(_, v any) bool {
		if c, ok := v.(objstore.Closer); ok {
			errs = append(errs, c.Close())
		}
		return true
	})
	return errors.Join(errs...)
}
