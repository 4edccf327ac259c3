package codec

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"unsafe"

	"github.com/fanout-dev/fanout/functions"
)

// Sorting output (--sort-by): a Sorter is an external merge sort of rows
// (sorted runs spilled to local temporary files past a memory budget, then
// merged), a SortedWriter puts one in front of a Writer so that a file's
// rows come out sorted, and a Merge interleaves streams that are already
// sorted (compacting sorted files into bigger sorted ones). The order is
// DuckDB's ORDER BY: see SortKey and CompareRows.

// SortKey is one column of a sort order. The zero flags are DuckDB's
// defaults: ascending, nulls last (in both directions).
type SortKey struct {
	Column     string
	Desc       bool
	NullsFirst bool
}

// SortOptions tune NewSorter and NewSortedWriter.
type SortOptions struct {
	// Keys is the order: the first key, then the next among equal ones.
	// Rows equal on every key keep the order they were added in (the sort
	// is stable).
	Keys []SortKey
	// MemoryBytes bounds the rows held in memory (an estimate: a Value's
	// size a value and the strings' bytes); past it a sorted run is written to a
	// temporary file. Zero means DefaultSortMemory.
	MemoryBytes int64
	// TempDir is where runs spill; "" means the operating system's
	// temporary directory.
	TempDir string
}

// DefaultSortMemory is SortOptions.MemoryBytes' default.
const DefaultSortMemory = 64 << 20

// sortFanIn bounds the runs one merge step reads at once: more runs are
// merged in levels, so that a tiny budget over many rows does not open a
// file per run.
const sortFanIn = 64

// RowCompare orders two rows of one schema; it returns a negative number,
// zero or a positive number as a sorts before, with or after b.
type RowCompare func(a, b functions.Row) int

// CompareRows returns the order keys put rows of schema in, as DuckDB's
// ORDER BY does: numbers by value (unsigned integers unsigned, decimals
// by their value, -0 equal to 0, NaN above +Inf and equal to NaN);
// strings, binary and UUIDs by their bytes (a UUID's bytes order as its
// text); bool false before true; dates, times and timestamps in time.
// Nulls go last unless NullsFirst, whatever the direction. A key naming no
// column of schema, or a nested column, is an error.
func CompareRows(schema *functions.Schema, keys []SortKey) (RowCompare, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: sort: no sort keys")
	}
	type key struct {
		col        int
		cmp        func(a, b functions.Value) int
		desc       bool
		nullsFirst bool
	}
	ks := make([]key, len(keys))
	for i, k := range keys {
		col := schema.Index(k.Column)
		if col < 0 {
			return nil, fmt.Errorf("codec: sort by %q: no such column (%s)", k.Column, strings.Join(schema.Names(), ", "))
		}
		c, err := compareValues(schema.Columns[col].Type)
		if err != nil {
			return nil, fmt.Errorf("codec: sort by %q: %w", k.Column, err)
		}
		ks[i] = key{col: col, cmp: c, desc: k.Desc, nullsFirst: k.NullsFirst}
	}
	return func(a, b functions.Row) int {
		for _, k := range ks {
			x, y := a[k.col], b[k.col]
			var c int
			switch {
			case !x.Valid && !y.Valid:
				continue
			case !x.Valid:
				c = 1
				if k.nullsFirst {
					c = -1
				}
				return c
			case !y.Valid:
				c = -1
				if k.nullsFirst {
					c = 1
				}
				return c
			}
			c = k.cmp(x, y)
			if c != 0 {
				if k.desc {
					return -c
				}
				return c
			}
		}
		return 0
	}, nil
}

// compareValues orders two non-null values of t.
func compareValues(t functions.Type) (func(a, b functions.Value) int, error) {
	switch k := t.Kind(); {
	case k == functions.KindList || k == functions.KindStruct || k == functions.KindMap:
		return nil, fmt.Errorf("a %v column cannot be sorted", t)
	case k == functions.KindUint64:
		return func(a, b functions.Value) int { return cmp.Compare(uint64(a.I), uint64(b.I)) }, nil
	case k == functions.KindDecimal && t.Precision() > 18:
		// 16 bytes big-endian two's complement: flipping the sign bit
		// makes byte order the numbers' order.
		return func(a, b functions.Value) int {
			if len(a.S) != 16 || len(b.S) != 16 || a.S[0]>>7 == b.S[0]>>7 {
				return strings.Compare(a.S, b.S)
			}
			if a.S[0]>>7 == 1 {
				return -1
			}
			return 1
		}, nil
	}
	switch t.Field() {
	case functions.FieldS:
		return func(a, b functions.Value) int { return strings.Compare(a.S, b.S) }, nil
	case functions.FieldF:
		return func(a, b functions.Value) int {
			x, y := a.F, b.F
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			case x == y: // -0 == 0
				return 0
			case x != x && y != y:
				return 0
			case x != x:
				return 1 // NaN sorts above everything, as in DuckDB
			}
			return -1
		}, nil
	}
	return func(a, b functions.Value) int { return cmp.Compare(a.I, b.I) }, nil
}

