package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"strings"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/fanout-dev/fanout/functions"
)

// The Parquet writer encodes fanout's flat schemas (optional leaves of five
// types) column by column: each column keeps typed slices for the page it
// is filling, encodes and compresses a page when it reaches pageBytes, and
// holds the row group's compressed pages until the row group ends. The
// file's structures (page headers, footer), the RLE/bit-packed hybrid and
// the codecs are parquet-go's; what is fanout's own is the buffering, which
// takes typed values straight from rows instead of through parquet-go's
// generic per-value path (BenchmarkParquetWriterVsParquetGo, a row of
// scripts/bench.sh, measured 1.85-1.96x the CPU for parquet-go's WriteRows,
// the path a run-time schema takes, on a quiet machine: above the 1.5x that
// keeps hand-written code over a library; see the README). Pages are
// DATA_PAGE_V2, as parquet-go writes them, with CRC32 checksums (readers that check them, parquet-go
// among them, report a corrupt page instead of reading garbage); readers
// tested: parquet-go and DuckDB.

const (
	// pageBytes is the plain-encoded size at which a column's page is
	// encoded and compressed.
	pageBytes = 256 << 10
	// pageRows bounds the rows of a page whatever their size (all nulls).
	pageRows = 1 << 17
	// dictionaryMaxBytes is where a string column's dictionary falls back
	// to plain encoding for the rest of its row group.
	dictionaryMaxBytes = 4 << 20
	// dictionaryProbe is how many distinct values a string column collects
	// before the writer checks whether its dictionary pays: past it, a
	// column where most values are distinct is written plain.
	dictionaryProbe = 4096
	// maxStatBytes bounds a string column's min and max statistics: longer
	// values leave them out (readers then scan rather than skip).
	maxStatBytes = 1024
)

// parquetCodec maps WriterOptions.Compression to a codec.
func parquetCodec(name string) (compress.Codec, error) {
	switch strings.ToLower(name) {
	case "", "zstd":
		return pageZstdCodec, nil
	case "snappy":
		return &parquet.Snappy, nil
	case "gzip":
		return &parquet.Gzip, nil
	case "lz4", "lz4_raw":
		return &parquet.Lz4Raw, nil
	case "none", "uncompressed":
		return &parquet.Uncompressed, nil
	}
	return nil, fmt.Errorf("codec: unknown parquet compression %q (want zstd, snappy, gzip, lz4 or none)", name)
}

type parquetWriter struct {
	bw     *growBuffer
	off    int64 // bytes written to bw
	schema *functions.Schema
	cols   []*pqOutColumn // the leaf columns, in schema order
	top    []*outNode     // per schema column: its tree (a flat column is one leaf)
	codec  compress.Codec
	rows   int64 // rows written
	rgRows int64 // rows in the open row group
	// rgBytes estimates the open row group's uncompressed values (8
	// bytes a value beside a string's bytes), compared with maxBytes.
	rgBytes  int64
	maxRows  int64
	maxBytes int64
	groups   []format.RowGroup
	scratch  *pqScratch
	strings  *StringTable
	err      error // sticky
	closed   bool
}

// pqScratch holds the buffers pages are encoded in, shared by the columns.
type pqScratch struct {
	levels, defLevels, values, compressed []byte
}

func newParquetWriter(w io.Writer, schema *functions.Schema, opts WriterOptions) (*parquetWriter, error) {
	if len(schema.Columns) > parquet.MaxColumnIndex {
		return nil, fmt.Errorf("codec: %d columns is more than parquet allows", len(schema.Columns))
	}
	seen := map[string]bool{}
	for _, c := range schema.Columns {
		if seen[c.Name] {
			return nil, fmt.Errorf("codec: parquet needs distinct column names; %q repeats", c.Name)
		}
		seen[c.Name] = true
	}
	codec, err := parquetCodec(opts.Compression)
	if err != nil {
		return nil, err
	}
	pw := &parquetWriter{
		bw:       newGrowBuffer(w),
		schema:   schema,
		codec:    codec,
		strings:  opts.Strings,
		maxRows:  int64(opts.RowGroupRows),
		maxBytes: opts.RowGroupBytes,
	}
	if pw.maxRows <= 0 {
		pw.maxRows = DefaultRowGroupRows
	}
	if pw.strings == nil {
		pw.strings = NewStringTable()
	}
	pw.scratch = &pw.strings.scratch
	if pw.maxBytes <= 0 {
		pw.maxBytes = DefaultRowGroupBytes
	}
	pw.top = make([]*outNode, len(schema.Columns))
	for i, c := range schema.Columns {
		if pw.top[i], err = pw.outTree(c, nil, 0, 0, false); err != nil {
			for _, c := range pw.cols {
				c.release()
			}
			return nil, err
		}
	}
	if len(pw.cols) > parquet.MaxColumnIndex {
		for _, c := range pw.cols {
			c.release()
		}
		return nil, fmt.Errorf("codec: %d leaf columns is more than parquet allows", len(pw.cols))
	}
	pw.write([]byte("PAR1"))
	return pw, nil
}

