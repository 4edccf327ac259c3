package manifest

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
)

// packInput is one object handed to a Packer in a test.
type packInput struct {
	obj       ObjectRef
	header    []string
	rowGroups []int64 // non-nil: added with AddParquet
}

// runPacker adds every input and flushes, returning the chunks in the
// order they were returned.
func runPacker(t testing.TB, opts PackOptions, inputs []packInput) []Chunk {
	t.Helper()
	p, err := NewPacker(opts)
	if err != nil {
		t.Fatalf("NewPacker(%+v): %v", opts, err)
	}
	var chunks []Chunk
	for _, in := range inputs {
		if in.rowGroups != nil {
			chunks = append(chunks, p.AddParquet(in.obj, in.rowGroups)...)
		} else {
			chunks = append(chunks, p.AddObject(in.obj, in.header)...)
		}
	}
	chunks = append(chunks, p.Flush()...)
	if p.Chunks() != len(chunks) {
		t.Errorf("Packer.Chunks() = %d, want %d", p.Chunks(), len(chunks))
	}
	if p.Objects() != int64(len(inputs)) {
		t.Errorf("Packer.Objects() = %d, want %d", p.Objects(), len(inputs))
	}
	var total int64
	for _, in := range inputs {
		total += in.obj.Size
	}
	if p.Bytes() != total {
		t.Errorf("Packer.Bytes() = %d, want %d", p.Bytes(), total)
	}
	return chunks
}

func isWhole(p Part) bool {
	return p.Start == 0 && p.End == -1 && p.FirstRowGroup == 0 && p.LastRowGroup == 0
}

// ownedBytes is what a part contributes to its chunk's Bytes.
func ownedBytes(p Part, rowGroups []int64) int64 {
	switch {
	case p.FirstRowGroup != 0 || p.LastRowGroup != 0:
		var n int64
		for _, b := range rowGroups[p.FirstRowGroup:p.LastRowGroup] {
			n += b
		}
		return n
	case p.End == -1:
		return p.Object.Size - p.Start
	default:
		return p.End - p.Start
	}
}

// checkChunks verifies every invariant of a Packer's output: IDs in
// order, both packing limits, greedy packing, every object accounted for
// exactly once, byte ranges tiling [0, Size) and row-group runs tiling
// the row groups, and the splitting rules.
func checkChunks(t testing.TB, opts PackOptions, inputs []packInput, chunks []Chunk) {
	t.Helper()
	c := opts.ChunkBytes
	byKey := make(map[string]packInput, len(inputs))
	for _, in := range inputs {
		byKey[in.obj.Key] = in
	}
	partsOf := make(map[string][]Part)
	var prevPacked *Chunk
	for i := range chunks {
		ch := &chunks[i]
		if want := ChunkID(i); ch.ID != want {
			t.Errorf("chunk %d: ID %q, want %q", i, ch.ID, want)
		}
		if len(ch.Parts) == 0 || len(ch.Parts) > opts.MaxObjectsPerChunk {
			t.Errorf("chunk %s: %d parts, want 1 to %d", ch.ID, len(ch.Parts), opts.MaxObjectsPerChunk)
			continue
		}
		var sum int64
		for _, p := range ch.Parts {
			in, ok := byKey[p.Object.Key]
			if !ok {
				t.Errorf("chunk %s: part of unknown object %q", ch.ID, p.Object.Key)
				continue
			}
			if p.Object != in.obj {
				t.Errorf("chunk %s: object %+v, want %+v", ch.ID, p.Object, in.obj)
			}
			if !slices.Equal(p.Header, in.header) {
				t.Errorf("chunk %s: header %q, want %q", ch.ID, p.Header, in.header)
			}
			sum += ownedBytes(p, in.rowGroups)
			partsOf[p.Object.Key] = append(partsOf[p.Object.Key], p)
		}
		if ch.Bytes != sum {
			t.Errorf("chunk %s: Bytes %d, want the parts' %d", ch.ID, ch.Bytes, sum)
		}
		packed := true
		for _, p := range ch.Parts {
			packed = packed && isWhole(p)
		}
		if !packed && len(ch.Parts) != 1 {
			t.Errorf("chunk %s: %d parts, but a range or row-group run must be alone", ch.ID, len(ch.Parts))
		}
		if len(ch.Parts) > 1 && ch.Bytes > c {
			t.Errorf("chunk %s: %d parts packed into %d bytes, more than ChunkBytes %d", ch.ID, len(ch.Parts), ch.Bytes, c)
		}
		if packed {
			if i == len(chunks)-1 && i > 0 && prevPacked == &chunks[i-1] {
				// The last two packed chunks are evened out (Flush).
				checkEvened(t, opts, *prevPacked, *ch)
			} else if prevPacked != nil && prevPacked.Bytes < c && len(prevPacked.Parts) < opts.MaxObjectsPerChunk &&
				ch.Parts[0].Object.Size <= c-prevPacked.Bytes {
				t.Errorf("chunk %s: first part (%d bytes) would have fit into chunk %s (%d bytes, %d parts)",
					ch.ID, ch.Parts[0].Object.Size, prevPacked.ID, prevPacked.Bytes, len(prevPacked.Parts))
			}
			prevPacked = ch
		}
	}
	for _, in := range inputs {
		key, size := in.obj.Key, in.obj.Size
		parts := partsOf[key]
		if len(parts) == 0 {
			t.Errorf("object %q: in no chunk", key)
			continue
		}
		if len(parts) == 1 && isWhole(parts[0]) {
			if in.rowGroups == nil && size > c && Splittable(in.obj.Format, in.obj.Compression, opts.CSVWhole) && size-c >= c/4 {
				t.Errorf("object %q: %d bytes (ChunkBytes %d) left whole, want it split", key, size, c)
			}
			if in.rowGroups != nil && size > c && len(in.rowGroups) > 1 {
				// The first run ends before the first row group that does
				// not fit; the object stays whole only when nothing is left
				// after it or what is left is a tail under c/4.
				rg := in.rowGroups
				k, acc := 1, rg[0]
				for k < len(rg) && acc < c && rg[k] <= c-acc {
					acc += rg[k]
					k++
				}
				var rest int64
				for _, b := range rg[k:] {
					rest += b
				}
				if k < len(rg) && rest >= c/4 {
					t.Errorf("object %q: row groups %v (ChunkBytes %d) left whole, want runs", key, rg, c)
				}
			}
			continue
		}
		if in.rowGroups != nil {
			checkRuns(t, key, in.rowGroups, c, parts)
			continue
		}
		checkRanges(t, key, size, c, parts)
	}
}

