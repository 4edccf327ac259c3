package manifest

import (
	"errors"
	"fmt"
	"slices"
)

// PackOptions configures a Packer.
type PackOptions struct {
	// ChunkBytes is the target chunk size: splittable objects are cut
	// into ranges of about this size and small objects are packed up to
	// it. It must be positive.
	ChunkBytes int64
	// MaxObjectsPerChunk bounds the parts packed into one chunk. It must
	// be positive.
	MaxObjectsPerChunk int
	// CSVWhole keeps every CSV object whole (JobSpec.CSVWhole).
	CSVWhole bool
}

// Validate reports an option out of range, naming it.
func (o PackOptions) Validate() error {
	var errs []error
	if o.ChunkBytes <= 0 {
		errs = append(errs, fmt.Errorf("manifest: pack options: ChunkBytes %d is not positive", o.ChunkBytes))
	}
	if o.MaxObjectsPerChunk <= 0 {
		errs = append(errs, fmt.Errorf("manifest: pack options: MaxObjectsPerChunk %d is not positive", o.MaxObjectsPerChunk))
	}
	return errors.Join(errs...)
}

// Packer cuts objects into chunks as a listing streams by: large
// splittable objects into byte ranges, large Parquet objects into runs of
// row groups, and everything else packed into chunks of up to ChunkBytes
// bytes and MaxObjectsPerChunk objects. It holds at most one open chunk
// and one completed packed chunk, so memory does not grow with the
// number of objects. Chunk IDs are ChunkID(0), ChunkID(1), ... in the
// order the chunks are returned.
//
// The last two chunks of a listing are evened out (see Flush and
// AddObject): a job whose last chunk is much smaller than the one before
// ends with that bigger chunk running alone while the other workers
// wait, which on a job of a few chunks is a fifth of its time (16 objects
// of 12.5 MiB in chunks of 5, 5, 5 and 1 objects on 2 workers: one worker
// reads 125 MiB, the other 75; evened out, 5, 5, 3 and 3).
//
// A Packer is not safe for concurrent use.
type Packer struct {
	opts    PackOptions
	next    int    // index of the next chunk ID
	open    Chunk  // the chunk being packed; ID set when it closes
	held    *Chunk // the last packed chunk completed, not yet returned
	objects int64
	bytes   int64
}

// NewPacker returns a Packer, or an error naming an invalid option.
func NewPacker(opts PackOptions) (*Packer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Packer{opts: opts}, nil
}

// AddObject adds one object whose Format and Compression are resolved
// (see DetectFormat); header is a CSV object's column names (nil
// otherwise) and is copied into every part of the object. It returns the
// chunks this call completed, possibly none.
//
// A splittable object (see Splittable) larger than ChunkBytes is cut into
// ranges [0, c), [c, 2c), ..., [k*c, -1) with c = ChunkBytes, the last
// range running to the end; a remainder shorter than c/4 is merged into
// the previous range rather than made a range of its own, and a longer
// one shares the last two ranges evenly with the range before it (an
// object of 2.5c is cut into c, 0.75c and 0.75c). Each range is a chunk of
// its own. Any other object, empty ones included, is packed whole: it
// joins the open chunk unless that would take the chunk past ChunkBytes
// or MaxObjectsPerChunk, in which case the open chunk is completed first.
// A whole object larger than ChunkBytes is thus a chunk of its own. A
// completed packed chunk is returned by the next call that completes a
// chunk, or by Flush, which may even it out with the last one.
//
// AddObject panics when obj.Size is negative, a caller's bug.
func (p *Packer) AddObject(obj ObjectRef, header []string) []Chunk {
	if obj.Size < 0 {
		panic(fmt.Sprintf("manifest: Packer.AddObject(%q): negative size %d", obj.Key, obj.Size))
	}
	p.objects++
	p.bytes += obj.Size
	header = slices.Clone(header)
	if obj.Size > p.opts.ChunkBytes && Splittable(obj.Format, obj.Compression, p.opts.CSVWhole) {
		if ranges := splitRanges(obj.Size, p.opts.ChunkBytes); len(ranges) > 1 {
			out := p.release(make([]Chunk, 0, len(ranges)+1))
			for _, r := range ranges {
				part := Part{Object: obj, Start: r.start, End: r.end, Header: header}
				out = append(out, p.newChunk([]Part{part}, r.len(obj.Size)))
			}
			return out
		}
	}
	return p.pack(Part{Object: obj, Start: 0, End: -1, Header: header}, obj.Size)
}

