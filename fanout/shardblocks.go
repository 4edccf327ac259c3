package fanout

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// blockCacheBytes bounds the bytes of shard blocks a job keeps (about 5
// blocks of 64 one-object chunks): blocks are read when the engine's
// chunks are far apart (blockStride), so a block seldom serves a second
// chunk, and a thousand simulated workers each holding 256 KiB of them
// held 233 MiB. The job's cached bytes count them, so the engine's
// Config.JobCacheBytes bounds them too.
const blockCacheBytes = 64 << 10

// blockStride is the distance between the chunks an engine runs of a job
// (chunk indexes, smoothed) from which it reads a block of the shard a
// chunk is in (one ranged GET a chunk) rather than the whole shard (one
// GET a shard). Claims come in a spread order (SpreadWindow), so an
// engine's chunks of a job larger than some hundreds of chunks are far
// apart whatever the fleet; in ID order they were a fleet's width apart,
// and a whole shard cost about that many chunks' split and compaction per
// chunk run: at 100
// workers a 10,000-chunk shard cost 49 µs a chunk read whole against 37
// µs for a block and its GET, at 1,000 workers about 300 µs against
// 40 µs (docs/scale.md, "CPU per chunk"). Below 4 blocks apart the whole
// shard is read, which keeps a small fleet's manifest GETs near one a
// shard per worker rather than one a chunk.
const blockStride = 4 * manifest.DefaultBlockChunks

// shardAfterBlocks is the number of blocks of a shard an engine reads by
// range before it reads the shard whole, when its chunks are near each
// other: a worker that starts before the rest of its fleet claims
// consecutive chunks for a while (one block serves them), and a
// thousand such workers each reading a 2 MB shard was a tenth of a
// 1,000-worker simulation's CPU.
const shardAfterBlocks = 4

// blockReads returns the number of blocks of shard s read by range.
func (js *jobState) blockReads(s int) int {
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.blocksRead[s]
}

// stride records a lookup of chunk i and returns the smoothed distance
// between the engine's lookups of the job, 0 before the second.
func (js *jobState) stride(i int) int64 {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.lastChunk >= 0 {
		d := int64(i) - js.lastChunk
		if d < 0 {
			d = -d
		}
		if js.strideAvg == 0 {
			js.strideAvg = max(d, 1)
		} else {
			js.strideAvg = max((3*js.strideAvg+d)/4, 1)
		}
	}
	js.lastChunk = int64(i)
	return js.strideAvg
}

// shardBlock is one block of a manifest shard as a ranged GET read it
// (manifest.ShardBlocks): its n chunks' JSON, neither split nor decoded.
// A chunk is cut out when it is looked up (manifest.BlockChunk scans the
// block up to it): a block read by range mostly serves one chunk, since
// claims come in a spread order (fanout.SpreadWindow), so splitting it
// whole (manifest.SplitBlock) cut 63 chunks for nothing.
type shardBlock struct {
	first int // the index of the block's first chunk
	n     int
	body  []byte
	what  string // names the block in errors
	size  int64
}

// blockCache holds the most recently used blocks of a job's shards, up
// to blockCacheBytes. Claims come in a spread order, so each block a
// worker reads mostly serves one chunk, and reading the block instead of
// the shard is what saves (a shard of 10,000 chunks is 2 MB); a worker
// whose chunks are near (a small job) runs several chunks of a block.
type blockCache struct {
	mu    sync.Mutex
	lru   *list.List // of *shardBlock, most recent first
	items map[int]*list.Element
	bytes int64
}

func newBlockCache() *blockCache {
	return &blockCache{lru: list.New(), items: map[int]*list.Element{}}
}

func (c *blockCache) get(first int) *shardBlock {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.items[first]
	if el == nil {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*shardBlock)
}

func (c *blockCache) add(b *shardBlock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items[b.first] != nil {
		return
	}
	c.items[b.first] = c.lru.PushFront(b)
	c.bytes += b.size
	for c.bytes > blockCacheBytes && c.lru.Len() > 1 {
		old := c.lru.Remove(c.lru.Back()).(*shardBlock)
		delete(c.items, old.first)
		c.bytes -= old.size
	}
}

func (c *blockCache) size() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// blockChunk returns the chunk of index i from the block of shard s
// that holds it, [start, end) of the shard's bytes, whose first chunk
// is first and which holds n chunks (manifest.Manifest.BlockRange).
func (js *jobState) blockChunk(ctx context.Context, s, i int, start, end int64, first, n int) (manifest.Chunk, error) {
	b := js.blocks.get(first)
	if b == nil {
		ch := js.loading.DoChan("b"+strconv.Itoa(first), func() (any, error) {
			// Shared by every waiter: not cut short by the first one's lease.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			return js.readBlock(rctx, s, start, end, first, n)
		})
		select {
		case <-ctx.Done():
			return manifest.Chunk{}, context.Cause(ctx)
		case r := <-ch:
			if r.Err != nil {
				return manifest.Chunk{}, r.Err
			}
			b = r.Val.(*shardBlock)
		}
	}
	// Cut, decoded and validated here, as a chunk of a whole shard is.
	raw, err := manifest.BlockChunk(b.body, b.n, i-first, b.what)
	if err != nil {
		return manifest.Chunk{}, functions.Permanent(fmt.Errorf("job %s: manifest shard %d: %w", js.job, s, err))
	}
	c, err := manifest.DecodeChunk(raw, manifest.ChunkID(i))
	if err != nil {
		return manifest.Chunk{}, functions.Permanent(fmt.Errorf("job %s: manifest shard %d: %w", js.job, s, err))
	}
	return c, nil
}

// readBlock reads a block of shard s with a ranged GET on the ETag the
// planner recorded, splits it and caches it.
func (js *jobState) readBlock(ctx context.Context, s int, start, end int64, first, n int) (*shardBlock, error) {
	if b := js.blocks.get(first); b != nil { // read while this call waited
		return b, nil
	}
	key := js.m.ShardKey(js.layout, s)
	etag := js.m.ShardBlocks[s].ETag
	rc, _, err := js.out.Get(ctx, key, &objstore.GetOptions{Offset: start, Length: end - start, IfMatch: etag})
	if errors.Is(err, objstore.ErrPrecondition) {
		return nil, functions.Permanent(fmt.Errorf("job %s: manifest shard %d (%s) was replaced since it was planned (etag %s): %w", js.job, s, key, etag, err))
	}
	if err != nil {
		return nil, fmt.Errorf("job %s: reading manifest shard %d: %w", js.job, s, err)
	}
	body, err := readBlockBytes(rc, end-start, nil)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return nil, functions.Permanent(fmt.Errorf("job %s: manifest shard %d (%s) ends before byte %d of its block table", js.job, s, key, end))
	}
	if err != nil {
		return nil, fmt.Errorf("job %s: reading manifest shard %d: %w", js.job, s, err)
	}
	b := &shardBlock{first: first, n: n, body: body, what: fmt.Sprintf("shard %d bytes [%d, %d)", s, start, end), size: int64(len(body))}
	js.blocks.add(b)
	js.mu.Lock()
	if js.blocksRead == nil {
		js.blocksRead = map[int]int{}
	}
	js.blocksRead[s]++
	js.mu.Unlock()
	return b, nil
}
