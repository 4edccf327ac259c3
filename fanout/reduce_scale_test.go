//go:build linux

package fanout_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// countingBucket counts what readers of a store do: the Get bodies of
// shuffle data and index open at once (and the most ever), and the bytes read from keys ending in
// indexSuffix, with the ranges asked.
type countingBucket struct {
	objstore.Bucket
	indexSuffix string

	open, maxOpen atomic.Int64
	indexBytes    atomic.Int64
	mu            sync.Mutex
	indexGets     []objstore.GetOptions
}

func (c *countingBucket) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	rc, info, err := c.Bucket.Get(ctx, key, opts)
	if err != nil || strings.HasSuffix(key, ".json") {
		// Markers, manifest shards, the owner and commit records (read
		// by the advance step beside the reduce tasks) are not the
		// merge's streams.
		return rc, info, err
	}
	n := c.open.Add(1)
	for m := c.maxOpen.Load(); n > m && !c.maxOpen.CompareAndSwap(m, n); m = c.maxOpen.Load() {
	}
	body := &countedBody{ReadCloser: rc, c: c}
	if strings.HasSuffix(key, c.indexSuffix) {
		body.index = true
		c.mu.Lock()
		c.indexGets = append(c.indexGets, *opts)
		c.mu.Unlock()
	}
	return body, info, nil
}

type countedBody struct {
	io.ReadCloser
	c      *countingBucket
	index  bool
	closed atomic.Bool
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.index {
		b.c.indexBytes.Add(int64(n))
	}
	return n, err
}

func (b *countedBody) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		b.c.open.Add(-1)
	}
	return b.ReadCloser.Close()
}

// shuffleRecord is one (key, value) of a synthetic map output, encoded as
// the shuffle format documents it (fanout/shuffle.go): a string key
// column and an int64 count, each a validity byte then uvarint(len)
// bytes or a zig-zag varint; partition FNV-1a(key) mod R.
type shuffleRecord struct {
	part     int
	key, val []byte
}

func syntheticShuffle(words map[string]int64, r int) (body []byte, offsets []int64) {
	var recs []shuffleRecord
	for w, n := range words {
		key := binary.AppendUvarint([]byte{1}, uint64(len(w)))
		key = append(key, w...)
		h := fnv.New64a()
		h.Write(key)
		recs = append(recs, shuffleRecord{int(h.Sum64() % uint64(r)), key, binary.AppendVarint([]byte{1}, n)})
	}
	slices.SortFunc(recs, func(a, b shuffleRecord) int {
		if a.part != b.part {
			return a.part - b.part
		}
		return bytes.Compare(a.key, b.key)
	})
	body = []byte("FOSH\x01")
	offsets = make([]int64, r+1)
	next := 0
	for _, rec := range recs {
		for ; next <= rec.part; next++ {
			offsets[next] = int64(len(body))
		}
		body = binary.AppendUvarint(body, uint64(len(rec.key)))
		body = append(body, rec.key...)
		body = binary.AppendUvarint(body, uint64(len(rec.val)))
		body = append(body, rec.val...)
	}
	for ; next <= r; next++ {
		offsets[next] = int64(len(body))
	}
	return body, offsets
}