func (w *parquetWriter) Rows() int64 { return w.rows }

// Size implements Sizer: the bytes of the row groups ended so far (and,
// once closed, of the footer).
func (w *parquetWriter) Size() int64 { return w.off }

// Buffered estimates the bytes held for the current row group (see
// RowGroupWriter): compressed pages, the pages being filled, dictionaries.
func (w *parquetWriter) Buffered() int64 {
	if w.closed {
		return 0
	}
	var n int64
	for _, c := range w.cols {
		n += int64(len(c.chunk)) + int64(c.pageSize) + int64(len(c.defs)) + int64(len(c.reps))
		if c.dict != nil {
			n += int64(c.dict.held())
		}
	}
	return n
}

// Pending implements SizeEstimator: the row group's compressed pages as
// they are, and each column's page being filled and dictionary at the
// compression its pages of that kind showed earlier in the file (whole
// before any: not calibrated).
func (w *parquetWriter) Pending() (bytes int64, calibrated bool) {
	if w.closed {
		return 0, true
	}
	calibrated = true
	scaled := func(n, in, out int64) int64 {
		if n == 0 {
			return 0
		}
		if in == 0 {
			calibrated = false
			return n
		}
		return int64(float64(n) * float64(out) / float64(in))
	}
	for _, c := range w.cols {
		bytes += int64(len(c.chunk)) + scaled(int64(c.pageSize+len(c.defs)+len(c.reps)), c.rawIn, c.encOut)
		if c.dict != nil && len(c.dict.used) > 0 {
			bytes += scaled(int64(4*len(c.dict.used)+c.dict.bytes), c.dictIn, c.dictOut)
		}
	}
	return bytes, calibrated
}

// write appends p to the file, counting its bytes.
func (w *parquetWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	n, err := w.bw.Write(p)
	w.off += int64(n)
	if err != nil {
		w.err = err
	}
}

func (w *parquetWriter) Write(row functions.Row) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("codec: write after Close")
	}
	if err := checkRow(w.schema, row); err != nil {
		return err
	}
	for i := range row {
		v := &row[i] // a Value is 48 bytes: not copied per call
		n := w.top[i]
		w.rgBytes += int64(8 + len(v.S))
		if c := n.leaf; c != nil {
			if !v.Valid {
				c.defs = append(c.defs, 0)
				c.nulls++
			} else {
				c.defs = append(c.defs, 1)
				if err := c.addValue(w, v); err != nil {
					w.err = err
					return err
				}
			}
			if c.pageSize >= pageBytes || len(c.defs) >= pageRows {
				if err := c.flushPage(w.codec, w.scratch); err != nil {
					w.err = err
					return err
				}
			}
			continue
		}
		if err := w.shred(n, *v, 0, 0); err != nil {
			w.err = err
			return err
		}
		for _, c := range n.leaves { // pages end at row boundaries
			if c.pageSize >= pageBytes || len(c.defs) >= pageRows {
				if err := c.flushPage(w.codec, w.scratch); err != nil {
					w.err = err
					return err
				}
			}
		}
	}
	w.rows++
	w.rgRows++
	if w.rgRows >= w.maxRows || w.rgBytes >= w.maxBytes {
		return w.EndRowGroup()
	}
	return nil
}

