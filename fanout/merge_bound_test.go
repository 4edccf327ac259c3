package fanout

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// TestReduceMergeIsBoundedWhateverTheMapChunks runs one reduce task's
// merge (mergeSlice, then the final step's fold) over the shuffle slice
// of 10,000 and of 100,000 map chunks, everything else synthetic: the
// index section is a local file, each map file's range is made on demand
// and its GET body holds a descriptor while it is open, as an S3
// response's connection does. The task gets 64 descriptors beyond what
// the process held (RLIMIT_NOFILE): the index section, every merge input
// and the run a step writes must fit, or an open fails with EMFILE. It
// checks the counts against the oracle's, logs the most descriptors seen
// open (sampled) and the live heap's peak above where it started, and
// fails when that peak at 100,000 chunks is more than 6 MiB above the
// one at 10,000 (a task holding 70 bytes a map chunk would add 6 MiB) or
// above 32 MiB.
//
// It measures in a process of its own (the test binary run again for
// this test only), so that other tests' goroutines, descriptors and
// garbage stay out of the counts. What it leaves out: the final step's
// output (an upload or a spill file: one descriptor more beside the
// final step's inputs, at most MergeFanIn-2).
func TestReduceMergeIsBoundedWhateverTheMapChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("merges 110,000 map files' ranges; skipped in -short mode; scripts/test.sh runs it")
	}
	if os.Getenv("FANOUT_MERGE_BOUND_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReduceMergeIsBoundedWhateverTheMapChunks$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "FANOUT_MERGE_BOUND_CHILD=1")
		out, err := cmd.CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.Contains(line, "merge_bound_test.go") {
				t.Log(strings.TrimSpace(line))
			}
		}
		if err != nil || !strings.Contains(string(out), "--- PASS: TestReduceMergeIsBoundedWhateverTheMapChunks") {
			t.Fatalf("the measuring process: %v\n%s", err, out)
		}
		return
	}
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		localstack.Missing(t, fmt.Sprintf("/proc/self/fd, to count descriptors (%v),", err))
	}
	task, err := builtin.Aggregate{}.Prepare(functions.Params{
		Input: &functions.Schema{Columns: []functions.Column{{Name: "k", Type: functions.String}}},
		Args:  map[string]string{"by": "k", "agg": "count"}})
	if err != nil {
		t.Fatal(err)
	}
	red := task.(functions.Reducer)
	codec := rowCodec{schema: task.Output(), keys: red.KeyColumns()}
	if got := codec.schema.String(); got != "k:string,count:int64" {
		t.Fatalf("aggregate's output is %s; the test writes k:string,count:int64", got)
	}
	// A collection every 10% of growth keeps the heap near what is live.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	peaks := map[int]uint64{}
	for _, chunks := range []int{10_000, 100_000} {
		peaks[chunks] = mergeBounded(t, codec, red, chunks)
	}
	// A collection whose mark spans the end of one merge step and the
	// start of the next counts both steps' buffers as live (objects
	// allocated during a mark are marked): up to about 4.3 MiB (62 read
	// buffers of 64 KiB, a 256 KiB writer) more at one size than at the
	// other, measured 3.6 MiB once. 6 MiB is above that and below what a
	// task keeping the slice's entries (about 100 bytes a map chunk: 9
	// MiB more at 100,000) would add.
	if peaks[100_000] > peaks[10_000]+6<<20 || peaks[100_000] > 32<<20 {
		t.Errorf("the merge's live heap peaked %d KiB above its start at 100,000 map chunks, %d KiB at 10,000: it grows with the map chunks", peaks[100_000]>>10, peaks[10_000]>>10)
	}
}

// mergeWords are map chunk i's three words, each counted once.
func mergeWords(i int) [3]string {
	var w [3]string
	for k := range w {
		w[k] = fmt.Sprintf("w%04d", (i*7+k*1013)%5000)
	}
	return w
}

// synthMaps is a bucket whose objects maps/<i> are map chunk i's shuffle
// ranges of one partition, made when read; an open body holds a
// descriptor (of os.DevNull).
type synthMaps struct {
	objstore.Bucket // nil: only Get is called
	codec           rowCodec
	open, maxOpen   atomic.Int64
}

func (s *synthMaps) records(i int) []byte {
	var keys, vals [][]byte
	for _, w := range mergeWords(i) {
		row := functions.Row{functions.StringValue(w), functions.IntValue(1)}
		keys = append(keys, s.codec.appendKey(nil, row))
		vals = append(vals, s.codec.appendVal(nil, row))
	}
	order := []int{0, 1, 2}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
	var recs []byte
	for _, k := range order {
		recs = appendRecord(recs, keys[k], vals[k])
	}
	return recs
}