// TestReduceOver100kMapChunks plans a word count over 100,000 objects
// (one chunk each) in a simulated S3, gives every map chunk a synthetic
// shuffle file and marker (as a map attempt would have written them), and
// runs the real reduce stage and commit under a descriptor limit of 96
// above what the process holds. It checks that every reduce task read
// only its header and its own section of the shuffle index (two ranged
// GETs; the bytes read in all are the index once plus a header per
// task), that no more than MergeFanIn (64) bodies were open at once, and
// that the committed counts equal the oracle's. The reduce of 100k map
// files with the one-level merge that this replaced held ~1,560 local
// runs open at once, and each task read the whole index.
func TestReduceOver100kMapChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 300k objects in memory; skipped in -short mode; scripts/test.sh runs it")
	}
	const chunks, reducers = 100_000, 8
	ctx := context.Background()
	sim := simstore.New(simstore.Config{Name: "reduce100k"})
	cb := &countingBucket{Bucket: sim, indexSuffix: "/shuffle.idx"}
	reg := builtin.Registry()
	reg.Register(countWords{})
	e := newEngine(t, reg, func(c *fanout.Config) {
		c.Open = func(context.Context, string) (objstore.Bucket, error) { return cb, nil }
	})
	var g errgroup.Group
	g.SetLimit(8)
	for i := range chunks {
		g.Go(func() error {
			_, err := sim.Put(ctx, fmt.Sprintf("in/%06d.txt", i), strings.NewReader("x\n"), nil)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	info, err := e.Plan(ctx, manifest.JobSpec{Inputs: []string{"s3://sim/in/"}, Function: "testcount",
		Output: "s3://sim/out/", OutputFormat: "jsonl", MaxObjectsPerChunk: 1, Reducers: reducers}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if info.Manifest.Chunks != chunks {
		t.Fatalf("got %d chunks, want %d", info.Manifest.Chunks, chunks)
	}
	t.Logf("planned %d chunks in %s", chunks, time.Since(start).Round(time.Millisecond))
	// The map stage, synthesised: chunk i counts three words of 5,000.
	job, layout := info.Job, manifest.NewLayout("out/")
	want := map[string]int64{}
	var wantMu sync.Mutex
	for i := range chunks {
		g.Go(func() error {
			chunk := manifest.ChunkID(i)
			words := map[string]int64{}
			for k := range 3 {
				words[fmt.Sprintf("w%04d", (i*7+k*1013)%5000)] += int64(i%3 + 1)
			}
			wantMu.Lock()
			for w, n := range words {
				want[w] += n
			}
			wantMu.Unlock()
			body, offsets := syntheticShuffle(words, reducers)
			key := layout.StagingRoot(job) + chunk + "/1/shuffle.bin"
			fi, err := sim.Put(ctx, key, bytes.NewReader(body), nil)
			if err != nil {
				return err
			}
			m, err := manifest.Encode(&manifest.ChunkMarker{Version: manifest.Version, Job: job, Chunk: chunk, Epoch: 1,
				State: manifest.MarkerDone, RecordsIn: 1, Attempts: 1,
				Files: []manifest.OutputFile{{Key: key, Size: int64(len(body)), ETag: fi.ETag, Rows: int64(len(words)), Partitions: offsets}}})
			if err != nil {
				return err
			}
			_, err = sim.Put(ctx, layout.MarkerKey(job, chunk), bytes.NewReader(m), &objstore.PutOptions{IfNoneMatch: true})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	// Lambda allows 1,024 descriptors; this run gets 96 beyond what the
	// process holds now (the merge's local runs are the only files the
	// reduce opens: the simulated S3 holds its objects in memory).
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		localstack.Missing(t, fmt.Sprintf("/proc/self/fd, to count descriptors (%v),", err))
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	limit := syscall.Rlimit{Cur: uint64(len(entries) + 96), Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		t.Fatal(err)
	}
	// The live heap (as of each GC's mark) while the reduce stage runs,
	// above what the simulated bucket holds: measured and logged
	// (docs/scale.md quotes it). HeapInuse would count garbage too,
	// and with 400 MiB live the collector lets that grow by as much.
	runtime.GC()
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	heapBefore := live[0].Value.Uint64()
	var peakHeap atomic.Uint64
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peakHeap.Load() {
				peakHeap.Store(v)
			}
			select {
			case <-sampling:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	start = time.Now()
	var reduceStart atomic.Int64
	res, err := e.Wait(ctx, "s3://sim/out/", job, fanout.RunOptions{Workers: 1, Observe: func(ev fanout.ChunkEvent) {
		if manifest.IsReduceTask(ev.Chunk) {
			reduceStart.CompareAndSwap(0, int64(time.Since(start)))
		}
	}})
	close(sampling)
	<-sampled
	t.Logf("live heap %d MiB before the reduce stage (the simulated bucket), at most %d MiB above it while it ran", heapBefore>>20, (peakHeap.Load()-min(peakHeap.Load(), heapBefore))>>20)
	t.Logf("map stage (skips) and reduce stage in %s, the first reduce task done after %s", time.Since(start).Round(time.Millisecond), time.Duration(reduceStart.Load()).Round(time.Millisecond))
	if rerr := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatalf("reduce under a limit of %d descriptors: %v", limit.Cur, err)
	}
	if res.State != fanout.StateCommitted || res.RecordsOut != int64(len(want)) {
		t.Fatalf("got state %s, %d records out; want committed, %d", res.State, res.RecordsOut, len(want))
	}

	// The index: a header and one section per reduce task.
	idx, err := sim.Stat(ctx, layout.ShuffleIndexKey(job))
	if err != nil {
		t.Fatal(err)
	}
	// A reduce task that runs twice (its lease lost on a loaded machine)
	// reads its header and section again: the bound counts each range
	// asked once, and a read of the whole index (no range) counts whole.
	header := manifest.ShuffleIndexHeaderSize(reducers)
	cb.mu.Lock()
	ranges := map[[2]int64]bool{}
	var asked int64
	for _, o := range cb.indexGets {
		r := [2]int64{o.Offset, o.Length}
		if o.Length <= 0 {
			r[1] = idx.Size - o.Offset
		}
		if !ranges[r] {
			ranges[r] = true
			asked += r[1]
		}
	}
	cb.mu.Unlock()
	if max := idx.Size + (reducers-1)*header; asked > max {
		t.Errorf("reduce tasks asked for %d bytes of a %d-byte index (%d distinct ranges); want at most %d (each its header and section)", asked, idx.Size, len(ranges), max)
	}
	cb.mu.Lock()
	for _, o := range cb.indexGets {
		if o.Length <= 0 || o.Length > idx.Size/reducers*2 {
			t.Errorf("a reduce task read %d bytes of the index at %d; want a section of about %d", o.Length, o.Offset, idx.Size/reducers)
		}
	}
	cb.mu.Unlock()
	if got := cb.maxOpen.Load(); got > fanout.DefaultMergeFanIn {
		t.Errorf("%d GET bodies were open at once; want at most %d", got, fanout.DefaultMergeFanIn)
	}
	t.Logf("index %d bytes (%d bytes a map chunk); %d index bytes read by %d tasks (%d GETs, %d distinct ranges); at most %d GET bodies open at once",
		idx.Size, idx.Size/chunks, cb.indexBytes.Load(), reducers, len(cb.indexGets), len(ranges), cb.maxOpen.Load())

	words := make([]string, 0, len(want))
	for w := range want {
		words = append(words, w)
	}
	faulttest.CheckCommitted(t, sim, "out/", job, faulttest.JSONField("word"), words)
	got := readCounts(t, sim, "out/", "n")
	for w, n := range want {
		if got[w] != n {
			t.Errorf("%s: got %d, want %d", w, got[w], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d words, want %d", len(got), len(want))
	}
}

// TestWordCountOverThousandsOfChunksMatchesASerialCount runs a real word
// count (map, combine, shuffle, multi-level merge with a fan-in of 6,
// commit) over 3,000 objects, one chunk each, in a simulated S3, and
// compares the committed counts with counting the same lines serially.
func TestWordCountOverThousandsOfChunksMatchesASerialCount(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 3,000 map chunks; skipped in -short mode; scripts/test.sh runs it")
	}
	const objects = 3000
	ctx := context.Background()
	sim := simstore.New(simstore.Config{Name: "wc3000"})
	reg := builtin.Registry()
	reg.Register(countWords{})
	e := newEngine(t, reg, func(c *fanout.Config) {
		c.Open = func(context.Context, string) (objstore.Bucket, error) { return sim, nil }
		c.MergeFanIn = 6
	})
	want := map[string]int64{}
	for i := range objects {
		var b strings.Builder
		for j := range 20 {
			w := fmt.Sprintf("w%d", (i*31+j*j)%2000)
			want[w]++
			fmt.Fprintf(&b, "%s rest %d\n", w, j)
		}
		if _, err := sim.Put(ctx, fmt.Sprintf("in/%05d.txt", i), strings.NewReader(b.String()), nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.Run(ctx, manifest.JobSpec{Inputs: []string{"s3://sim/in/"}, Function: "testcount",
		Output: "s3://sim/out/", OutputFormat: "jsonl", MaxObjectsPerChunk: 1, Reducers: 3}.WithDefaults(), fanout.RunOptions{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Chunks != objects || res.RecordsIn != objects*20 || res.RecordsOut != int64(len(want)) {
		t.Fatalf("got %d chunks, %d records in, %d out; want %d, %d, %d", res.Chunks, res.RecordsIn, res.RecordsOut, objects, objects*20, len(want))
	}
	words := make([]string, 0, len(want))
	for w := range want {
		words = append(words, w)
	}
	faulttest.CheckCommitted(t, sim, "out/", res.Job, faulttest.JSONField("word"), words)
	got := readCounts(t, sim, "out/", "n")
	for w, n := range want {
		if got[w] != n {
			t.Errorf("%s: got %d, want %d", w, got[w], n)
		}
	}
}