// EndRowGroup writes the buffered rows out as a row group now.
func (w *parquetWriter) EndRowGroup() error {
	if w.err != nil || w.closed {
		return w.err
	}
	if w.rgRows == 0 {
		return nil
	}
	rg := format.RowGroup{
		NumRows:    w.rgRows,
		Ordinal:    int16(min(len(w.groups), math.MaxInt16)),
		Columns:    make([]format.ColumnChunk, len(w.cols)),
		FileOffset: w.off,
	}
	for i, c := range w.cols {
		if err := c.flushPage(w.codec, w.scratch); err != nil {
			w.err = err
			return err
		}
		meta, err := c.writeChunk(w, w.scratch)
		if err != nil {
			w.err = err
			return err
		}
		// file_offset is deprecated; the spec asks for 0 when the metadata
		// is in the footer (as parquet-go writes it).
		rg.Columns[i] = format.ColumnChunk{MetaData: meta}
		rg.TotalByteSize += meta.TotalUncompressedSize
		rg.TotalCompressedSize += meta.TotalCompressedSize
	}
	w.groups = append(w.groups, rg)
	w.rgRows, w.rgBytes = 0, 0
	if w.err != nil {
		w.err = fmt.Errorf("codec: parquet write: %w", w.err)
	}
	return w.err
}

func (w *parquetWriter) Close() error {
	if w.closed {
		return w.err
	}
	err := w.EndRowGroup()
	w.closed = true
	for _, c := range w.cols {
		c.release()
		c.pqBuffers = nil
	}
	if err != nil {
		return err
	}
	meta := format.FileMetaData{
		Version:      1,
		NumRows:      w.rows,
		RowGroups:    w.groups,
		CreatedBy:    createdBy,
		Schema:       w.footerSchema(),
		ColumnOrders: make([]format.ColumnOrder, len(w.cols)),
	}
	for i := range w.cols {
		meta.ColumnOrders[i] = format.ColumnOrder{Value: new(format.TypeDefinedOrder)}
	}
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &meta)
	if err != nil {
		w.err = fmt.Errorf("codec: parquet footer: %w", err)
		return w.err
	}
	w.write(footer)
	w.write(binary.LittleEndian.AppendUint32(nil, uint32(len(footer))))
	w.write([]byte("PAR1"))
	if w.err == nil {
		w.err = w.bw.Release()
	}
	return w.err
}

// pqOutColumn buffers one column: the page being filled (defs and typed
// values) and the row group's encoded pages.
type pqOutColumn struct {
	name string // the path, dotted, for messages
	typ  functions.Type
	phys format.Type
	// A leaf of a nested column: its path in the schema, its maximum
	// definition and repetition levels, whether it is required (a map's
	// key), and the rows (entries of repetition level 0) of its page.
	path           []string
	maxDef, maxRep int
	required       bool
	pageRows       int
	// bytes: a BYTE_ARRAY column (string, binary) with a dictionary;
	// fixed: FIXED_LEN_BYTE_ARRAY(16) (UUID, decimal of 19-38 digits),
	// plain, its values in plain; unsigned: an INT64 of uint64 values
	// (statistics compare them unsigned).
	bytes, fixed, unsigned bool

	// The page being filled, and the row group's encoded pages.
	*pqBuffers
	nulls    int
	pageSize int // plain-encoded bytes of the values

	// rawIn and encOut sum, over the file, the bytes of the pages
	// written as Buffered counts them (values plain-encoded, levels) and
	// the bytes they took in the file; dictIn and dictOut the same for
	// dictionary pages: Pending's ratios.
	rawIn, encOut, dictIn, dictOut int64

	// A string column's dictionary for the row group.
	dict      *colDict
	plainMode bool // strings are written plain for the rest of the row group

	// What the row group's metadata needs.
	uncompressed int64
	values       int64 // values including nulls
	chunkNulls   int64
	nonNull      int64
	dictPages    int32 // data pages of dictionary indices
	plainPages   int32

	// Statistics over the row group's non-null values (strings: only those
	// written plain; the dictionary's are added at the end).
	hasStats   bool
	minI, maxI int64
	minF, maxF float64
	minS, maxS string
	longStat   bool // a string past maxStatBytes: no string statistics
}

// pqBuffers are a column's growable buffers, pooled between writers (a
// convert writes a file per chunk and partition, and growing them anew
// for each cost a fifth of the writer's time).
type pqBuffers struct {
	defs  []byte // per entry of the page: its definition level (flat: 1 value, 0 null)
	reps  []byte // per entry of the page: its repetition level (nested leaves only)
	i64   []int64
	f64   []float64
	bools []byte  // per value: 0 or 1
	idx   []int32 // dictionary indices
	plain []byte  // PLAIN byte arrays (strings once plain)
	chunk []byte  // the row group's encoded pages
}