// checkEvened verifies that the last two packed chunks a and b are cut
// where the bigger of the two is smallest, within the limits.
func checkEvened(t testing.TB, opts PackOptions, a, b Chunk) {
	t.Helper()
	parts := slices.Concat(a.Parts, b.Parts)
	var total int64
	for _, p := range parts {
		total += p.Object.Size
	}
	got := max(a.Bytes, b.Bytes)
	var left int64
	for i := 1; i < len(parts); i++ {
		left += parts[i-1].Object.Size
		if i > opts.MaxObjectsPerChunk || len(parts)-i > opts.MaxObjectsPerChunk {
			continue
		}
		if m := max(left, total-left); m < got {
			t.Errorf("chunks %s and %s: %d and %d bytes, but cut after part %d the bigger would be %d", a.ID, b.ID, a.Bytes, b.Bytes, i, m)
			return
		}
	}
}

// checkRanges verifies that parts tile [0, size) exactly in ranges of c
// bytes, except the last two when the object's remainder is evened out
// with the range before it, the last one to the end and neither empty
// nor oversized.
func checkRanges(t testing.TB, key string, size, c int64, parts []Part) {
	t.Helper()
	slices.SortFunc(parts, func(a, b Part) int { return int(a.Start - b.Start) })
	// The remainder after the full ranges: under c/4 it joins the last
	// range; from c/4 on it and the range before it share two halves.
	full, rem := size/c, size%c
	evened := len(parts) >= 2 && rem != 0 && rem >= c/4
	var next int64
	for i, p := range parts {
		if p.Start != next {
			t.Errorf("object %q: range %d starts at %d, want %d (gap or overlap)", key, i, p.Start, next)
		}
		last := i == len(parts)-1
		if last != (p.End == -1) {
			t.Errorf("object %q: range %d of %d ends at %d; only the last may end at -1", key, i, len(parts), p.End)
		}
		n := p.End - p.Start
		if last {
			n = size - p.Start
		}
		switch {
		case evened && i >= len(parts)-2:
			// Halves of c+rem, the first the bigger by a byte at most.
			if want := (c + rem + 1) / 2; i == len(parts)-2 && n != want || i == len(parts)-1 && n != c+rem-(c+rem+1)/2 {
				t.Errorf("object %q: range %d of %d is %d bytes, want half of %d+%d (evened)", key, i, len(parts), n, c, rem)
			}
			if i == len(parts)-2 && int64(len(parts)) != full+1 {
				t.Errorf("object %q: %d ranges, want %d", key, len(parts), full+1)
			}
		case last:
			if n <= 0 || (n > c && n-c >= c/4) || (len(parts) > 1 && n < c) {
				t.Errorf("object %q: last range [%d, %d) is %d bytes, want %d to %d+%d/4", key, p.Start, size, n, c, c, c)
			}
		default:
			if n != c {
				t.Errorf("object %q: range %d is [%d, %d), want %d bytes", key, i, p.Start, p.End, c)
			}
		}
		next = p.End
		if last {
			next = size
		}
	}
	if next != size {
		t.Errorf("object %q: ranges cover [0, %d), want [0, %d)", key, next, size)
	}
}