// AddParquet adds one Parquet object given the byte size of each of its
// row groups, in order (from its footer). An object larger than
// ChunkBytes with more than one row group is cut into runs of consecutive
// row groups [FirstRowGroup, LastRowGroup) of about ChunkBytes each (a
// run holds at least one row group; a last run smaller than ChunkBytes/4
// is merged into the previous one); each run is a chunk of its own whose
// Bytes is the run's row-group bytes. Otherwise the object is packed whole
// like AddObject does (FirstRowGroup = LastRowGroup = 0: every row group).
// It returns the chunks this call completed, possibly none.
//
// AddParquet panics when obj.Size or a row group's size is negative.
func (p *Packer) AddParquet(obj ObjectRef, rowGroupBytes []int64) []Chunk {
	if obj.Size < 0 {
		panic(fmt.Sprintf("manifest: Packer.AddParquet(%q): negative size %d", obj.Key, obj.Size))
	}
	for i, b := range rowGroupBytes {
		if b < 0 {
			panic(fmt.Sprintf("manifest: Packer.AddParquet(%q): row group %d has negative size %d", obj.Key, i, b))
		}
	}
	p.objects++
	p.bytes += obj.Size
	if obj.Size > p.opts.ChunkBytes && len(rowGroupBytes) > 1 {
		if runs := splitRuns(rowGroupBytes, p.opts.ChunkBytes); len(runs) > 1 {
			out := p.release(make([]Chunk, 0, len(runs)+1))
			for _, r := range runs {
				part := Part{Object: obj, Start: 0, End: -1, FirstRowGroup: r.first, LastRowGroup: r.last}
				out = append(out, p.newChunk([]Part{part}, r.bytes))
			}
			return out
		}
	}
	return p.pack(Part{Object: obj, Start: 0, End: -1}, obj.Size)
}

// Flush completes the open chunk, if any, and returns it after the
// completed packed chunk still held, if any. When both are there, their
// parts (in order) are cut anew between the two chunks where the bigger
// of the two is smallest (the limits kept): a listing of 16 objects of
// 12.5 MiB in chunks of 64 MiB ends in chunks of 3 and 3 objects rather
// than 5 and 1. Call it once after the last object; the Packer may be
// used again afterwards.
func (p *Packer) Flush() []Chunk {
	if len(p.open.Parts) == 0 {
		return p.release(nil)
	}
	if p.held == nil {
		return []Chunk{p.closeOpen()}
	}
	held := p.held
	p.held = nil
	parts := append(slices.Clip(held.Parts), p.open.Parts...)
	sizes := make([]int64, len(parts))
	for i, part := range parts {
		sizes[i] = part.Object.Size // packed parts are whole objects
	}
	cut := evenCut(sizes, len(held.Parts), p.opts.MaxObjectsPerChunk)
	first := Chunk{ID: held.ID, Parts: parts[:cut:cut]}
	p.open = Chunk{Parts: parts[cut:]}
	for _, n := range sizes[:cut] {
		first.Bytes += n
	}
	for _, n := range sizes[cut:] {
		p.open.Bytes += n
	}
	return []Chunk{first, p.closeOpen()}
}

// evenCut returns where to cut parts of the given sizes into two
// non-empty chunks of at most maxParts parts each so that the bigger
// chunk is as small as it can be; of equally good cuts, the one nearest
// to cut (a valid cut) wins, so that a pair already even stays as it is.
func evenCut(sizes []int64, cut, maxParts int) int {
	var total int64
	for _, n := range sizes {
		total += n
	}
	dist := func(i int) int { return max(i-cut, cut-i) }
	best, bestMax := cut, int64(-1)
	var left int64
	for i := 1; i < len(sizes); i++ {
		left += sizes[i-1]
		if i > maxParts || len(sizes)-i > maxParts {
			continue
		}
		m := max(left, total-left)
		if bestMax < 0 || m < bestMax || m == bestMax && dist(i) < dist(best) {
			best, bestMax = i, m
		}
	}
	return best
}

