package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// jobState is what a worker caches about one job: its manifest, output
// store, function, schema and the manifest shards it has read lately.
type jobState struct {
	job    string
	m      *manifest.Manifest
	out    objstore.Bucket
	outURL string // output store URL
	layout manifest.Layout
	fn     functions.Function
	schema *functions.Schema

	// reduceReady is set once the shuffle index exists (for progress
	// reports: a redrive elsewhere may have removed it since).
	reduceReady atomic.Bool
	// compactTasks is the number of tasks of the job's compaction plan,
	// once this engine has read it (for progress: the stage's tasks are
	// known only when the map stage ends).
	compactTasks   atomic.Int64
	compactPlanned atomic.Bool
	compactDone    atomic.Bool // every compaction task has its marker
	// commitSteps is how far this engine's commit of the job has got.
	commitSteps commitSteps
	// lookedForPlan is when a step last looked for the compaction plan
	// (UnixNano), for progress.
	lookedForPlan atomic.Int64
	// cancelSeen is set when enqueueMissing found the job cancelled.
	cancelSeen atomic.Bool
	// noneRunningAt is when (UnixNano) a step last read the queue's
	// counts and found none of the job's tasks running (0 when it found
	// some): a lease granted since expires a lease later at the
	// earliest, so that a step within half a lease of it has no lease
	// to take back (advance).
	noneRunningAt atomic.Int64

	// manifestBytes is the size of the encoded manifest, the job's cost
	// in the engine's cache beside its cached shards.
	manifestBytes int64

	mu     sync.Mutex
	shards map[int]*compactShard
	recent []int // shard indexes, most recent last
	// blocks caches the shard blocks read by range, when the manifest
	// has a block table (shards are then never read whole).
	blocks *blockCache
	// lastChunk is the index of the chunk last looked up (-1: none yet),
	// strideAvg the smoothed distance between lookups (see blockStride),
	// blocksRead the blocks read by range of each shard.
	lastChunk, strideAvg int64
	blocksRead           map[int]int
	// loading makes concurrent misses of one shard read it once.
	loading singleflight.Group

	// downSince is when the queue started failing every request about
	// the job (zero while it answers), downErr its last error.
	downSince time.Time
	downErr   error
}

// size is what the job costs in the engine's cache: its encoded manifest
// and cached shards.
func (js *jobState) size() int64 {
	js.mu.Lock()
	defer js.mu.Unlock()
	n := js.manifestBytes
	for _, sh := range js.shards {
		n += sh.size
	}
	return n + js.blocks.size()
}

// queueAnswered records the outcome of a request to the queue about the
// job: an error other than ErrUnknownJob (the queue answered) starts or
// continues an outage. It returns when an outage began that this answer
// ended, or that this error began (zero otherwise), so that each outage
// is logged once when it begins and once when it ends.
func (js *jobState) queueAnswered(err error) (began, ended time.Time) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if err == nil || errors.Is(err, ErrUnknownJob) {
		ended = js.downSince
		js.downSince, js.downErr = time.Time{}, nil
		return time.Time{}, ended
	}
	if js.downSince.IsZero() {
		js.downSince = time.Now()
		began = js.downSince
	}
	js.downErr = err
	return began, time.Time{}
}

// queueDown returns when the current queue outage began and its last
// error, or a nil error while the queue answers.
func (js *jobState) queueDown() (time.Time, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.downSince, js.downErr
}

// shardCacheSize is the number of compacted manifest shards a job keeps.
// A worker reads shards whole only when its chunks are near each other
// (blockStride): a job of a few hundred chunks, one or two shards, since
// claims come in a spread order (SpreadWindow) and a larger job's chunks
// are read by block.
const shardCacheSize = 2

// manifestURL is the URL a queue stores to find a job's manifest.
func manifestURL(storeURL string, layout manifest.Layout, job string) string {
	return strings.TrimSuffix(storeURL, "/") + "/" + layout.ManifestKey(job)
}