// checkRuns verifies that parts tile the row groups [0, len(rowGroups)).
func checkRuns(t testing.TB, key string, rowGroups []int64, c int64, parts []Part) {
	t.Helper()
	slices.SortFunc(parts, func(a, b Part) int { return a.FirstRowGroup - b.FirstRowGroup })
	next := 0
	for i, p := range parts {
		if p.Start != 0 || p.End != -1 {
			t.Errorf("object %q: run %d has byte range [%d, %d), want [0, -1)", key, i, p.Start, p.End)
		}
		if p.FirstRowGroup != next || p.LastRowGroup <= p.FirstRowGroup {
			t.Errorf("object %q: run %d is [%d, %d), want it to start at %d and hold a row group", key, i, p.FirstRowGroup, p.LastRowGroup, next)
		}
		var n int64
		for _, b := range rowGroups[p.FirstRowGroup:max(p.FirstRowGroup, min(p.LastRowGroup, len(rowGroups)))] {
			n += b
		}
		// A run holds at most c bytes, or one row group bigger than c,
		// plus a merged tail under c/4.
		if p.LastRowGroup-p.FirstRowGroup > 1 && n > c && n >= c+c/4 && (rowGroups[p.FirstRowGroup] <= c || n-rowGroups[p.FirstRowGroup] >= c/4) {
			t.Errorf("object %q: run %d holds %d bytes in %d row groups, more than ChunkBytes %d+%d/4", key, i, n, p.LastRowGroup-p.FirstRowGroup, c, c)
		}
		next = p.LastRowGroup
	}
	if next != len(rowGroups) {
		t.Errorf("object %q: runs end at row group %d, want %d", key, next, len(rowGroups))
	}
}

func lines(key string, size int64) ObjectRef {
	return ObjectRef{Store: "s3://b", Key: key, Size: size, ETag: "e-" + key, Format: FormatLines}
}

func TestSplitRangesTile(t *testing.T) {
	for _, c := range []int64{1, 2, 3, 4, 5, 7, 8, 10, 100, 1000, 1 << 20, 64 << 20} {
		sizes := []int64{0, 1, c - 1, c, c + 1, c + c/4 - 1, c + c/4, c + c/4 + 1,
			2*c - 1, 2 * c, 2*c + 1, 3*c + c/4 - 1, 3*c + c/4, 10*c + 3, 10*c + c/2, 100 * c}
		for _, size := range sizes {
			if size < 0 {
				continue
			}
			for _, header := range [][]string{nil, {"a", "b"}} {
				name := fmt.Sprintf("chunk=%d/size=%d/header=%d", c, size, len(header))
				t.Run(name, func(t *testing.T) {
					opts := PackOptions{ChunkBytes: c, MaxObjectsPerChunk: 10}
					obj := lines("k", size)
					if header != nil {
						obj.Format = FormatCSV
					}
					in := []packInput{{obj: obj, header: header}}
					chunks := runPacker(t, opts, in)
					checkChunks(t, opts, in, chunks)
					if size <= c && len(chunks) != 1 {
						t.Errorf("got %d chunks for %d bytes, want 1", len(chunks), size)
					}
				})
			}
		}
	}
}