var pqBufferPool = sync.Pool{New: func() any { return new(pqBuffers) }}

// release returns the buffers to the pool, but not one grown past what a
// typical column holds.
func (b *pqBuffers) release() {
	if cap(b.chunk) > 4*pageBytes {
		b.chunk = nil
	}
	if cap(b.plain) > 2*pageBytes {
		b.plain = nil
	}
	b.defs, b.reps, b.i64, b.f64, b.bools, b.idx, b.plain, b.chunk = b.defs[:0], b.reps[:0], b.i64[:0], b.f64[:0], b.bools[:0], b.idx[:0], b.plain[:0], b.chunk[:0]
	pqBufferPool.Put(b)
}

func newPQOutColumn(col functions.Column, strs *StringTable) *pqOutColumn {
	c := &pqOutColumn{name: col.Name, typ: col.Type, pqBuffers: pqBufferPool.Get().(*pqBuffers), path: []string{col.Name}, maxDef: 1}
	c.phys = physicalType(col.Type)
	switch c.phys {
	case format.ByteArray:
		c.bytes = true
		c.dict = &colDict{tab: strs.current()}
	case format.FixedLenByteArray:
		c.fixed = true
	}
	c.unsigned = col.Type == functions.Uint64
	return c
}

// physicalType is the Parquet type a fanout type is written as (DuckDB's
// and Arrow's choices).
func physicalType(t functions.Type) format.Type {
	switch t.Kind() {
	case functions.KindFloat64:
		return format.Double
	case functions.KindFloat32:
		return format.Float
	case functions.KindBool:
		return format.Boolean
	case functions.KindString, functions.KindBinary:
		return format.ByteArray
	case functions.KindUUID:
		return format.FixedLenByteArray
	case functions.KindInt8, functions.KindInt16, functions.KindInt32, functions.KindUint8, functions.KindUint16,
		functions.KindUint32, functions.KindDate:
		return format.Int32
	case functions.KindTime:
		if t.Unit() == functions.Millis {
			return format.Int32
		}
	case functions.KindDecimal:
		switch {
		case t.Precision() <= 9:
			return format.Int32
		case t.Precision() > 18:
			return format.FixedLenByteArray
		}
	}
	return format.Int64
}

func (c *pqOutColumn) physical() format.Type { return c.phys }

func (c *pqOutColumn) schemaElement() format.SchemaElement {
	e := format.SchemaElement{
		Type:           thrift.New(c.physical()),
		RepetitionType: thrift.New(format.Optional),
		Name:           c.path[len(c.path)-1],
	}
	if c.required {
		e.RepetitionType = thrift.New(format.Required)
	}
	if c.fixed {
		e.TypeLength = thrift.New(int32(16))
	}
	t := c.typ
	intType := func(bits int8, signed bool, ct deprecated.ConvertedType) {
		e.ConvertedType = thrift.New(ct)
		e.LogicalType = format.LogicalType{Value: &format.IntType{BitWidth: bits, IsSigned: signed}}
	}
	switch t.Kind() {
	case functions.KindInt64:
		intType(64, true, deprecated.Int64)
	case functions.KindInt8:
		intType(8, true, deprecated.Int8)
	case functions.KindInt16:
		intType(16, true, deprecated.Int16)
	case functions.KindInt32:
		intType(32, true, deprecated.Int32)
	case functions.KindUint8:
		intType(8, false, deprecated.Uint8)
	case functions.KindUint16:
		intType(16, false, deprecated.Uint16)
	case functions.KindUint32:
		intType(32, false, deprecated.Uint32)
	case functions.KindUint64:
		intType(64, false, deprecated.Uint64)
	case functions.KindTimestamp:
		unit := timeUnitOf(t.Unit())
		e.LogicalType = format.LogicalType{Value: &format.TimestampType{IsAdjustedToUTC: t.UTC(), Unit: unit}}
		// The legacy annotations mean an instant: only there.
		if t.UTC() && t.Unit() == functions.Micros {
			e.ConvertedType = thrift.New(deprecated.TimestampMicros)
		} else if t.UTC() && t.Unit() == functions.Millis {
			e.ConvertedType = thrift.New(deprecated.TimestampMillis)
		}
	case functions.KindTime:
		e.LogicalType = format.LogicalType{Value: &format.TimeType{IsAdjustedToUTC: t.UTC(), Unit: timeUnitOf(t.Unit())}}
		if t.UTC() && t.Unit() == functions.Micros {
			e.ConvertedType = thrift.New(deprecated.TimeMicros)
		} else if t.UTC() && t.Unit() == functions.Millis {
			e.ConvertedType = thrift.New(deprecated.TimeMillis)
		}
	case functions.KindDate:
		e.ConvertedType = thrift.New(deprecated.Date)
		e.LogicalType = format.LogicalType{Value: new(format.DateType)}
	case functions.KindDecimal:
		e.ConvertedType = thrift.New(deprecated.Decimal)
		e.Precision = thrift.New(int32(t.Precision()))
		e.Scale = thrift.New(int32(t.Scale()))
		e.LogicalType = format.LogicalType{Value: &format.DecimalType{Precision: int32(t.Precision()), Scale: int32(t.Scale())}}
	case functions.KindUUID:
		e.LogicalType = format.LogicalType{Value: new(format.UUIDType)}
	case functions.KindString:
		e.ConvertedType = thrift.New(deprecated.UTF8)
		e.LogicalType = format.LogicalType{Value: new(format.StringType)}
	}
	return e
}

