package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// indexBuildBudget is how many bytes of encoded index entries
// prepareReduce keeps in memory before it spills them to a local file.
const indexBuildBudget = 32 << 20

// indexBuilder collects a job's shuffle index (manifest's "FOSX" format)
// from the map markers in bounded memory. Entries are encoded as they
// come, into one buffer per partition; when the buffers pass the budget
// they are appended to one spill file as a run (partition 0's bytes, then
// 1's, …) and emptied. put streams the header and then, per partition,
// its bytes of every run followed by what is still in memory, so each
// section keeps the order in which its entries were added.
type indexBuilder struct {
	parts   int
	budget  int
	writers []manifest.ShuffleSectionWriter
	mem     [][]byte
	used    int
	spill   *os.File
	runs    [][]int64 // per run: parts+1 offsets in the spill file
	spilled int64
	entries int64
}

func newIndexBuilder(parts, budget int) *indexBuilder {
	return &indexBuilder{parts: parts, budget: budget, writers: make([]manifest.ShuffleSectionWriter, parts), mem: make([][]byte, parts)}
}

// add records every non-empty partition range of one map chunk's
// shuffle file.
func (b *indexBuilder) add(chunk string, f manifest.OutputFile) error {
	ci, err := manifest.ChunkIndex(chunk)
	if err != nil {
		return err
	}
	if err := checkPartitions(f.Partitions, b.parts, f.Size); err != nil {
		return fmt.Errorf("the marker of %s: shuffle file %q: %w", chunk, f.Key, err)
	}
	for p := range b.parts {
		from, to := f.Partitions[p], f.Partitions[p+1]
		if to == from {
			continue
		}
		n := len(b.mem[p])
		b.mem[p] = b.writers[p].Append(b.mem[p], manifest.ShuffleEntry{Chunk: ci, Key: f.Key, ETag: f.ETag, Offset: from, Length: to - from})
		b.used += len(b.mem[p]) - n
		b.entries++
	}
	if b.used > b.budget {
		return b.spillRun()
	}
	return nil
}

// checkPartitions checks that offsets bound r partitions inside a file of
// the given size.
func checkPartitions(offsets []int64, r int, size int64) error {
	if len(offsets) != r+1 {
		return fmt.Errorf("%d partition offsets for %d partitions", len(offsets), r)
	}
	for i, o := range offsets {
		if o < 0 || o > size || (i > 0 && o < offsets[i-1]) {
			return fmt.Errorf("partition offsets do not ascend within %d bytes (offset %d: %d)", size, i, o)
		}
	}
	return nil
}

func (b *indexBuilder) spillRun() error {
	if b.spill == nil {
		f, err := os.CreateTemp("", "fanout-index-*")
		if err != nil {
			return fmt.Errorf("spilling the shuffle index: %w", err)
		}
		os.Remove(f.Name()) // unlinked: the descriptor keeps it until closed
		b.spill = f
	}
	run := make([]int64, b.parts+1)
	w := newBufWriter(b.spill)
	for p := range b.parts {
		run[p] = b.spilled
		n, err := w.Write(b.mem[p])
		if err != nil {
			return fmt.Errorf("spilling the shuffle index: %w", err)
		}
		b.spilled += int64(n)
		b.mem[p] = b.mem[p][:0]
	}
	run[b.parts] = b.spilled
	if err := w.Flush(); err != nil {
		return fmt.Errorf("spilling the shuffle index: %w", err)
	}
	b.runs = append(b.runs, run)
	b.used = 0
	return nil
}

// put creates the index at key (If-None-Match: *).
func (b *indexBuilder) put(ctx context.Context, bucket objstore.Bucket, key string) (objstore.ObjectInfo, error) {
	sections := make([]int64, b.parts)
	for p := range b.parts {
		sections[p] = int64(len(b.mem[p]))
		for _, run := range b.runs {
			sections[p] += run[p+1] - run[p]
		}
	}
	header := manifest.AppendShuffleIndexHeader(nil, sections)
	size := int64(len(header))
	for _, n := range sections {
		size += n
	}
	body := &indexBody{b: b, cur: bytes.NewReader(header)}
	return bucket.Put(ctx, key, body, &objstore.PutOptions{IfNoneMatch: true, Size: size, ContentType: "application/octet-stream"})
}