func (s *synthMaps) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	var i int
	if _, err := fmt.Sscanf(key, "maps/%d", &i); err != nil {
		return nil, objstore.ObjectInfo{}, fmt.Errorf("synthMaps: key %q", key)
	}
	recs := s.records(i)
	if opts == nil || opts.Offset != 5 || opts.Length != int64(len(recs)) || opts.IfMatch != "etag" {
		return nil, objstore.ObjectInfo{}, fmt.Errorf("synthMaps: %s read with %+v; want offset 5, length %d, If-Match etag", key, opts, len(recs))
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	n := s.open.Add(1)
	for m := s.maxOpen.Load(); n > m && !s.maxOpen.CompareAndSwap(m, n); m = s.maxOpen.Load() {
	}
	return &synthBody{Reader: bytes.NewReader(recs), f: f, s: s}, objstore.ObjectInfo{Key: key, ETag: "etag"}, nil
}

type synthBody struct {
	*bytes.Reader
	f *os.File
	s *synthMaps
}

func (b *synthBody) Close() error {
	if b.f == nil {
		return nil
	}
	b.s.open.Add(-1)
	err := b.f.Close()
	b.f = nil
	return err
}

// mergeBounded merges partition 0 of chunks map files under a limit of
// 64 descriptors, checks the folded counts, and returns the live heap's
// peak above its start.
func mergeBounded(t *testing.T, codec rowCodec, red functions.Reducer, chunks int) uint64 {
	maps := &synthMaps{codec: codec}
	// The index section, written to a local file.
	idxPath := filepath.Join(t.TempDir(), "section")
	f, err := os.Create(idxPath)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	var w manifest.ShuffleSectionWriter
	var buf []byte
	var size int64
	want := map[string]int64{}
	for i := range chunks {
		buf = w.Append(buf[:0], manifest.ShuffleEntry{Chunk: i, Key: fmt.Sprintf("maps/%08d", i), ETag: "etag", Offset: 5, Length: int64(len(maps.records(i)))})
		bw.Write(buf)
		size += int64(len(buf))
		for _, word := range mergeWords(i) {
			want[word]++
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// Every descriptor the task opens from here on counts: the section,
	// the GET bodies, the runs. One more is left for the sampler's own
	// look at /proc/self/fd.
	fds := func() int {
		e, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return -1
		}
		return len(e) - 1 // the directory being read
	}
	// Opening a character device sets up the runtime's poller (its own
	// descriptors) once: done before the count, not inside the task.
	if f, err := os.Open(os.DevNull); err == nil {
		f.Close()
	}
	runtime.GC()
	base := fds()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: uint64(base + DefaultMergeFanIn + 1), Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Fatal(err)
		}
	}()
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	runtime.GC()
	metrics.Read(live)
	heapBefore := live[0].Value.Uint64()
	var peakHeap, peakFDs atomic.Int64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			metrics.Read(s)
			if v := int64(s[0].Value.Uint64()); v > peakHeap.Load() {
				peakHeap.Store(v)
			}
			if n := int64(fds() - base); n > peakFDs.Load() {
				peakFDs.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	start := time.Now()
	body, err := os.Open(idxPath)
	if err != nil {
		t.Fatal(err)
	}
	slice := &shuffleSlice{ShuffleSectionReader: manifest.NewShuffleSectionReader(body, 0, size), body: body, key: idxPath}
	merger := newGroupMerger(codec, red)
	got := map[string]int64{}
	streams, err := mergeSlice(context.Background(), &jobState{out: maps}, 0, DefaultMergeFanIn, merger, slice)
	finalInputs := len(streams)
	if err == nil {
		err = mergeStreams(streams, func(_ int, key []byte, vals func(func([]byte) bool)) error {
			if err := merger.fold(key, vals); err != nil {
				return err
			}
			got[merger.acc[0].S] += merger.acc[1].I
			return nil
		})
	}
	close(stop)
	<-stopped
	if err != nil {
		t.Fatalf("%d map chunks: the merge under a limit of %d descriptors: %v", chunks, DefaultMergeFanIn, err)
	}
	if len(got) != len(want) {
		t.Errorf("%d map chunks: %d words folded, want %d", chunks, len(got), len(want))
	}
	for word, n := range want {
		if got[word] != n {
			t.Errorf("%d map chunks: %s counted %d, want %d", chunks, word, got[word], n)
		}
	}
	if n := peakFDs.Load(); n > DefaultMergeFanIn {
		t.Errorf("%d map chunks: %d descriptors seen open; want at most %d", chunks, n, DefaultMergeFanIn)
	}
	peak := uint64(max(peakHeap.Load()-int64(heapBefore), 0))
	t.Logf("%d map chunks (index section %d KiB): merged in %s; at most %d descriptors seen open (%d GET bodies at once), %d inputs to the final step; live heap peaked %d KiB above its start (%d KiB)",
		chunks, size>>10, time.Since(start).Round(time.Millisecond), peakFDs.Load(), maps.maxOpen.Load(), finalInputs, peak>>10, heapBefore>>10)
	return peak
}