func timeUnitOf(u functions.TimeUnit) format.TimeUnit {
	switch u {
	case functions.Millis:
		return format.TimeUnit{Value: new(format.MilliSeconds)}
	case functions.Nanos:
		return format.TimeUnit{Value: new(format.NanoSeconds)}
	}
	return format.TimeUnit{Value: new(format.MicroSeconds)}
}

// add appends one value (of the column's type, or null) to the page.
// addValue appends a non-null value whose definition level is in defs.
func (c *pqOutColumn) addValue(w *parquetWriter, v *functions.Value) error {
	switch {
	case c.bytes:
		if c.plainMode {
			c.addPlain(v.S)
			return nil
		}
		n := len(c.dict.used)
		id, ok := int32(0), false
		if len(v.S) <= dictionaryMaxBytes {
			id, ok = c.dict.id(v.S)
			if !ok {
				// The table is full: a new one from the next row group
				// on, plain values until then.
				w.strings.full(c.dict.tab)
			}
		}
		if !ok { // full, or a value no dictionary should hold: plain
			c.defs = c.defs[:len(c.defs)-1] // this value goes in the next page
			if err := c.flushPage(w.codec, w.scratch); err != nil {
				return err
			}
			c.defs = append(c.defs, 1)
			c.plainMode = true
			c.addPlain(v.S)
			return nil
		}
		c.idx = append(c.idx, id)
		if len(c.dict.used) > n && c.dictStopsPaying() {
			c.pageSize = pageBytes // flush this page; the next is plain
		}
		c.pageSize += 4
	case c.phys == format.Double || c.phys == format.Float:
		f := v.F
		c.f64 = append(c.f64, f)
		c.pageSize += 8
		if f != f {
			return nil // NaN: no place in min and max
		}
		widen(&c.minF, &c.maxF, &c.hasStats, f)
	case c.fixed:
		if len(v.S) != 16 {
			return fmt.Errorf("codec: parquet column %q: a %v value of %d bytes, want 16", c.name, c.typ, len(v.S))
		}
		c.plain = append(c.plain, v.S...)
		c.pageSize += 16
		c.statFixed(v.S)
	case c.phys == format.Boolean:
		var b byte
		if v.I != 0 {
			b = 1
		}
		c.bools = append(c.bools, b)
		c.pageSize++
		c.statInt(int64(b))
	case c.unsigned:
		c.i64 = append(c.i64, v.I)
		c.pageSize += 8
		// Unsigned order is signed order with the sign bit flipped.
		c.statInt(v.I ^ math.MinInt64)
	default:
		c.i64 = append(c.i64, v.I)
		c.pageSize += 8
		c.statInt(v.I)
	}
	return nil
}

func (c *pqOutColumn) statInt(i int64) { widen(&c.minI, &c.maxI, &c.hasStats, i) }

// widen extends the bounds [lo, hi] to v (to [v, v] when has is false).
func widen[T int64 | float64](lo, hi *T, has *bool, v T) {
	switch {
	case !*has:
		*lo, *hi, *has = v, v, true
	case v < *lo:
		*lo = v
	case v > *hi:
		*hi = v
	}
}