func TestSplitRangesExact(t *testing.T) {
	type r = [2]int64
	tests := []struct {
		name  string
		size  int64
		chunk int64
		want  []r
	}{
		{"empty", 0, 100, []r{{0, -1}}},
		{"smaller", 99, 100, []r{{0, -1}}},
		{"equal", 100, 100, []r{{0, -1}}},
		{"one more merges", 101, 100, []r{{0, -1}}},
		{"quarter less one merges", 124, 100, []r{{0, -1}}},
		{"quarter splits evenly", 125, 100, []r{{0, 63}, {63, -1}}},
		{"double", 200, 100, []r{{0, 100}, {100, -1}}},
		{"double plus one", 201, 100, []r{{0, 100}, {100, -1}}},
		{"ten plus three", 1003, 100, []r{{0, 100}, {100, 200}, {200, 300}, {300, 400}, {400, 500}, {500, 600}, {600, 700}, {700, 800}, {800, 900}, {900, -1}}},
		{"two and a half", 250, 100, []r{{0, 100}, {100, 175}, {175, -1}}},
		{"three and two fifths", 340, 100, []r{{0, 100}, {100, 200}, {200, 270}, {270, -1}}},
		{"chunk one", 3, 1, []r{{0, 1}, {1, 2}, {2, -1}}},
		{"chunk three", 7, 3, []r{{0, 3}, {3, 5}, {5, -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks := runPacker(t, PackOptions{ChunkBytes: tt.chunk, MaxObjectsPerChunk: 1}, []packInput{{obj: lines("k", tt.size)}})
			var got []r
			for _, ch := range chunks {
				for _, p := range ch.Parts {
					got = append(got, r{p.Start, p.End})
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ranges of %d bytes by %d = %v, want %v", tt.size, tt.chunk, got, tt.want)
			}
		})
	}
}

func TestPackLimits(t *testing.T) {
	gz := func(key string, size int64) ObjectRef {
		o := lines(key, size)
		o.Compression = CompressionGzip
		return o
	}
	csv := func(key string, size int64) ObjectRef {
		o := lines(key, size)
		o.Format = FormatCSV
		return o
	}
	objs := func(n int, size func(i int) int64, mk func(string, int64) ObjectRef) []packInput {
		var in []packInput
		for i := range n {
			in = append(in, packInput{obj: mk(fmt.Sprintf("o%04d", i), size(i))})
		}
		return in
	}
	tests := []struct {
		name       string
		opts       PackOptions
		inputs     []packInput
		wantChunks int
	}{
		{"count limit", PackOptions{ChunkBytes: 1000, MaxObjectsPerChunk: 3},
			objs(10, func(int) int64 { return 1 }, lines), 4},
		{"byte limit", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 1000},
			objs(10, func(int) int64 { return 30 }, lines), 4},
		{"exact fill", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 1000},
			objs(10, func(int) int64 { return 50 }, lines), 5},
		{"empty objects", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 4},
			objs(9, func(int) int64 { return 0 }, lines), 3},
		{"one object per chunk", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 1},
			objs(5, func(int) int64 { return 1 }, lines), 5},
		{"big compressed alone", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 10},
			[]packInput{{obj: lines("a", 10)}, {obj: gz("big", 1000)}, {obj: lines("b", 10)}}, 3},
		{"big csv whole", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 10, CSVWhole: true},
			[]packInput{{obj: csv("a", 10)}, {obj: csv("big", 1000), header: []string{"x"}}, {obj: csv("b", 10)}}, 3},
		{"big csv split", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 10},
			[]packInput{{obj: csv("a", 10)}, {obj: csv("big", 1000), header: []string{"x", "y"}}, {obj: csv("b", 10)}}, 11},
		{"mixed sizes", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 5},
			objs(50, func(i int) int64 { return int64(i * 7 % 130) }, lines), 0},
		{"mixed compressed", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 5},
			objs(50, func(i int) int64 { return int64(i * 13 % 250) }, gz), 0},
		{"parquet objects", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 5}, []packInput{
			{obj: ObjectRef{Key: "p0", Size: 50, Format: FormatParquet}, rowGroups: []int64{20, 20}},
			{obj: ObjectRef{Key: "p1", Size: 500, Format: FormatParquet}, rowGroups: []int64{490}},
			{obj: ObjectRef{Key: "p2", Size: 510, Format: FormatParquet}, rowGroups: []int64{60, 60, 60, 60, 60, 60, 60, 60}},
			{obj: ObjectRef{Key: "p3", Size: 30, Format: FormatParquet}, rowGroups: []int64{}},
			{obj: ObjectRef{Key: "p4", Size: 330, Format: FormatParquet}, rowGroups: []int64{100, 100, 100, 20}},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks := runPacker(t, tt.opts, tt.inputs)
			checkChunks(t, tt.opts, tt.inputs, chunks)
			if tt.wantChunks != 0 && len(chunks) != tt.wantChunks {
				t.Errorf("got %d chunks, want %d", len(chunks), tt.wantChunks)
			}
		})
	}
}