// Sorter is an external merge sort of rows of one schema: Add copies rows
// into memory, sorted runs spill to temporary files when the memory
// budget is used up, and Sorted merges them. A Sorter is used by one
// goroutine; Close removes its files, whatever happened.
type Sorter struct {
	schema  *functions.Schema
	cmp     RowCompare
	opts    SortOptions
	rows    []seqRow
	slab    []functions.Value // values the rows are cut from
	mem     int64
	runs    []string   // the spilled runs' files, in the order written
	open    []*os.File // the runs being read
	added   int64
	spilled int
	buf     []byte
	sorted  bool
}

// NewSorter returns a Sorter of rows of schema in the order of opts.Keys.
func NewSorter(schema *functions.Schema, opts SortOptions) (*Sorter, error) {
	c, err := CompareRows(schema, opts.Keys)
	if err != nil {
		return nil, err
	}
	if opts.MemoryBytes <= 0 {
		opts.MemoryBytes = DefaultSortMemory
	}
	return &Sorter{schema: schema, cmp: c, opts: opts}, nil
}

// rowOverhead is what a row costs in memory beside its values (its
// slice header); valueSize what a value does.
const (
	rowOverhead = 24
	valueSize   = int64(unsafe.Sizeof(functions.Value{}))
)

// Add copies row (its strings and nested values' items too: they may be
// borrowed) into the sorter.
func (s *Sorter) Add(row functions.Row) error {
	if s.sorted {
		return errors.New("codec: sort: Add after Sorted")
	}
	if err := checkRow(s.schema, row); err != nil {
		return err
	}
	n := len(row)
	if len(s.slab)+n > cap(s.slab) {
		s.slab = make([]functions.Value, 0, max(1024*n, n))
	}
	start := len(s.slab)
	s.slab = append(s.slab, row...)
	r := s.slab[start : start+n : start+n]
	size := rowOverhead + valueSize*int64(n)
	for i := range r {
		switch {
		case r[i].Type.IsNested() && r[i].Valid:
			r[i] = functions.CloneValue(r[i]) // its items may be borrowed too
			size += nestedSize(r[i])
		case r[i].S != "":
			r[i].S = strings.Clone(r[i].S)
			size += int64(len(r[i].S))
		}
	}
	s.rows = append(s.rows, seqRow{row: r, seq: len(s.rows)})
	s.mem += size
	s.added++
	if s.mem >= s.opts.MemoryBytes {
		return s.Spill()
	}
	return nil
}

// nestedSize estimates the bytes a nested value's items hold.
func nestedSize(v functions.Value) int64 {
	var n int64
	for _, it := range v.Items() {
		n += valueSize + int64(len(it.S))
		if it.Type.IsNested() {
			n += nestedSize(it)
		}
	}
	return n
}

// Buffered estimates the bytes of the rows held in memory.
func (s *Sorter) Buffered() int64 { return s.mem }

// Rows counts the rows added.
func (s *Sorter) Rows() int64 { return s.added }

// Spills counts the runs written to temporary files.
func (s *Sorter) Spills() int { return s.spilled }

// Spill sorts the rows held in memory and writes them to a temporary file
// as one run, freeing their memory.
func (s *Sorter) Spill() error {
	if len(s.rows) == 0 {
		return nil
	}
	s.sortRows()
	name, err := s.writeRun(&seqSource{rows: s.rows})
	if err != nil {
		return err
	}
	s.runs = append(s.runs, name)
	s.spilled++
	clear(s.rows)
	s.rows, s.slab, s.mem = s.rows[:0], nil, 0
	return nil
}