func (c *pqOutColumn) addPlain(s string) {
	c.plain = binary.LittleEndian.AppendUint32(c.plain, uint32(len(s)))
	c.plain = append(c.plain, s...)
	c.pageSize += 4 + len(s)
	c.statString(s)
}

// statFixed widens the bounds of a 16-byte column: a UUID's bytes
// compare unsigned, a decimal's as a signed big-endian integer (its sign
// bit flipped, they compare unsigned too).
func (c *pqOutColumn) statFixed(s string) {
	less := func(a, b string) bool { return a < b }
	if c.typ.Kind() == functions.KindDecimal {
		less = func(a, b string) bool {
			if a[0]>>7 != b[0]>>7 {
				return a[0]>>7 == 1
			}
			return a < b
		}
	}
	switch {
	case !c.hasStats:
		c.minS, c.maxS, c.hasStats = strings.Clone(s), strings.Clone(s), true
	case less(s, c.minS):
		c.minS = strings.Clone(s)
	case less(c.maxS, s):
		c.maxS = strings.Clone(s)
	}
}

func (c *pqOutColumn) statString(s string) {
	if c.longStat {
		return
	}
	if len(s) > maxStatBytes {
		c.longStat, c.minS, c.maxS = true, "", ""
		return
	}
	if !c.hasStats {
		c.minS, c.maxS, c.hasStats = strings.Clone(s), strings.Clone(s), true
	} else if s < c.minS {
		c.minS = strings.Clone(s)
	} else if s > c.maxS {
		c.maxS = strings.Clone(s)
	}
}

// flushPage encodes the page being filled (if any) into the chunk, and
// decides whether a string column's dictionary still pays.
func (c *pqOutColumn) flushPage(codec compress.Codec, s *pqScratch) error {
	if len(c.defs) == 0 {
		return nil
	}
	var err error
	repBytes := 0
	s.levels = s.levels[:0]
	if c.maxRep > 0 {
		s.levels, err = (&rle.Encoding{BitWidth: bits.Len(uint(c.maxRep))}).EncodeLevels(s.levels, c.reps)
		if err != nil {
			return fmt.Errorf("codec: parquet repetition levels of %q: %w", c.name, err)
		}
		repBytes = len(s.levels)
	}
	if repBytes == 0 {
		s.levels, err = (&rle.Encoding{BitWidth: bits.Len(uint(c.maxDef))}).EncodeLevels(s.levels, c.defs)
	} else { // EncodeLevels writes from the start of its buffer
		s.defLevels, err = (&rle.Encoding{BitWidth: bits.Len(uint(c.maxDef))}).EncodeLevels(s.defLevels, c.defs)
		s.levels = append(s.levels, s.defLevels...)
	}
	if err != nil {
		return fmt.Errorf("codec: parquet levels of %q: %w", c.name, err)
	}
	enc := format.Plain
	vals := s.values[:0]
	switch {
	case c.bytes && !c.plainMode && len(c.idx) > 0:
		enc = format.RLEDictionary
		if vals, err = (&rle.DictionaryEncoding{}).EncodeInt32(vals, c.idx); err != nil {
			return fmt.Errorf("codec: parquet dictionary indices of %q: %w", c.name, err)
		}
	case c.bytes || c.fixed:
		vals = append(vals, c.plain...)
	case c.phys == format.Double:
		for _, f := range c.f64 {
			vals = binary.LittleEndian.AppendUint64(vals, math.Float64bits(f))
		}
	case c.phys == format.Float:
		for _, f := range c.f64 {
			vals = binary.LittleEndian.AppendUint32(vals, math.Float32bits(float32(f)))
		}
	case c.phys == format.Boolean:
		vals = appendBits(vals, c.bools)
	case c.phys == format.Int32:
		for _, i := range c.i64 {
			vals = binary.LittleEndian.AppendUint32(vals, uint32(i))
		}
	default:
		for _, i := range c.i64 {
			vals = binary.LittleEndian.AppendUint64(vals, uint64(i))
		}
	}
	s.values = vals
	body := vals
	compressed := codec.CompressionCodec() != format.Uncompressed
	if compressed && len(vals) > 0 {
		if s.compressed, err = codec.Encode(s.compressed[:0], vals); err != nil {
			return fmt.Errorf("codec: parquet compress %q: %w", c.name, err)
		}
		body = s.compressed
	}
	n := len(c.defs)
	rows := n
	if c.maxRep > 0 {
		rows = c.pageRows
	}
	h := format.PageHeader{
		Type:                 format.DataPageV2,
		UncompressedPageSize: int32(len(s.levels) + len(vals)),
		CompressedPageSize:   int32(len(s.levels) + len(body)),
		CRC:                  int32(crc32.Update(crc32.ChecksumIEEE(s.levels), crc32.IEEETable, body)),
		DataPageHeaderV2: thrift.New(format.DataPageHeaderV2{
			NumValues:                  int32(n),
			NumNulls:                   int32(c.nulls),
			NumRows:                    int32(rows),
			Encoding:                   enc,
			RepetitionLevelsByteLength: int32(repBytes),
			DefinitionLevelsByteLength: int32(len(s.levels) - repBytes),
			IsCompressed:               thrift.New(compressed && len(vals) > 0),
			// The header's statistics always carry a null count (the
			// field is written even when zero): it must be the page's.
			Statistics: format.Statistics{NullCount: int64(c.nulls)},
		}),
	}
	hb, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		return fmt.Errorf("codec: parquet page header of %q: %w", c.name, err)
	}
	c.chunk = append(c.chunk, hb...)
	c.chunk = append(c.chunk, s.levels...)
	c.chunk = append(c.chunk, body...)
	c.rawIn += int64(c.pageSize + len(c.defs) + len(c.reps))
	c.encOut += int64(len(hb) + len(s.levels) + len(body))
	c.uncompressed += int64(len(hb)) + int64(h.UncompressedPageSize)
	c.values += int64(n)
	c.chunkNulls += int64(c.nulls)
	c.nonNull += int64(n - c.nulls)
	if enc == format.RLEDictionary {
		c.dictPages++
	} else {
		c.plainPages++
	}
	c.defs, c.reps, c.nulls, c.pageSize, c.pageRows = c.defs[:0], c.reps[:0], 0, 0, 0
	c.i64, c.f64, c.bools, c.idx, c.plain = c.i64[:0], c.f64[:0], c.bools[:0], c.idx[:0], c.plain[:0]
	if c.bytes && !c.plainMode && c.dictStopsPaying() {
		c.plainMode = true
	}
	return nil
}