func TestAddParquetRuns(t *testing.T) {
	type run = [3]int64 // first, last, bytes
	tests := []struct {
		name      string
		size      int64
		rowGroups []int64
		want      []run
	}{
		{"small whole", 90, []int64{40, 40}, []run{{0, 0, 90}}},
		{"one big row group", 1000, []int64{990}, []run{{0, 0, 1000}}},
		{"no row groups", 1000, nil, []run{{0, 0, 1000}}},
		{"even runs", 410, []int64{50, 50, 50, 50, 50, 50, 50, 50}, []run{{0, 2, 100}, {2, 4, 100}, {4, 6, 100}, {6, 8, 100}}},
		{"tail merged", 330, []int64{100, 100, 100, 20}, []run{{0, 1, 100}, {1, 2, 100}, {2, 4, 120}}},
		{"tail kept", 340, []int64{100, 100, 100, 30}, []run{{0, 1, 100}, {1, 2, 100}, {2, 3, 100}, {3, 4, 30}}},
		{"oversized row groups", 1000, []int64{300, 10, 300}, []run{{0, 1, 300}, {1, 2, 10}, {2, 3, 300}}},
		{"all in one run", 150, []int64{40, 40}, []run{{0, 0, 150}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPacker(PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 1})
			if err != nil {
				t.Fatal(err)
			}
			obj := ObjectRef{Key: "p", Size: tt.size, Format: FormatParquet}
			chunks := append(p.AddParquet(obj, tt.rowGroups), p.Flush()...)
			var got []run
			for _, ch := range chunks {
				for _, part := range ch.Parts {
					got = append(got, run{int64(part.FirstRowGroup), int64(part.LastRowGroup), ch.Bytes})
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("runs = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPackerEvensTheLastTwoChunks pins the chunks a listing ends in: the
// last two packed chunks cut where the bigger is smallest, an object's
// short last range sharing two halves with the range before it, and
// chunks already even left as they are.
func TestPackerEvensTheLastTwoChunks(t *testing.T) {
	const mib = 1 << 20
	same := func(n int, size int64) []packInput {
		var in []packInput
		for i := range n {
			in = append(in, packInput{obj: lines(fmt.Sprintf("o%02d", i), size)})
		}
		return in
	}
	gz := lines("big.gz", 150)
	gz.Compression = CompressionGzip
	tests := []struct {
		name   string
		opts   PackOptions
		inputs []packInput
		want   []int64 // each chunk's bytes, in order
	}{
		{"bench.sh's 200 MiB of sales CSV", PackOptions{ChunkBytes: 64 * mib, MaxObjectsPerChunk: 1000},
			same(16, 25*mib/2), []int64{125 * mib / 2, 125 * mib / 2, 75 * mib / 2, 75 * mib / 2}},
		{"bytes", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 1000}, same(10, 30), []int64{90, 90, 60, 60}},
		{"count", PackOptions{ChunkBytes: 1000, MaxObjectsPerChunk: 3}, same(10, 1), []int64{3, 3, 2, 2}},
		{"already even", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 1000}, same(6, 50), []int64{100, 100, 100}},
		{"two alone", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 1000}, same(2, 60), []int64{60, 60}},
		{"a whole object past the target", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 1000},
			[]packInput{{obj: gz}, {obj: lines("small", 10)}}, []int64{150, 10}},
		{"one object's ranges", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 1000},
			[]packInput{{obj: lines("k", 250)}}, []int64{100, 75, 75}},
		{"ranges, then a small object", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 1000},
			[]packInput{{obj: lines("k", 250)}, {obj: lines("small", 10)}}, []int64{100, 75, 75, 10}},
		{"packed, then ranges", PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 1000},
			append(same(4, 40), packInput{obj: lines("k", 250)}), []int64{80, 100, 75, 75, 80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks := runPacker(t, tt.opts, tt.inputs)
			checkChunks(t, tt.opts, tt.inputs, chunks)
			var got []int64
			for _, c := range chunks {
				got = append(got, c.Bytes)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("chunk bytes %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewPackerOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    PackOptions
		wantErr bool
	}{
		{"valid", PackOptions{ChunkBytes: 1, MaxObjectsPerChunk: 1}, false},
		{"zero chunk bytes", PackOptions{ChunkBytes: 0, MaxObjectsPerChunk: 1}, true},
		{"negative chunk bytes", PackOptions{ChunkBytes: -1, MaxObjectsPerChunk: 1}, true},
		{"zero objects", PackOptions{ChunkBytes: 1, MaxObjectsPerChunk: 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPacker(tt.opts)
			if (err != nil) != tt.wantErr {
				t.Errorf("NewPacker(%+v) = %v, %v; want error %v", tt.opts, p, err, tt.wantErr)
			}
		})
	}
}

func TestPackerHeaderCopied(t *testing.T) {
	p, err := NewPacker(PackOptions{ChunkBytes: 10, MaxObjectsPerChunk: 10})
	if err != nil {
		t.Fatal(err)
	}
	header := []string{"a", "b"}
	obj := lines("k", 25)
	obj.Format = FormatCSV
	chunks := p.AddObject(obj, header)
	header[0] = "changed"
	if got := chunks[0].Parts[0].Header[0]; got != "a" {
		t.Errorf("header[0] = %q after the caller changed its slice, want %q", got, "a")
	}
}

// decodePackInputs turns fuzz bytes into objects: 5 bytes each, a kind
// byte and a 32-bit size reduced to [0, 20*c]; Parquet objects take their
// row groups from the following bytes. The limits keep one run cheap, so
// that the fuzzer's minimisation stays quick.
func decodePackInputs(c int64, data []byte) []packInput {
	var in []packInput
	for len(data) >= 5 && len(in) < 64 {
		kind := data[0]
		size := int64(binary.LittleEndian.Uint32(data[1:5])) % (20*c + 1)
		data = data[5:]
		obj := ObjectRef{Store: "s3://b", Key: fmt.Sprintf("o%d", len(in)), Size: size, ETag: "e"}
		formats := []string{FormatLines, FormatCSV, FormatJSONL, FormatParquet}
		obj.Format = formats[kind%4]
		if kind&4 != 0 && obj.Format != FormatParquet {
			obj.Compression = CompressionZstd
		}
		var header []string
		if obj.Format == FormatCSV {
			header = []string{"h"}
		}
		var rowGroups []int64
		if obj.Format == FormatParquet {
			n := int(kind >> 4)
			rowGroups = make([]int64, 0, n)
			for range n {
				var b int64
				if len(data) > 0 {
					b = int64(data[0]) * (2*c + 1) / 255
					data = data[1:]
				}
				rowGroups = append(rowGroups, b)
			}
			if kind&8 != 0 {
				// Make the file hold its row groups plus a footer.
				obj.Size = 8
				for _, b := range rowGroups {
					obj.Size += b
				}
			}
		}
		in = append(in, packInput{obj: obj, header: header, rowGroups: rowGroups})
	}
	return in
}

func FuzzPacker(f *testing.F) {
	f.Add(int64(100), 3, false, []byte{0, 50, 0, 0, 0, 0, 250, 0, 0, 0})
	f.Add(int64(1), 1, false, []byte{0, 3, 0, 0, 0, 4, 9, 0, 0, 0})
	f.Add(int64(7), 2, true, []byte{1, 200, 0, 0, 0, 2, 7, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(int64(64), 5, false, []byte{0x3b, 0, 0, 0, 0, 255, 128, 7, 0x23, 100, 1, 0, 0, 200, 200})
	f.Add(int64(1000), 1000, false, []byte{0, 0xe8, 3, 0, 0, 0, 0xe9, 3, 0, 0, 0, 0xe7, 3, 0, 0})
	f.Fuzz(func(t *testing.T, chunkBytes int64, maxObjects int, csvWhole bool, data []byte) {
		c := chunkBytes%(1<<20) + 1
		if c <= 0 {
			c = -c + 2
		}
		m := maxObjects%1000 + 1
		if m <= 0 {
			m = -m + 2
		}
		opts := PackOptions{ChunkBytes: c, MaxObjectsPerChunk: m, CSVWhole: csvWhole}
		inputs := decodePackInputs(c, data)
		chunks := runPacker(t, opts, inputs)
		checkChunks(t, opts, inputs, chunks)
	})
}