// loadJob returns the cached state of a job, reading its manifest from the
// URL the queue holds.
func (e *Engine) loadJob(ctx context.Context, job, manifestURL string) (*jobState, error) {
	if js := e.jobs.get(job); js != nil {
		return js, nil
	}
	suffix := "_fanout/" + job + "/manifest.json"
	outURL, ok := strings.CutSuffix(manifestURL, suffix)
	if !ok {
		return nil, fmt.Errorf("job %s: manifest URL %q does not end in %s", job, manifestURL, suffix)
	}
	refusal := job + " " + manifestURL
	if err, ok := e.refused.Load(refusal); ok {
		return nil, err.(error)
	}
	admit := e.cfg.Admit
	if admit != nil {
		if err := admit.checkOutput(job, outURL); err != nil {
			e.refused.Store(refusal, err)
			return nil, err
		}
	}
	if _, err := objstore.ParseURL(outURL); err != nil {
		return nil, fmt.Errorf("job %s: output %q: %w", job, outURL, err)
	}
	// A store this worker cannot open, or a manifest it cannot read (its
	// endpoint, credentials or network are not the job's workers'), says
	// nothing about the job: the chunk is released for a worker that can
	// (not cached, so an outage that ends lets this worker run it again).
	out, loc, layout, err := e.output(ctx, outURL)
	if err != nil {
		return nil, unreadable(job, manifestURL, err)
	}
	body, err := readAll(ctx, out, layout.ManifestKey(job), 64<<20)
	if err != nil {
		return nil, unreadable(job, manifestURL, err)
	}
	m, err := manifest.DecodeManifest(body)
	if err != nil {
		return nil, fmt.Errorf("job %s: reading manifest: %w", job, err)
	}
	if admit != nil {
		if err := admit.checkManifest(outURL, m); err != nil {
			e.refused.Store(refusal, err)
			return nil, err
		}
	}
	if err := e.canRun(m); err != nil {
		e.refused.Store(refusal, err)
		return nil, err
	}
	return e.cacheJob(out, loc.StoreURL(), layout, m)
}

// canRun refuses (ErrNotAdmitted: the chunk is released, not failed) a
// queued job whose function this engine does not have, or has at another
// version than the job was planned with: a worker of another program
// runs it. Claim does not hand out such chunks (Runs); this catches jobs
// whose queue spec names no function.
func (e *Engine) canRun(m *manifest.Manifest) error {
	fn, err := e.cfg.Functions.Lookup(m.Spec.Function)
	if err != nil {
		return notAdmitted(m.Job, "this worker has no function %s (it runs %s)", m.Spec.Function, strings.Join(e.cfg.Functions.Names(), ", "))
	}
	if v := functions.VersionOf(fn); m.FunctionVersion != "" && m.FunctionVersion != v {
		return notAdmitted(m.Job, "function %s: the job runs version %s, this worker has %s", m.Spec.Function, m.FunctionVersion, v)
	}
	return nil
}

func (e *Engine) cacheJob(out objstore.Bucket, storeURL string, layout manifest.Layout, m *manifest.Manifest) (*jobState, error) {
	fn, err := e.cfg.Functions.Lookup(m.Spec.Function)
	if err != nil {
		return nil, functions.Permanent(err)
	}
	schema := functions.LinesSchema
	if m.Schema != "" {
		if schema, err = functions.ParseSchema(m.Schema); err != nil {
			return nil, functions.Permanent(fmt.Errorf("job %s: manifest schema: %w", m.Job, err))
		}
	}
	js := &jobState{job: m.Job, m: m, out: out, outURL: storeURL, layout: layout, fn: fn, schema: schema, shards: map[int]*compactShard{}, blocks: newBlockCache(), lastChunk: -1}
	if b, err := json.Marshal(m); err == nil {
		js.manifestBytes = int64(len(b))
	}
	return e.jobs.add(js), nil
}

// forgetJob drops a job from the cache (after it finished).
func (e *Engine) forgetJob(job string) {
	e.jobs.remove(job)
	e.specMu.Lock()
	delete(e.specs, job)
	e.specMu.Unlock()
}

// chunk returns a chunk's definition from its manifest shard.
func (js *jobState) chunk(ctx context.Context, id string) (manifest.Chunk, error) {
	i, err := manifest.ChunkIndex(id)
	if err != nil || i < 0 || i >= js.m.Chunks {
		return manifest.Chunk{}, functions.Permanent(fmt.Errorf("job %s has no chunk %q", js.job, id))
	}
	s := js.m.ShardOfChunk(i)
	if start, end, first, n, ok := js.m.BlockRange(s, i); ok {
		// A block is read when the engine's chunks are far apart, the
		// shard whole when they are near (blockStride); whichever holds
		// the chunk already serves it.
		d := js.stride(i)
		if !js.haveShard(s) && (js.blocks.get(first) != nil || d >= blockStride || js.blockReads(s) < shardAfterBlocks) {
			return js.blockChunk(ctx, s, i, start, end, first, n)
		}
	}
	shard, err := js.shard(ctx, s)
	if err != nil {
		return manifest.Chunk{}, err
	}
	c, ok, err := shard.chunk(i)
	if errors.Is(err, manifest.ErrInvalid) {
		return manifest.Chunk{}, functions.Permanent(fmt.Errorf("job %s: manifest shard %d: %w", js.job, s, err))
	} else if err != nil {
		return manifest.Chunk{}, fmt.Errorf("job %s: manifest shard %d: %w", js.job, s, err)
	}
	if !ok || c.ID != id {
		return manifest.Chunk{}, functions.Permanent(fmt.Errorf("job %s: chunk %s missing from manifest shard %d", js.job, id, s))
	}
	return c, nil
}

// haveShard reports whether shard s is cached whole.
func (js *jobState) haveShard(s int) bool {
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.shards[s] != nil
}