// dictStopsPaying reports whether a string column's dictionary has grown
// past its limit, or past the probe with most values distinct.
func (c *pqOutColumn) dictStopsPaying() bool {
	n := len(c.dict.used)
	return c.dict.bytes > dictionaryMaxBytes || (n > dictionaryProbe && int64(2*n) > c.nonNull+int64(len(c.idx)))
}

// appendBits appends PLAIN booleans: bit-packed, least significant first.
func appendBits(dst, bools []byte) []byte {
	for i := 0; i < len(bools); i += 8 {
		var b byte
		for j, v := range bools[i:min(i+8, len(bools))] {
			b |= v << j
		}
		dst = append(dst, b)
	}
	return dst
}

// writeChunk writes the row group's column chunk (dictionary page first)
// to w and resets the column for the next row group.
func (c *pqOutColumn) writeChunk(w *parquetWriter, s *pqScratch) (format.ColumnMetaData, error) {
	meta := format.ColumnMetaData{
		Type:         c.physical(),
		PathInSchema: c.path,
		Codec:        w.codec.CompressionCodec(),
		NumValues:    c.values,
	}
	start := w.off
	var encodings []format.Encoding
	var stats []format.PageEncodingStats
	if c.dict != nil && len(c.dict.used) > 0 {
		vals := s.values[:0]
		for i := range c.dict.used {
			v := c.dict.value(i)
			vals = binary.LittleEndian.AppendUint32(vals, uint32(len(v)))
			vals = append(vals, v...)
			c.statString(v)
		}
		s.values = vals
		body := vals
		if w.codec.CompressionCodec() != format.Uncompressed {
			var err error
			if s.compressed, err = w.codec.Encode(s.compressed[:0], vals); err != nil {
				return meta, fmt.Errorf("codec: parquet compress %q: %w", c.name, err)
			}
			body = s.compressed
		}
		h := format.PageHeader{
			Type:                 format.DictionaryPage,
			UncompressedPageSize: int32(len(vals)),
			CompressedPageSize:   int32(len(body)),
			CRC:                  int32(crc32.ChecksumIEEE(body)),
			DictionaryPageHeader: thrift.New(format.DictionaryPageHeader{NumValues: int32(len(c.dict.used)), Encoding: format.Plain}),
		}
		hb, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
		if err != nil {
			return meta, fmt.Errorf("codec: parquet dictionary header of %q: %w", c.name, err)
		}
		meta.DictionaryPageOffset = start
		w.write(hb)
		w.write(body)
		c.dictIn += int64(len(vals))
		c.dictOut += int64(len(hb) + len(body))
		meta.TotalUncompressedSize += int64(len(hb) + len(vals))
		encodings = append(encodings, format.Plain)
		stats = append(stats, format.PageEncodingStats{PageType: format.DictionaryPage, Encoding: format.Plain, Count: 1})
	}
	meta.DataPageOffset = w.off
	w.write(c.chunk)
	meta.TotalUncompressedSize += c.uncompressed
	meta.TotalCompressedSize = w.off - start
	if c.plainPages > 0 {
		if len(encodings) == 0 {
			encodings = append(encodings, format.Plain)
		}
		stats = append(stats, format.PageEncodingStats{PageType: format.DataPageV2, Encoding: format.Plain, Count: c.plainPages})
	}
	encodings = append(encodings, format.RLE)
	if c.dictPages > 0 {
		encodings = append(encodings, format.RLEDictionary)
		stats = append(stats, format.PageEncodingStats{PageType: format.DataPageV2, Encoding: format.RLEDictionary, Count: c.dictPages})
	}
	meta.Encoding = encodings
	meta.EncodingStats = stats
	meta.Statistics = c.statistics()

	c.chunk = c.chunk[:0]
	if cap(c.chunk) > 4*pageBytes {
		c.chunk = nil // a wide row group's buffer is not kept for the next
	}
	c.uncompressed, c.values, c.chunkNulls, c.nonNull, c.dictPages, c.plainPages = 0, 0, 0, 0, 0, 0
	c.hasStats, c.longStat, c.minS, c.maxS = false, false, "", ""
	if c.dict != nil {
		c.dict.reset(w.strings.current())
		c.plainMode = false
	}
	return meta, w.err
}