// release appends the held packed chunk, if any, to out, and returns it.
func (p *Packer) release(out []Chunk) []Chunk {
	if p.held != nil {
		out = append(out, *p.held)
		p.held = nil
	}
	return out
}

// Chunks is the number of chunks completed so far.
func (p *Packer) Chunks() int { return p.next }

// Objects is the number of objects added so far.
func (p *Packer) Objects() int64 { return p.objects }

// Bytes is the sum of the sizes of the objects added so far.
func (p *Packer) Bytes() int64 { return p.bytes }

// pack adds a whole part owning n bytes to the open chunk, completing the
// open chunk before if the part does not fit and after if it is full. A
// completed chunk is held (Flush may even it out with the last one) and
// the one held before is returned.
func (p *Packer) pack(part Part, n int64) []Chunk {
	var out []Chunk
	// The open chunk always holds fewer than ChunkBytes bytes, so the
	// subtraction cannot overflow.
	if len(p.open.Parts) > 0 && (n > p.opts.ChunkBytes-p.open.Bytes || len(p.open.Parts) >= p.opts.MaxObjectsPerChunk) {
		out = p.hold(out)
	}
	p.open.Parts = append(p.open.Parts, part)
	p.open.Bytes += n
	if p.open.Bytes >= p.opts.ChunkBytes || len(p.open.Parts) >= p.opts.MaxObjectsPerChunk {
		out = p.hold(out)
	}
	return out
}

// hold completes the open chunk and holds it, appending the chunk held
// before, if any, to out.
func (p *Packer) hold(out []Chunk) []Chunk {
	out = p.release(out)
	c := p.closeOpen()
	p.held = &c
	return out
}

func (p *Packer) closeOpen() Chunk {
	c := p.newChunk(p.open.Parts, p.open.Bytes)
	p.open = Chunk{}
	return c
}

func (p *Packer) newChunk(parts []Part, n int64) Chunk {
	c := Chunk{ID: ChunkID(p.next), Parts: parts, Bytes: n}
	p.next++
	return c
}

// byteRange is [start, end) with end -1 meaning the end of the object.
type byteRange struct{ start, end int64 }

func (r byteRange) len(size int64) int64 {
	if r.end < 0 {
		return size - r.start
	}
	return r.end - r.start
}

// splitRanges cuts [0, size) into ranges of c bytes, the last one running
// to the end (-1) and absorbing a remainder shorter than c/4; a longer
// remainder and the range before it are cut into two halves (the first
// one the bigger by a byte at most), so that the object's last range is
// not a small one run after a full one. It needs size > 0 and c > 0.
func splitRanges(size, c int64) []byteRange {
	n := size / c
	rem := size % c
	if rem != 0 && rem >= c/4 {
		n++
	}
	if n < 1 {
		n = 1
	}
	ranges := make([]byteRange, n)
	for i := range n {
		ranges[i] = byteRange{start: i * c, end: (i + 1) * c}
	}
	if n >= 2 && rem != 0 && rem >= c/4 {
		start := (n - 2) * c
		mid := start + (c+rem+1)/2
		ranges[n-2].end, ranges[n-1].start = mid, mid
	}
	ranges[n-1].end = -1
	return ranges
}

// rowGroupRun is the row groups [first, last) and their bytes.
type rowGroupRun struct {
	first, last int
	bytes       int64
}

// splitRuns cuts row groups into runs of about c bytes, each run holding
// at least one row group, a last run smaller than c/4 merged into the
// previous one.
func splitRuns(rowGroupBytes []int64, c int64) []rowGroupRun {
	var runs []rowGroupRun
	cur := rowGroupRun{}
	for i, b := range rowGroupBytes {
		// cur.bytes exceeds c only when it holds a single row group, in
		// which case the run is complete before the subtraction matters.
		if i > cur.first && (cur.bytes >= c || b > c-cur.bytes) {
			cur.last = i
			runs = append(runs, cur)
			cur = rowGroupRun{first: i}
		}
		cur.bytes += b
	}
	cur.last = len(rowGroupBytes)
	if len(runs) > 0 && cur.bytes < c/4 {
		prev := &runs[len(runs)-1]
		prev.last = cur.last
		prev.bytes += cur.bytes
		return runs
	}
	return append(runs, cur)
}