// Sorted returns the rows added, in order, as a RowSource; no row can be
// added after it. With nothing spilled the rows are sorted in memory;
// otherwise the rest is spilled too and the runs are merged (in levels of
// at most 64 runs). The rows returned are valid until the next call of
// Next.
func (s *Sorter) Sorted() (RowSource, error) {
	if s.sorted {
		return nil, errors.New("codec: sort: Sorted called twice")
	}
	s.sorted = true
	if len(s.runs) == 0 {
		s.sortRows()
		return &seqSource{rows: s.rows}, nil
	}
	if err := s.Spill(); err != nil {
		return nil, err
	}
	for len(s.runs) > sortFanIn {
		if err := s.mergeLevel(); err != nil {
			return nil, err
		}
	}
	srcs, err := s.openRuns(s.runs)
	if err != nil {
		return nil, err
	}
	return NewMerge(s.cmp, srcs), nil
}

// Runs are closed once written and opened again to be merged, so that a
// task with many sorted files open holds no descriptor per spilled run,
// and a merge at most sortFanIn.

// mergeLevel merges the first sortFanIn runs into one run at the end.
func (s *Sorter) mergeLevel() error {
	first := s.runs[:sortFanIn]
	srcs, err := s.openRuns(first)
	if err != nil {
		return err
	}
	name, err := s.writeRun(NewMerge(s.cmp, srcs))
	errs := []error{err, s.closeOpen()}
	if err == nil {
		for _, r := range first {
			errs = append(errs, removeTemp(r))
		}
		// The merged run takes the place of the runs it holds, first:
		// rows equal on the keys stay in the order they were added.
		s.runs = slices.Replace(s.runs, 0, sortFanIn, name)
	}
	return errors.Join(errs...)
}

