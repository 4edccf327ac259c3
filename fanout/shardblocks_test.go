package fanout

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// byteCounter counts the GETs of one key and the bytes read from them.
type byteCounter struct {
	objstore.Bucket
	key string

	mu    sync.Mutex
	gets  []objstore.GetOptions
	bytes int64
}

func (c *byteCounter) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	rc, info, err := c.Bucket.Get(ctx, key, opts)
	if err != nil || key != c.key {
		return rc, info, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var o objstore.GetOptions
	if opts != nil {
		o = *opts
	}
	c.gets = append(c.gets, o)
	return &countedReader{ReadCloser: rc, c: c}, info, nil
}

func (c *byteCounter) read() (gets int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.gets), c.bytes
}

type countedReader struct {
	io.ReadCloser
	c *byteCounter
}

func (r *countedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.c.mu.Lock()
	r.c.bytes += int64(n)
	r.c.mu.Unlock()
	return n, err
}

// blockJob writes one shard of n one-object chunks into a simulated
// bucket, as the planner writes it, and returns a job state over it
// reading through a byteCounter, and the shard's chunks. With table
// false the manifest has no block table (a manifest of a release before
// it).
func blockJob(t *testing.T, n int, table bool) (*jobState, *byteCounter, []manifest.Chunk, *simstore.Store) {
	t.Helper()
	ctx := context.Background()
	const job = "j0123456789abcdef0123"
	sh := &manifest.Shard{Version: manifest.Version, Job: job}
	for i := range n {
		sh.Chunks = append(sh.Chunks, manifest.Chunk{ID: manifest.ChunkID(i), Bytes: 100, Parts: []manifest.Part{{
			Object: manifest.ObjectRef{Store: "s3://in", Key: fmt.Sprintf("in/%08d.txt", i), Size: 100, ETag: fmt.Sprintf("%032x", i), Format: manifest.FormatLines},
			Start:  0, End: -1,
		}}})
	}
	body, offsets, err := manifest.EncodeShard(sh, manifest.DefaultBlockChunks)
	if err != nil {
		t.Fatal(err)
	}
	store := simstore.New(simstore.Config{Name: "blocks"})
	layout := manifest.NewLayout("out/")
	m := &manifest.Manifest{Version: manifest.Version, Job: job, Spec: manifest.JobSpec{Inputs: []string{"s3://in/"}, Function: "convert", Output: "s3://blocks/out/"}.WithDefaults(),
		Chunks: n, Shards: 1, ShardSize: manifest.DefaultShardSize}
	info, err := store.Put(ctx, m.ShardKey(layout, 0), bytes.NewReader(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if table {
		m.BlockChunks = manifest.DefaultBlockChunks
		m.ShardBlocks = []manifest.ShardBlocks{{ETag: info.ETag, Offsets: offsets}}
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	counter := &byteCounter{Bucket: store, key: m.ShardKey(layout, 0)}
	js := &jobState{job: job, m: m, out: counter, layout: layout, shards: map[int]*compactShard{}, blocks: newBlockCache(), lastChunk: -1}
	return js, counter, sh.Chunks, store
}

func lookUp(t *testing.T, js *jobState, want []manifest.Chunk, i int) {
	t.Helper()
	got, err := js.chunk(context.Background(), manifest.ChunkID(i))
	if err != nil {
		t.Fatalf("chunk %d: %v", i, err)
	}
	if !reflect.DeepEqual(got, want[i]) {
		t.Fatalf("chunk %d: got %+v, want %+v", i, got, want[i])
	}
}

// TestChunkLookupReadsOnlyItsBlock looks up chunks of a shard of 8,000
// chunks (about 1.3 MB) far apart, as a worker of a large fleet runs
// them: each lookup reads the block that holds its chunk, one ranged GET
// with If-Match on the shard's planned ETag and the block's bytes, and
// nothing else of the shard; a chunk of a block read before costs no
// GET. Chunks looked up near each other (a small fleet) read the shard
// whole, once, after shardAfterBlocks blocks of it.
func TestChunkLookupReadsOnlyItsBlock(t *testing.T) {
	js, counter, want, _ := blockJob(t, 8000, true)
	size := js.m.ShardBlocks[0].Offsets[len(js.m.ShardBlocks[0].Offsets)-1]
	var wantBytes int64
	for k, i := range []int{5000, 1000, 7999, 3000, 0} {
		lookUp(t, js, want, i)
		start, end, _, _, _ := js.m.BlockRange(0, i)
		wantBytes += end - start
		gets, read := counter.read()
		if gets != k+1 || read != wantBytes {
			t.Fatalf("after chunk %d: %d GETs and %d bytes of the shard read; want %d and %d (its blocks)", i, gets, read, k+1, wantBytes)
		}
		got := counter.gets[k]
		if got.Offset != start || got.Length != end-start || got.IfMatch != js.m.ShardBlocks[0].ETag {
			t.Fatalf("chunk %d's GET: %+v; want [%d, +%d) if-match %s", i, got, start, end-start, js.m.ShardBlocks[0].ETag)
		}
	}
	if _, read := counter.read(); read*20 > size { // 5 of its 125 blocks
		t.Fatalf("read %d bytes of a shard of %d for 5 chunks; want a twentieth at most", read, size)
	}
	// A chunk of a cached block: no GET, far from the last lookup or not.
	lookUp(t, js, want, 1)
	if gets, _ := counter.read(); gets != 5 {
		t.Fatalf("%d GETs after a chunk of a cached block; want 5", gets)
	}
	// Near each other: once the smoothed distance falls below
	// blockStride the shard is read whole, and then serves every chunk.
	for i := 6000; i < 6100; i++ {
		lookUp(t, js, want, i)
	}
	gets, read := counter.read()
	if len(js.shards) != 1 || counter.gets[gets-1].Length > 0 || read < wantBytes+size {
		t.Fatalf("after 100 chunks in a row: %d shards cached, last GET %+v, %d bytes read; want the shard read whole", len(js.shards), counter.gets[gets-1], read)
	}
	if gets > 5+4 {
		t.Fatalf("%d GETs for 100 chunks in a row after 5; want a few blocks and the shard", gets)
	}
}

// TestChunkLookupOfAShardWithoutBlockTable: a manifest of a release
// before block tables is read as it was, the shard whole.
func TestChunkLookupOfAShardWithoutBlockTable(t *testing.T) {
	js, counter, want, _ := blockJob(t, 500, false)
	for _, i := range []int{400, 10, 250} {
		lookUp(t, js, want, i)
	}
	gets, read := counter.read()
	if gets != 1 || counter.gets[0].Length > 0 || counter.gets[0].Offset != 0 || read < 500*100 {
		t.Fatalf("%d GETs (first %+v), %d bytes; want the shard read whole once", gets, counter.gets[0], read)
	}
}

// TestAReplacedShardIsRefused rewrites a planned shard (the same chunks,
// other bytes: another ETag): neither a block nor the whole shard of it
// (split or kept by its blocks) is read, and the error is permanent and
// says so.
func TestAReplacedShardIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stride int64 // the engine's lookups so far; 0: none
	}{{"blocks", 0}, {"whole/near", 1}, {"whole/apart", 100}} {
		t.Run(tc.name, func(t *testing.T) {
			js, _, _, store := blockJob(t, 3000, true)
			key := js.m.ShardKey(js.layout, 0)
			body := readKey(t, store, key)
			if _, err := store.Put(context.Background(), key, bytes.NewReader(append([]byte(" "), body...)), nil); err != nil {
				t.Fatal(err)
			}
			i := 2000
			if tc.stride > 0 {
				// Lookups below blockStride apart, after blocks of the
				// shard, read the shard whole (split or by its blocks,
				// splitBelowStride).
				js.lastChunk, js.strideAvg = 1999, tc.stride
				js.blocksRead = map[int]int{0: shardAfterBlocks}
			}
			_, err := js.chunk(context.Background(), manifest.ChunkID(i))
			if err == nil || !functions.IsPermanent(err) || !strings.Contains(err.Error(), "replaced") {
				t.Fatalf("chunk %d of a replaced shard: %v; want a permanent error saying it was replaced", i, err)
			}
		})
	}
}

func readKey(t *testing.T, b objstore.Bucket, key string) []byte {
	t.Helper()
	rc, _, err := b.Get(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestAShardReadWholeIsKeptInItsForm reads a shard with a block table
// whole, once with an engine's lookups near each other (stride 1: the
// shard is split into its chunks, compactRaw) and once apart (stride
// 100: kept as its blocks, compactBlocks), and looks up chunks of it
// either way: each equals the planned chunk, and the form kept is the
// one the stride says (splitBelowStride).
func TestAShardReadWholeIsKeptInItsForm(t *testing.T) {
	for _, tc := range []struct {
		stride      int64
		blockChunks int
	}{{1, 0}, {splitBelowStride - 1, 0}, {splitBelowStride, manifest.DefaultBlockChunks}, {100, manifest.DefaultBlockChunks}} {
		t.Run(fmt.Sprintf("stride=%d", tc.stride), func(t *testing.T) {
			js, counter, want, _ := blockJob(t, 3000, true)
			js.lastChunk, js.strideAvg = 1999, tc.stride
			js.blocksRead = map[int]int{0: shardAfterBlocks}
			cs, err := js.shard(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if cs.blockChunks != tc.blockChunks {
				t.Fatalf("the shard is kept in blocks of %d chunks of its JSON; want %d (0: lines)", cs.blockChunks, tc.blockChunks)
			}
			for _, i := range []int{0, 63, 64, 1500, 2999} {
				got, ok, err := cs.chunk(i)
				if err != nil || !ok || !reflect.DeepEqual(got, want[i]) {
					t.Fatalf("chunk %d: %+v, %v, %v; want %+v", i, got, ok, err, want[i])
				}
			}
			if gets, _ := counter.read(); gets != 1 || counter.gets[0].Length > 0 {
				t.Fatalf("%d GETs (first %+v); want the shard read whole once", gets, counter.gets[0])
			}
		})
	}
}
