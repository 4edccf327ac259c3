package fanout

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// combiner is the map side of an aggregating job. It implements
// functions.Output: rows with equal keys are merged in a bounded table,
// which spills sorted runs when full; Close merges the runs into one
// shuffle file sorted by (partition, key) and uploads it to the attempt's
// staging prefix.
type combiner struct {
	ctx     context.Context
	red     functions.Reducer
	codec   rowCodec
	parts   int
	budget  int64
	index   map[string]int
	keys    []string
	rows    []functions.Row
	used    int64
	runs    []*os.File
	keyBuf  []byte
	written int64 // partial rows written to the shuffle file
}

// newCombiner returns a combiner that keeps at most budget bytes of
// partial rows in its table (Config.CombineBudget).
func newCombiner(ctx context.Context, red functions.Reducer, schema *functions.Schema, parts int, budget int64) *combiner {
	return &combiner{ctx: ctx, red: red, codec: rowCodec{schema: schema, keys: red.KeyColumns()}, parts: parts,
		budget: budget, index: map[string]int{}}
}

// Write implements functions.Output.
func (c *combiner) Write(row functions.Row) error {
	c.keyBuf = c.codec.appendKey(c.keyBuf[:0], row)
	if i, ok := c.index[string(c.keyBuf)]; ok {
		return c.red.Merge(c.rows[i], row)
	}
	k := string(c.keyBuf)
	c.index[k] = len(c.rows)
	c.keys = append(c.keys, k)
	kept := slices.Clone(row)
	for i := range kept {
		kept[i].S = strings.Clone(kept[i].S) // the row's strings may be borrowed
	}
	c.rows = append(c.rows, kept)
	c.used += int64(len(k)) + 64 + int64(len(row))*48
	for _, v := range row {
		c.used += int64(len(v.S))
	}
	if c.used > c.budget {
		return c.spill()
	}
	return nil
}

// spill writes the table as a sorted run and empties it.
func (c *combiner) spill() error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp("", "fanout-run-*")
	if err != nil {
		return fmt.Errorf("spilling partial results: %w", err)
	}
	os.Remove(f.Name()) // unlinked: the descriptor keeps it until closed
	w := newBufWriter(f)
	var buf []byte
	for _, i := range c.sorted() {
		key := []byte(c.keys[i])
		buf = binary.AppendUvarint(buf[:0], uint64(partitionOf(key, c.parts)))
		buf = appendRecord(buf, key, c.codec.appendVal(nil, c.rows[i]))
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("spilling partial results: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("spilling partial results: %w", err)
	}
	c.runs = append(c.runs, f)
	c.index = map[string]int{}
	c.keys, c.rows, c.used = nil, nil, 0
	return nil
}

// sorted orders the table's entries by (partition, key).
func (c *combiner) sorted() []int {
	order := make([]int, len(c.keys))
	part := make([]int, len(c.keys))
	for i := range order {
		order[i] = i
		part[i] = partitionOf([]byte(c.keys[i]), c.parts)
	}
	sort.Slice(order, func(a, b int) bool {
		ia, ib := order[a], order[b]
		if part[ia] != part[ib] {
			return part[ia] < part[ib]
		}
		return c.keys[ia] < c.keys[ib]
	})
	return order
}

// shuffleOut writes shuffle records and tracks where each partition
// starts.
type shuffleOut struct {
	w       io.Writer
	n       int64
	offsets []int64
	next    int // first partition whose start is not yet known
	buf     []byte
	rows    int64
}

func newShuffleOut(w io.Writer, parts int) (*shuffleOut, error) {
	s := &shuffleOut{w: w, offsets: make([]int64, parts+1)}
	if _, err := io.WriteString(w, shuffleMagic); err != nil {
		return nil, err
	}
	s.n = int64(len(shuffleMagic))
	return s, nil
}

func (s *shuffleOut) write(part int, key, val []byte) error {
	for s.next <= part {
		s.offsets[s.next] = s.n
		s.next++
	}
	s.buf = appendRecord(s.buf[:0], key, val)
	n, err := s.w.Write(s.buf)
	s.n += int64(n)
	s.rows++
	return err
}