// writeRun writes the rows of src to a new temporary file and returns
// its name (the file is removed on failure).
func (s *Sorter) writeRun(src RowSource) (name string, err error) {
	f, err := os.CreateTemp(s.opts.TempDir, "fanout-sort-*")
	if err != nil {
		return "", fmt.Errorf("codec: sort: spill: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("codec: sort: spill: %w", cerr)
		}
		if err != nil {
			err = errors.Join(err, removeTemp(f.Name()))
		}
	}()
	bw := bufio.NewWriterSize(f, writeBufferSize)
	for {
		r, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		s.buf = appendSpillRow(s.buf[:0], r)
		if _, err := bw.Write(s.buf); err != nil {
			return "", fmt.Errorf("codec: sort: spill: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("codec: sort: spill: %w", err)
	}
	return f.Name(), nil
}

// openRuns opens runs to be read (s.open holds them until closeOpen).
func (s *Sorter) openRuns(runs []string) ([]RowSource, error) {
	srcs := make([]RowSource, len(runs))
	for i, name := range runs {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("codec: sort: %w", err)
		}
		s.open = append(s.open, f)
		srcs[i] = &runSource{r: bufio.NewReaderSize(f, 64<<10), schema: s.schema, row: make(functions.Row, len(s.schema.Columns))}
	}
	return srcs, nil
}

func (s *Sorter) closeOpen() error {
	var errs []error
	for _, f := range s.open {
		errs = append(errs, f.Close())
	}
	s.open = nil
	return errors.Join(errs...)
}

// seqRow is a row held by a Sorter and its place among the rows held,
// which breaks ties: pdqsort with it is stable, and faster than
// slices.SortStableFunc.
type seqRow struct {
	row functions.Row
	seq int
}

func (s *Sorter) sortRows() {
	slices.SortFunc(s.rows, func(a, b seqRow) int {
		if c := s.cmp(a.row, b.row); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
}

type seqSource struct {
	rows []seqRow
	i    int
}

func (s *seqSource) Next() (functions.Row, error) {
	if s.i >= len(s.rows) {
		return nil, io.EOF
	}
	s.i++
	return s.rows[s.i-1].row, nil
}

// Close removes the sorter's temporary files and drops its rows.
func (s *Sorter) Close() error {
	errs := []error{s.closeOpen()}
	for _, name := range s.runs {
		errs = append(errs, removeTemp(name))
	}
	s.runs, s.rows, s.slab, s.mem = nil, nil, nil, 0
	return errors.Join(errs...)
}

func removeTemp(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// appendSpillRow appends row exactly (floats by their bits, NaN payloads
// and -0 kept): uvarint(length) then per column its value (appendSpillValue).
func appendSpillRow(dst []byte, row functions.Row) []byte {
	var body [binary.MaxVarintLen64]byte
	start := len(dst)
	dst = append(dst, body[:]...) // room for the length, moved below
	for _, v := range row {
		dst = appendSpillValue(dst, v)
	}
	n := len(dst) - start - len(body)
	l := binary.PutUvarint(body[:], uint64(n))
	copy(dst[start+l:], dst[start+len(body):])
	copy(dst[start:], body[:l])
	return dst[:start+l+n]
}

// appendSpillValue appends 0 (null) or 1 and the value: a varint for the
// integer-held types, 8 bytes of a float, uvarint(length) and the bytes,
// or for a nested value uvarint(number of items) and each item the same
// way.
func appendSpillValue(dst []byte, v functions.Value) []byte {
	if !v.Valid {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	if v.Type.IsNested() {
		items := v.Items()
		dst = binary.AppendUvarint(dst, uint64(len(items)))
		for _, it := range items {
			dst = appendSpillValue(dst, it)
		}
		return dst
	}
	switch v.Type.Field() {
	case functions.FieldI:
		dst = binary.AppendVarint(dst, v.I)
	case functions.FieldF:
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.F))
	default:
		dst = binary.AppendUvarint(dst, uint64(len(v.S)))
		dst = append(dst, v.S...)
	}
	return dst
}

var errCorruptRun = errors.New("codec: sort: corrupt spill run")

// runSource reads a spilled run.
type runSource struct {
	r      *bufio.Reader
	schema *functions.Schema
	row    functions.Row
	buf    []byte
	items  []functions.Value // the row's nested values' items
}

// value decodes a value of col that appendSpillValue wrote at the start of
// b, and returns the rest of b.
func (s *runSource) value(col *functions.Column, b []byte) (functions.Value, []byte, error) {
	t := col.Type
	if len(b) == 0 {
		return functions.Value{}, nil, errCorruptRun
	}
	valid := b[0] == 1
	b = b[1:]
	if !valid {
		return functions.Null(t), b, nil
	}
	if t.IsNested() {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) { // an item takes a byte at least
			return functions.Value{}, nil, errCorruptRun
		}
		b = b[k:]
		if t.Kind() == functions.KindMap && n%2 != 0 {
			return functions.Value{}, nil, errCorruptRun
		}
		if len(s.items)+int(n) > cap(s.items) { // a new slab: items decoded before keep theirs
			s.items = make([]functions.Value, 0, max(64, 2*cap(s.items), int(n)))
		}
		if t.Kind() == functions.KindStruct && int(n) != len(col.Fields) {
			return functions.Value{}, nil, errCorruptRun
		}
		start := len(s.items)
		s.items = s.items[:start+int(n)]
		// The items' own items may go to a new slab: fill this value's
		// through its own slice.
		items := s.items[start : start+int(n) : start+int(n)]
		for j := range items {
			f := &col.Fields[0]
			switch t.Kind() {
			case functions.KindStruct:
				f = &col.Fields[j]
			case functions.KindMap:
				f = &col.Fields[j%2]
			}
			var err error
			if items[j], b, err = s.value(f, b); err != nil {
				return functions.Value{}, nil, err
			}
		}
		switch t.Kind() {
		case functions.KindList:
			return functions.ListValue(items), b, nil
		case functions.KindStruct:
			return functions.StructValue(items), b, nil
		}
		return functions.MapValue(items), b, nil
	}
	switch t.Field() {
	case functions.FieldI:
		x, k := binary.Varint(b)
		if k <= 0 {
			return functions.Value{}, nil, errCorruptRun
		}
		return functions.Value{Type: t, Valid: true, I: x}, b[k:], nil
	case functions.FieldF:
		if len(b) < 8 {
			return functions.Value{}, nil, errCorruptRun
		}
		return functions.Value{Type: t, Valid: true, F: math.Float64frombits(binary.LittleEndian.Uint64(b))}, b[8:], nil
	}
	l, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < l {
		return functions.Value{}, nil, errCorruptRun
	}
	return functions.Value{Type: t, Valid: true, S: string(b[k : k+int(l)])}, b[k+int(l):], nil
}

func (s *runSource) Next() (functions.Row, error) {
	n, err := binary.ReadUvarint(s.r)
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorruptRun, err)
	}
	if uint64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, err := io.ReadFull(s.r, b); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorruptRun, err)
	}
	s.items = s.items[:0]
	for i := range s.schema.Columns {
		if s.row[i], b, err = s.value(&s.schema.Columns[i], b); err != nil {
			return nil, err
		}
	}
	if len(b) != 0 {
		return nil, errCorruptRun
	}
	return s.row, nil
}

// RowSource yields rows in order: Next returns the next row, valid until
// the following call, or io.EOF after the last.
type RowSource interface {
	Next() (functions.Row, error)
}

// InputRows reads the rows of a functions.Input (a file read with
// NewInput) as a RowSource.
func InputRows(in functions.Input) RowSource { return inputSource{in} }