// statistics encodes the row group's min, max and null count as Parquet
// orders them (signed integers and doubles, strings by unsigned bytes).
func (c *pqOutColumn) statistics() format.Statistics {
	st := format.Statistics{NullCount: c.chunkNulls}
	if !c.hasStats || c.longStat {
		return st
	}
	switch {
	case c.bytes, c.fixed:
		st.MinValue, st.MaxValue = []byte(c.minS), []byte(c.maxS)
	case c.phys == format.Float:
		lo, hi := float32(c.minF), float32(c.maxF)
		if lo == 0 {
			lo = float32(math.Copysign(0, -1))
		}
		if hi == 0 {
			hi = 0
		}
		st.MinValue = binary.LittleEndian.AppendUint32(nil, math.Float32bits(lo))
		st.MaxValue = binary.LittleEndian.AppendUint32(nil, math.Float32bits(hi))
	case c.phys == format.Int32:
		st.MinValue = binary.LittleEndian.AppendUint32(nil, uint32(c.minI))
		st.MaxValue = binary.LittleEndian.AppendUint32(nil, uint32(c.maxI))
	case c.unsigned:
		st.MinValue = binary.LittleEndian.AppendUint64(nil, uint64(c.minI^math.MinInt64))
		st.MaxValue = binary.LittleEndian.AppendUint64(nil, uint64(c.maxI^math.MinInt64))
	case c.phys == format.Double:
		lo, hi := c.minF, c.maxF
		if lo == 0 {
			lo = math.Copysign(0, -1) // the spec's rule for zero bounds
		}
		if hi == 0 {
			hi = math.Copysign(0, 1)
		}
		st.MinValue = binary.LittleEndian.AppendUint64(nil, math.Float64bits(lo))
		st.MaxValue = binary.LittleEndian.AppendUint64(nil, math.Float64bits(hi))
	case c.phys == format.Boolean:
		st.MinValue, st.MaxValue = []byte{byte(c.minI)}, []byte{byte(c.maxI)}
	default:
		st.MinValue = binary.LittleEndian.AppendUint64(nil, uint64(c.minI))
		st.MaxValue = binary.LittleEndian.AppendUint64(nil, uint64(c.maxI))
	}
	return st
}

// compile-time check: parquetWriter bounds its memory by row groups.
var _ RowGroupWriter = (*parquetWriter)(nil)