func (s *shuffleOut) finish() []int64 {
	for s.next < len(s.offsets) {
		s.offsets[s.next] = s.n
		s.next++
	}
	return s.offsets
}

// Close writes the shuffle file under prefix and returns it.
func (c *combiner) Close(b objstore.Bucket, prefix string) (manifest.OutputFile, error) {
	sp := newSpool(spoolMemory)
	defer sp.Close()
	hash := sha256.New()
	bw := newBufWriter(io.MultiWriter(sp, hash))
	out, err := newShuffleOut(bw, c.parts)
	if err != nil {
		return manifest.OutputFile{}, err
	}
	if len(c.runs) == 0 {
		for _, i := range c.sorted() {
			key := []byte(c.keys[i])
			if err := out.write(partitionOf(key, c.parts), key, c.codec.appendVal(nil, c.rows[i])); err != nil {
				return manifest.OutputFile{}, err
			}
		}
	} else {
		if len(c.keys) > 0 {
			if err := c.spill(); err != nil {
				return manifest.OutputFile{}, err
			}
		}
		streams := make([]*recordStream, len(c.runs))
		for i, f := range c.runs {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return manifest.OutputFile{}, err
			}
			streams[i] = newRecordStream(f, true, f)
		}
		c.runs = nil
		merger := newGroupMerger(c.codec, c.red)
		err := mergeStreams(streams, func(part int, key []byte, vals func(func([]byte) bool)) error {
			val, err := merger.merge(key, vals)
			if err != nil {
				return err
			}
			return out.write(part, key, val)
		})
		if err != nil {
			return manifest.OutputFile{}, err
		}
	}
	offsets := out.finish()
	if err := bw.Flush(); err != nil {
		return manifest.OutputFile{}, err
	}
	key := prefix + "shuffle.bin"
	r, err := sp.Reader()
	if err != nil {
		return manifest.OutputFile{}, err
	}
	info, err := putStaged(c.ctx, b, key, r, &objstore.PutOptions{Size: sp.Size(), ContentType: "application/octet-stream"})
	if err != nil {
		return manifest.OutputFile{}, fmt.Errorf("uploading %s: %w", key, err)
	}
	sp.Recycle()
	c.written = out.rows
	return manifest.OutputFile{Key: key, Size: sp.Size(), ETag: info.ETag, Rows: out.rows, Partitions: offsets,
		SHA256: hex.EncodeToString(hash.Sum(nil))}, nil
}

// Abort releases the spill files.
func (c *combiner) Abort() {
	for _, f := range c.runs {
		f.Close()
	}
	c.runs = nil
}

// groupMerger folds the values of one key with Reducer.Merge.
type groupMerger struct {
	codec    rowCodec
	red      functions.Reducer
	acc, tmp functions.Row
	buf      []byte
}

func newGroupMerger(codec rowCodec, red functions.Reducer) *groupMerger {
	n := len(codec.schema.Columns)
	return &groupMerger{codec: codec, red: red, acc: make(functions.Row, n), tmp: make(functions.Row, n)}
}

// fold merges every value of key into g.acc.
func (g *groupMerger) fold(key []byte, vals func(func([]byte) bool)) error {
	first := true
	var err error
	vals(func(val []byte) bool {
		if first {
			first = false
			err = g.codec.decode(key, val, g.acc)
			return err == nil
		}
		if err = g.codec.decode(key, val, g.tmp); err != nil {
			return false
		}
		err = g.red.Merge(g.acc, g.tmp)
		return err == nil
	})
	if err == nil && first {
		err = errCorruptShuffle
	}
	return err
}

// merge folds the values of key and returns the merged state encoded.
func (g *groupMerger) merge(key []byte, vals func(func([]byte) bool)) ([]byte, error) {
	if err := g.fold(key, vals); err != nil {
		return nil, err
	}
	g.buf = g.codec.appendVal(g.buf[:0], g.acc)
	return g.buf, nil
}

func newBufWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 256<<10) }