type inputSource struct{ in functions.Input }

func (s inputSource) Next() (functions.Row, error) {
	rec, err := s.in.Next()
	if err != nil {
		return nil, err
	}
	return rec.Row, nil
}

// Merge is a k-way merge of RowSources each sorted by one RowCompare: Next
// returns the least of their current rows, rows that compare equal in the
// order of their sources (so merging runs in the order they were written
// keeps a sort stable). It is itself a RowSource.
type Merge struct {
	h       mergeHeap
	pending int // source whose row was returned last and must advance, or -1
	started bool
	err     error
}

// NewMerge merges srcs, each sorted by cmp.
func NewMerge(cmp RowCompare, srcs []RowSource) *Merge {
	m := &Merge{h: mergeHeap{cmp: cmp}, pending: -1}
	for i, s := range srcs {
		m.h.items = append(m.h.items, mergeItem{src: s, idx: i})
	}
	return m
}

type mergeItem struct {
	src RowSource
	row functions.Row
	idx int
}

type mergeHeap struct {
	items []mergeItem
	cmp   RowCompare
}

func (h *mergeHeap) Len() int { return len(h.items) }
func (h *mergeHeap) Less(i, j int) bool {
	if c := h.cmp(h.items[i].row, h.items[j].row); c != 0 {
		return c < 0
	}
	return h.items[i].idx < h.items[j].idx
}
func (h *mergeHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *mergeHeap) Push(x any)    { h.items = append(h.items, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// Next returns the next row in order, valid until the following call, or
// io.EOF after the last; an error of a source is returned as it is.
func (m *Merge) Next() (functions.Row, error) {
	if m.err != nil {
		return nil, m.err
	}
	if !m.started {
		m.started = true
		items := m.h.items
		m.h.items = m.h.items[:0]
		for _, it := range items {
			r, err := it.src.Next()
			if err == io.EOF {
				continue
			}
			if err != nil {
				m.err = err
				return nil, err
			}
			it.row = r
			m.h.items = append(m.h.items, it)
		}
		heap.Init(&m.h)
	} else if len(m.h.items) > 0 {
		// Advance the source whose row was returned last (the top).
		r, err := m.h.items[0].src.Next()
		switch {
		case err == io.EOF:
			heap.Pop(&m.h)
		case err != nil:
			m.err = err
			return nil, err
		default:
			m.h.items[0].row = r
			heap.Fix(&m.h, 0)
		}
	}
	if len(m.h.items) == 0 {
		m.err = io.EOF
		return nil, io.EOF
	}
	return m.h.items[0].row, nil
}

// SortedWriter is a Writer whose rows come out sorted: it adds them to a
// Sorter and, at Close, writes them in order to the Writer it wraps and
// closes that. As a RowGroupWriter, Buffered is the sorter's memory and
// EndRowGroup spills a run, so that a caller bounding the memory of many
// open files (fanout's staged output) bounds the sorters' too.
type SortedWriter struct {
	w      Writer
	s      *Sorter
	closed bool
}

// NewSortedWriter returns a writer of rows of schema that sorts them by
// opts.Keys into w.
func NewSortedWriter(w Writer, schema *functions.Schema, opts SortOptions) (*SortedWriter, error) {
	s, err := NewSorter(schema, opts)
	if err != nil {
		return nil, err
	}
	return &SortedWriter{w: w, s: s}, nil
}

func (w *SortedWriter) Write(row functions.Row) error { return w.s.Add(row) }
func (w *SortedWriter) Rows() int64                   { return w.s.Rows() }
func (w *SortedWriter) Buffered() int64               { return w.s.Buffered() }
func (w *SortedWriter) EndRowGroup() error            { return w.s.Spill() }

// Spills counts the runs the writer spilled to temporary files.
func (w *SortedWriter) Spills() int { return w.s.Spills() }

// Close writes the rows in order, closes the wrapped writer and removes
// the temporary files.
func (w *SortedWriter) Close() (err error) {
	if w.closed {
		return errors.New("codec: sort: Close called twice")
	}
	w.closed = true
	defer func() { err = errors.Join(err, w.s.Close()) }()
	src, err := w.s.Sorted()
	if err != nil {
		return err
	}
	for {
		r, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := w.w.Write(r); err != nil {
			return err
		}
	}
	return w.w.Close()
}

// Discard drops the rows and removes the temporary files without writing
// (an abandoned attempt).
func (w *SortedWriter) Discard() error {
	w.closed = true
	return w.s.Close()
}

var _ RowGroupWriter = (*SortedWriter)(nil)