// shard returns manifest shard s, from the cache of the shardCacheSize
// most recently read. Concurrent misses read it once: many workers
// starting on one shard at once must not each decode it (and each insert
// it, evicting it again).
func (js *jobState) shard(ctx context.Context, s int) (*compactShard, error) {
	js.mu.Lock()
	if sh := js.shards[s]; sh != nil {
		js.mu.Unlock()
		return sh, nil
	}
	js.mu.Unlock()
	ch := js.loading.DoChan(strconv.Itoa(s), func() (any, error) {
		// Shared by every waiter: not cut short by the first one's lease.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return js.readShard(rctx, s)
	})
	select {
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*compactShard), nil
	}
}

// splitBelowStride is the distance between an engine's chunk lookups
// (jobState.stride) below which a shard read whole is split into its
// chunks before it is compacted (compactRaw); from it on the shard is
// compacted by its block table (compactBlocks), when the manifest has
// one. Splitting costs a whole shard's scan once (BenchmarkCompactShard:
// 5.3 ms of 10,000 chunks against 0.6 ms by blocks) and then saves a
// part of a block's scan at each lookup (5.7 against 10.8 µs): worth it
// when the engine runs about one chunk in 10 of the shard or more.
const splitBelowStride = 16

// readShard reads, checks and caches shard s, compacted.
func (js *jobState) readShard(ctx context.Context, s int) (*compactShard, error) {
	js.mu.Lock()
	if sh := js.shards[s]; sh != nil { // read while this call waited
		js.mu.Unlock()
		return sh, nil
	}
	apart := js.strideAvg >= splitBelowStride
	js.mu.Unlock()
	key := js.m.ShardKey(js.layout, s)
	var cs *compactShard
	var err error
	if len(js.m.ShardBlocks) > 0 && apart {
		cs, err = js.readShardBlocks(ctx, s, key)
	} else {
		cs, err = js.readShardLines(ctx, s, key)
	}
	if err != nil {
		return nil, err
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	js.shards[s] = cs
	js.recent = append(js.recent, s)
	for len(js.recent) > shardCacheSize {
		delete(js.shards, js.recent[0])
		js.recent = js.recent[1:]
	}
	return cs, nil
}

// readShardBlocks reads shard s (at key) whole with If-Match on its
// planned ETag and keeps it as its block table cuts it, reading it block
// by block (compactBlocks): each chunk is checked when decoded.
func (js *jobState) readShardBlocks(ctx context.Context, s int, key string) (*compactShard, error) {
	etag := js.m.ShardBlocks[s].ETag
	rc, _, err := js.out.Get(ctx, key, &objstore.GetOptions{Length: -1, IfMatch: etag})
	if errors.Is(err, objstore.ErrPrecondition) {
		return nil, functions.Permanent(fmt.Errorf("job %s: manifest shard %d (%s) was replaced since it was planned (etag %s): %w", js.job, s, key, etag, err))
	}
	if err != nil {
		return nil, fmt.Errorf("job %s: reading manifest shard %d: %w", js.job, s, err)
	}
	cs, err := compactBlocks(js.m, s, rc)
	if err == nil {
		// What follows the last block ("]}" and a newline), so that the
		// connection can be reused.
		_, err = io.Copy(io.Discard, io.LimitReader(rc, 4<<10))
	}
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, manifest.ErrInvalid) {
		return nil, functions.Permanent(fmt.Errorf("job %s: manifest shard %d (%s): %w", js.job, s, key, err))
	}
	if err != nil {
		return nil, fmt.Errorf("job %s: reading manifest shard %d: %w", js.job, s, err)
	}
	return cs, nil
}

// readShardLines reads shard s (at key) whole, checks it and keeps it
// split into its chunks (compactRaw); a shard of a manifest with a block
// table must have its planned ETag.
func (js *jobState) readShardLines(ctx context.Context, s int, key string) (*compactShard, error) {
	body, etag, err := readAllTag(ctx, js.out, key, 1<<30)
	if err != nil {
		return nil, fmt.Errorf("job %s: reading manifest shard %d: %w", js.job, s, err)
	}
	if len(js.m.ShardBlocks) > 0 && etag != js.m.ShardBlocks[s].ETag {
		return nil, functions.Permanent(fmt.Errorf("job %s: manifest shard %d (%s) was replaced since it was planned (etag %s, planned %s)", js.job, s, key, etag, js.m.ShardBlocks[s].ETag))
	}
	sh, err := manifest.SplitShard(body)
	if err == nil && sh.Index != s {
		err = fmt.Errorf("shard %d holds index %d", s, sh.Index)
	}
	if err == nil {
		err = js.m.CheckRawShard(sh)
	}
	if err != nil {
		return nil, functions.Permanent(fmt.Errorf("job %s: manifest shard %d: %w", js.job, s, err))
	}
	first, _ := js.m.ShardBounds(s)
	return compactRaw(first, sh.Chunks), nil
}