// close releases the spill file.
func (b *indexBuilder) close() {
	if b.spill != nil {
		b.spill.Close()
		b.spill = nil
	}
}

// indexBody reads the index after its header: section by section, each
// from the spill runs and then memory.
type indexBody struct {
	b    *indexBuilder
	cur  io.Reader
	part int // section being read
	run  int // next source of it: runs, then len(runs) for memory
}

func (r *indexBody) Read(p []byte) (int, error) {
	for {
		if r.cur != nil {
			n, err := r.cur.Read(p)
			if err == io.EOF {
				r.cur, err = nil, nil
			}
			if n > 0 || err != nil {
				return n, err
			}
			continue
		}
		if r.part == r.b.parts {
			return 0, io.EOF
		}
		if r.run < len(r.b.runs) {
			run := r.b.runs[r.run]
			r.cur = io.NewSectionReader(r.b.spill, run[r.part], run[r.part+1]-run[r.part])
			r.run++
			continue
		}
		r.cur = bytes.NewReader(r.b.mem[r.part])
		r.part, r.run = r.part+1, 0
	}
}

// shuffleSlice is reduce partition part's section of the job's shuffle
// index, open for reading.
type shuffleSlice struct {
	*manifest.ShuffleSectionReader
	body io.Closer
	key  string
}

// Close closes the section's body; closing again does nothing.
func (s *shuffleSlice) Close() error {
	if s.body == nil {
		return nil
	}
	err := s.body.Close()
	s.body = nil
	return err
}

// next returns the slice's next entry (io.EOF after the last); a corrupt
// entry is a permanent error naming the index.
func (s *shuffleSlice) next() (manifest.ShuffleEntry, error) {
	e, err := s.Next()
	if err != nil && err != io.EOF {
		err = fmt.Errorf("reading the shuffle index %s: %w", s.key, err)
		var ie *manifest.ShuffleIndexError
		if errors.As(err, &ie) {
			err = functions.Permanent(err)
		}
	}
	return e, err
}

// openShuffleSlice reads the header of the job's shuffle index (one
// ranged GET) and opens partition part's section (another, fenced with
// If-Match on the header's ETag so that both are of one version). It
// returns the slice and the index's ID (shuffleID); ErrNotFound when the
// index does not exist.
func (e *Engine) openShuffleSlice(ctx context.Context, js *jobState, part int) (*shuffleSlice, string, error) {
	key := js.layout.ShuffleIndexKey(js.job)
	size := manifest.ShuffleIndexHeaderSize(js.m.Reducers)
	rc, info, err := js.out.Get(ctx, key, &objstore.GetOptions{Length: size})
	if err != nil {
		return nil, "", fmt.Errorf("reading the shuffle index: %w", err)
	}
	header, err := io.ReadAll(io.LimitReader(rc, size))
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the shuffle index: %w", err)
	}
	offsets, err := manifest.DecodeShuffleIndexHeader(header, js.m.Reducers, info.Size)
	if err != nil {
		return nil, "", functions.Permanent(fmt.Errorf("reading the shuffle index %s: %w", key, err))
	}
	from, to := offsets[part], offsets[part+1]
	body := io.NopCloser(bytes.NewReader(nil)) // an empty section needs no request
	if to > from {
		body, _, err = js.out.Get(ctx, key, &objstore.GetOptions{Offset: from, Length: to - from, IfMatch: info.ETag})
		if err != nil {
			return nil, "", fmt.Errorf("reading the shuffle index: %w", err)
		}
	}
	return &shuffleSlice{ShuffleSectionReader: manifest.NewShuffleSectionReader(body, from, to), body: body, key: key}, shuffleIDOf(info.ETag), nil
}
