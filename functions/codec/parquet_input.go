package codec

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
)

// Limits checked before parquet-go allocates what a file claims.
const (
	// maxFooterBytes bounds a Parquet footer (file metadata). A column
	// chunk with statistics takes 60-200 bytes of footer, so 16 MiB holds
	// about 100,000 of them (1,000 columns in 100 row groups); real files'
	// footers are a few KiB to a few MiB.
	maxFooterBytes = 16 << 20
	// footerAllocBase and footerAllocPerByte bound what decoding a footer
	// makes parquet-go allocate, weighed by thriftCheck (a ColumnChunk
	// becomes 560 bytes of Go structs, and more around them, from as
	// little as one byte of Thrift: a 300 KB footer of empty column chunks
	// made it allocate 169 MB): 16 MiB plus 32 bytes per footer byte. The
	// files of Apache's parquet-testing corpus weigh at most 53 bytes per
	// footer byte, all under 16 MiB; a footer of column chunks with
	// statistics about 10.
	footerAllocBase    = 16 << 20
	footerAllocPerByte = 32
	// openPagesPerPage times the page bound (ParquetOptions.MaxPageBytes)
	// bounds the sum, over the columns read, of each column chunk's
	// largest uncompressed page: the reader holds one page per column at
	// a time (1 GiB by default).
	openPagesPerPage = 4
	// maxPageValues bounds the values one page may claim.
	maxPageValues = 1 << 26
	// maxPageHeaderBytes bounds one page header (statistics included).
	maxPageHeaderBytes = 16 << 20
	// maxCachedRange bounds one read of column chunks into memory.
	maxCachedRange = 256 << 20
	// mergeGap is the gap between column chunks read together.
	mergeGap = 1 << 20
	// footerGuessBytes is read from a file's end at first.
	footerGuessBytes = 64 << 10
	// parquetBatch is how many rows each column decodes at a time.
	parquetBatch = 1024
	// maxBatchEntries bounds the leaf entries (elements, nulls, empty
	// lists; 64 bytes each) of nested columns a batch holds: a batch
	// above it makes the next one half as many rows.
	maxBatchEntries = 1 << 18
)

// ParquetOptions selects what NewParquetInput reads.
type ParquetOptions struct {
	// Object names the file in records and errors.
	Object string
	// FirstRowGroup and LastRowGroup select row groups [First, Last);
	// LastRowGroup <= 0 means through the last one (so 0, 0 is all).
	FirstRowGroup, LastRowGroup int
	// Schema lists the columns to read, by name, in the order rows hold
	// them; a column the file lacks reads as null. Nil means all the
	// file's columns as ParquetSchema reports them. A file column may be
	// read as its own type, as string (its text), or an integer as
	// float64.
	Schema *functions.Schema
	// MaxPageBytes bounds one page, compressed or not (a page is held
	// whole in memory); 0 means DefaultMaxPageBytes. A bound above the
	// default also lifts the bound on a page's compression ratio
	// (maxCompressionRatio): the caller accepts holding pages that big.
	MaxPageBytes int64
}

// DefaultMaxPageBytes is the largest page NewParquetInput reads unless
// ParquetOptions.MaxPageBytes says otherwise.
const DefaultMaxPageBytes = 256 << 20

// ParquetArgNames returns the function arguments ParseParquetArgs reads.
func ParquetArgNames() []string { return []string{"max_page_size"} }

// ParquetArgs describes the function arguments ParseParquetArgs reads,
// for help texts.
const ParquetArgs = `max_page_size=SIZE (the largest Parquet page the reader holds in memory, compressed or not; default 256MiB)`

// ParseParquetArgs reads the Parquet reader's options from function
// arguments: max_page_size (a size, manifest.ParseSize). Options not
// given stay zero.
func ParseParquetArgs(args map[string]string) (ParquetOptions, error) {
	var o ParquetOptions
	if v, ok := args["max_page_size"]; ok {
		n, err := manifest.ParseSize(v)
		if err != nil {
			return o, fmt.Errorf("--arg max_page_size: %w", err)
		}
		o.MaxPageBytes = n
	}
	return o, nil
}

// suggestPageSize is a max_page_size that admits a page of n bytes: the
// next power of two, in MiB or GiB.
func suggestPageSize(n int64) string {
	p := int64(1 << 20)
	for p < n && p < 1<<62 {
		p <<= 1
	}
	if p >= 1<<30 {
		return fmt.Sprintf("%dGiB", p>>30)
	}
	return fmt.Sprintf("%dMiB", p>>20)
}

// ParquetSchema reads a Parquet footer: the file's columns as fanout types
// and each row group's compressed size in bytes (for planning). Only the
// footer is read. Physical and logical types map as docs/formats.md's
// table says (leafConverter); nested columns (lists, maps, groups, repeated fields) are columns
// of nested types (parquet_nested.go). A caller that wants only some of
// the columns passes a Schema naming them to NewParquetInput, which
// decodes only those.
func ParquetSchema(ra io.ReaderAt, size int64) (*functions.Schema, []int64, error) {
	f, _, err := openParquet(ra, size, "")
	if err != nil {
		return nil, nil, err
	}
	schema, _, _, err := fileColumns(f, "")
	if err != nil {
		return nil, nil, err
	}
	return schema, rowGroupSizes(f), nil
}

// ParquetRowGroupSizes returns each row group's compressed size in bytes,
// also for files with nested columns.
func ParquetRowGroupSizes(ra io.ReaderAt, size int64) ([]int64, error) {
	f, _, err := openParquet(ra, size, "")
	if err != nil {
		return nil, err
	}
	return rowGroupSizes(f), nil
}

func rowGroupSizes(f *parquet.File) []int64 {
	md := f.Metadata()
	sizes := make([]int64, len(md.RowGroups))
	for i, rg := range md.RowGroups {
		s := rg.TotalCompressedSize
		if s <= 0 {
			s = 0
			for _, c := range rg.Columns {
				s += c.MetaData.TotalCompressedSize
			}
		}
		sizes[i] = s
	}
	return sizes
}

// guardedReaderAt serves the footer from memory, never reads past the
// file's size, and remembers I/O errors so that they are not mistaken for
// corruption.
type guardedReaderAt struct {
	ra      io.ReaderAt
	size    int64
	head    [4]byte
	tail    []byte
	tailOff int64
	ioErr   error

	// cache holds the current row group's selected column chunks, each
	// range fetched with one read.
	cache []cachedRange

	// patches are bytes served instead of the file's (lz4RawWorkaround).
	patches []patch

	// lz4 lists the column chunks of the LZ4 codec, which the footer
	// served to parquet-go declares uncompressed (repairFooter).
	lz4 map[chunkID]bool
}

// patch replaces the file's bytes at off with b in what ReadAt returns.
type patch struct {
	off int64
	b   []byte
}

type cachedRange struct {
	off  int64
	data []byte
}

// load fetches ranges (sorted by offset, within the file) into the cache,
// replacing what it held. Ranges less than mergeGap apart are read
// together; a range bigger than maxCachedRange is left to direct reads.
func (g *guardedReaderAt) load(ranges [][2]int64) error {
	g.cache = g.cache[:0]
	for i := 0; i < len(ranges); {
		start, end := ranges[i][0], ranges[i][1]
		j := i + 1
		for j < len(ranges) && ranges[j][0] <= end+mergeGap && max(end, ranges[j][1])-start <= maxCachedRange {
			end = max(end, ranges[j][1])
			j++
		}
		i = j
		if end-start > maxCachedRange || end <= start {
			continue
		}
		data := make([]byte, end-start)
		if _, err := g.ReadAt(data, start); err != nil {
			g.cache = g.cache[:0]
			return err
		}
		g.cache = append(g.cache, cachedRange{off: start, data: data})
	}
	return nil
}

func (g *guardedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := g.readAt(p, off)
	for _, pt := range g.patches {
		if pt.off < off+int64(n) && pt.off+int64(len(pt.b)) > off {
			for i, c := range pt.b {
				if j := pt.off + int64(i) - off; j >= 0 && j < int64(n) {
					p[j] = c
				}
			}
		}
	}
	return n, err
}

func (g *guardedReaderAt) readAt(p []byte, off int64) (int, error) {
	if off < 0 || off > g.size {
		return 0, fmt.Errorf("read at offset %d outside the file (%d bytes): %w", off, g.size, ErrCorruptParquet)
	}
	if off >= g.tailOff && off+int64(len(p)) <= g.size && g.tail != nil {
		return copy(p, g.tail[off-g.tailOff:]), nil
	}
	if off == 0 && len(p) <= len(g.head) && g.tail != nil {
		return copy(p, g.head[:]), nil
	}
	for _, c := range g.cache {
		if off >= c.off && off+int64(len(p)) <= c.off+int64(len(c.data)) {
			return copy(p, c.data[off-c.off:]), nil
		}
	}
	var short bool
	if rest := g.size - off; int64(len(p)) > rest {
		p, short = p[:rest], true
	}
	n, err := g.ra.ReadAt(p, off)
	if err != nil && err != io.EOF {
		g.ioErr = err
		return n, err
	}
	if short || n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ColumnError is an error of one Parquet column (in one row group, when
// RowGroup >= 0): a type fanout does not read, a value it cannot hold
// exactly (ErrInexactValue), a corrupt page. Reading errors come inside a
// functions.RecordError naming the object and the row.
type ColumnError struct {
	Column   string
	RowGroup int
	Err      error
}

func (e *ColumnError) Error() string {
	if e.RowGroup >= 0 {
		return fmt.Sprintf("column %q in row group %d: %v", e.Column, e.RowGroup, e.Err)
	}
	return fmt.Sprintf("column %q: %v", e.Column, e.Err)
}

func (e *ColumnError) Unwrap() error { return e.Err }

// parquetErr labels an error with the object; panics of parquet-go on
// corrupt input arrive here as errors too.
func parquetErr(object string, err error) error {
	if object == "" {
		return fmt.Errorf("codec: parquet: %w", err)
	}
	return fmt.Errorf("codec: parquet %q: %w", object, err)
}

// openParquet checks the footer and opens the file with parquet-go.
func openParquet(ra io.ReaderAt, size int64, object string) (f *parquet.File, g *guardedReaderAt, err error) {
	if size < 12 {
		return nil, nil, parquetErr(object, fmt.Errorf("%w: %d bytes is too small for a Parquet file", ErrCorruptParquet, size))
	}
	g = &guardedReaderAt{ra: ra, size: size}
	// One read fetches the footer of most files (and the whole of small
	// ones); a bigger footer takes a second.
	guess := make([]byte, min(size, footerGuessBytes))
	if _, err := g.ReadAt(guess, size-int64(len(guess))); err != nil {
		return nil, nil, parquetErr(object, err)
	}
	foot := guess[len(guess)-8:]
	var head [4]byte
	if size <= footerGuessBytes {
		copy(head[:], guess)
	} else if _, err := g.ReadAt(head[:], 0); err != nil {
		return nil, nil, parquetErr(object, err)
	}
	if string(foot[4:]) == "PARE" {
		return nil, nil, parquetErr(object, fmt.Errorf("%w: an encrypted Parquet file (PARE magic): fanout does not decrypt Parquet modular encryption", ErrUnsupportedParquet))
	}
	if string(head[:]) != "PAR1" || string(foot[4:]) != "PAR1" {
		return nil, nil, parquetErr(object, fmt.Errorf("%w: no PAR1 magic (not a Parquet file, or an encrypted one)", ErrCorruptParquet))
	}
	footerLen := int64(binary.LittleEndian.Uint32(foot[:4]))
	if footerLen > size-12 || footerLen == 0 {
		return nil, nil, parquetErr(object, fmt.Errorf("%w: footer length %d does not fit a file of %d bytes", ErrCorruptParquet, footerLen, size))
	}
	if footerLen > maxFooterBytes {
		return nil, nil, parquetErr(object, fmt.Errorf("%w: a footer of %d bytes, more than the %d fanout reads", ErrUnsupportedParquet, footerLen, maxFooterBytes))
	}
	tail := guess[max(0, int64(len(guess))-footerLen-8):]
	if int64(len(tail)) < footerLen+8 {
		tail = make([]byte, footerLen+8)
		if _, err := g.ReadAt(tail, size-footerLen-8); err != nil {
			return nil, nil, parquetErr(object, err)
		}
	}
	g.head = head
	tc := thriftCheck{b: tail[:footerLen], maxAlloc: footerAllocBase + footerAllocPerByte*footerLen}
	if _, err := tc.structLen(); err != nil {
		return nil, nil, parquetErr(object, fmt.Errorf("%w: footer: %w", ErrCorruptParquet, err))
	}
	g.tail, g.tailOff = tail, size-footerLen-8
	f, err = openFile(g)
	if (err != nil && strings.Contains(err.Error(), "missing required field")) || (err == nil && needsRepair(f)) {
		// What parquet-go cannot decode or read right, fanout rewrites in
		// the footer it serves parquet-go (parquet_compat.go).
		footer, rep, changed, rerr := repairFooter(tail[:footerLen])
		if rerr == nil && changed {
			g.useFooter(footer)
			g.lz4 = rep.lz4
			if f, err = openFile(g); err == nil {
				// The metadata says what the file says again, for
				// leafConverter: parquet-go has built its types.
				schema := f.Metadata().Schema
				for _, i := range rep.nulls {
					if i < len(schema) {
						schema[i].LogicalType = format.LogicalType{Value: new(format.NullType)}
					}
				}
			}
		}
	}
	if err != nil {
		if g.ioErr != nil {
			return nil, nil, parquetErr(object, g.ioErr)
		}
		if strings.Contains(err.Error(), "DecryptionConfig") {
			return nil, nil, parquetErr(object, fmt.Errorf("%w: a Parquet file with encrypted columns and a plaintext footer: fanout does not decrypt Parquet modular encryption", ErrUnsupportedParquet))
		}
		return nil, nil, parquetErr(object, fmt.Errorf("%w: %w", ErrCorruptParquet, err))
	}
	if n := len(f.Metadata().RowGroups); n > parquet.MaxRowGroups {
		return nil, nil, parquetErr(object, fmt.Errorf("%w: %d row groups", ErrCorruptParquet, n))
	}
	return f, g, nil
}

func openFile(g *guardedReaderAt) (f *parquet.File, err error) {
	err = catch(func() error {
		var err error
		f, err = parquet.OpenFile(g, g.size,
			parquet.SkipPageIndex(true),
			parquet.SkipBloomFilters(true),
			parquet.OptimisticRead(false),
			parquet.ReadBufferSize(256<<10))
		return err
	})
	return f, err
}

// needsRepair reports whether a column chunk uses the deprecated LZ4
// codec or a column the NULL logical type (repairFooter).
func needsRepair(f *parquet.File) bool {
	for _, el := range f.Metadata().Schema {
		if _, ok := el.LogicalType.Value.(*format.NullType); ok {
			return true
		}
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec == format.Lz4 {
				return true
			}
		}
	}
	return false
}

// catch runs fn, turning a panic into an error.
func catch(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parquet-go panicked: %v", p)
		}
	}()
	return fn()
}

// pqColumn is one flat column of the file.
type pqColumn struct {
	name string
	leaf int // leaf column index
	typ  functions.Type
	conv func(parquet.Value) (functions.Value, error)
	// required columns hold no nulls: a null in one is corruption.
	required bool
}

// fileColumns maps the file's top-level columns: flat ones to readers of
// their values, nested ones (groups, lists, maps, repeated fields) to
// readers assembling them from their leaves' levels.
func fileColumns(f *parquet.File, object string) (*functions.Schema, []*pqReader, []*pqNestedReader, error) {
	var flat []*pqReader
	var nested []*pqNestedReader
	s := &functions.Schema{}
	err := catch(func() error {
		b := newTreeBuilder(f)
		for i, c := range f.Root().Columns() {
			if !c.Leaf() || c.Repeated() || c.MaxRepetitionLevel() > 0 {
				root, err := b.column(c)
				if err != nil {
					return err
				}
				nested = append(nested, b.newNestedReader(root, i))
				s.Columns = append(s.Columns, nestedColumn(root))
				continue
			}
			t, conv, err := leafConverter(c, b.leaves)
			if err != nil {
				return &ColumnError{Column: c.Name(), RowGroup: -1, Err: err}
			}
			flat = append(flat, &pqReader{pqColumn: pqColumn{name: c.Name(), leaf: c.Index(), typ: t, conv: conv, required: c.Required()}, out: i, to: t})
			s.Columns = append(s.Columns, functions.Column{Name: c.Name(), Type: t})
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, parquetErr(object, err)
	}
	return s, flat, nested, nil
}

// leafElements lists the schema elements of the file's leaf columns, in
// the order of their column indexes.
func leafElements(f *parquet.File) []*format.SchemaElement {
	schema := f.Metadata().Schema
	var leaves []*format.SchemaElement
	for i := 1; i < len(schema); i++ {
		if !schema[i].NumChildren.Valid || schema[i].NumChildren.V == 0 {
			leaves = append(leaves, &schema[i])
		}
	}
	return leaves
}

// leafConverter picks the fanout type of a leaf column and the conversion
// of its values. A type the record model cannot hold is an error
// (ErrUnsupportedParquet); a value it cannot hold exactly is an error of
// its row (ErrInexactValue): never a changed value.
func leafConverter(c *parquet.Column, leaves []*format.SchemaElement) (functions.Type, func(parquet.Value) (functions.Value, error), error) {
	t := c.Type()
	var lt format.LogicalTypeValue
	if l := t.LogicalType(); l != nil {
		lt = l.Value
	}
	// parquet-go's types lose the annotations it does not know (FLOAT16
	// comes out as a plain FIXED_LEN_BYTE_ARRAY): look at the file's own
	// schema element too.
	var el *format.SchemaElement
	if i := c.Index(); i >= 0 && i < len(leaves) {
		el = leaves[i]
	}
	if el != nil && (!el.Type.Valid || el.Type.V < format.Boolean || el.Type.V > format.FixedLenByteArray) {
		return 0, nil, fmt.Errorf("%w: the column's physical type is %d", ErrCorruptParquet, el.Type.V)
	}

	if el != nil && el.LogicalType.Value != nil {
		switch l := el.LogicalType.Value.(type) {
		case *format.Float16Type, *format.NullType:
			lt = el.LogicalType.Value
		case *format.GeometryType, *format.GeographyType:
			// Read as binary: the WKB bytes, exactly; the annotation, its
			// CRS and edge algorithm are not kept (docs/formats.md).
			if t.Kind() != parquet.ByteArray {
				return 0, nil, fmt.Errorf("%w: %v on %v (the format puts it on BYTE_ARRAY)", ErrCorruptParquet, l, t)
			}
			return functions.Binary, func(v parquet.Value) (functions.Value, error) {
				return functions.Value{Type: functions.Binary, Valid: true, S: string(v.ByteArray())}, nil
			}, nil
		case *format.VariantType:
			return 0, nil, fmt.Errorf("%w: %v columns are not read yet (their bytes would lose the type)", ErrUnsupportedParquet, l)
		}
	}
	if ct := t.ConvertedType(); (ct != nil && *ct == deprecated.Interval) || (el != nil && el.ConvertedType.Valid && el.ConvertedType.V == deprecated.Interval) {
		return 0, nil, fmt.Errorf("%w: INTERVAL columns are not read yet", ErrUnsupportedParquet)
	}
	// A timestamp or time annotated only with a legacy converted type
	// (TIMESTAMP_MILLIS, TIMESTAMP_MICROS, TIME_MILLIS, TIME_MICROS) is
	// read as wall clock, as DuckDB and Spark read it (parquet-go gives
	// it isAdjustedToUTC).
	legacy := el != nil && el.LogicalType.Value == nil && el.ConvertedType.Valid
	switch l := lt.(type) {
	case *format.Float16Type:
		if t.Kind() != parquet.FixedLenByteArray || t.Length() != 2 {
			return 0, nil, fmt.Errorf("%w: FLOAT16 on %v (the format puts it on FIXED_LEN_BYTE_ARRAY(2))", ErrCorruptParquet, t)
		}
		return functions.Float32, func(v parquet.Value) (functions.Value, error) {
			b := v.ByteArray()
			if len(b) != 2 {
				return functions.Value{}, fmt.Errorf("%w: FLOAT16 of %d bytes", ErrCorruptParquet, len(b))
			}
			return functions.Value{Type: functions.Float32, Valid: true, F: float64(halfFloat(binary.LittleEndian.Uint16(b)))}, nil
		}, nil
	case *format.NullType:
		// Always null, whatever the physical type: DuckDB reads it as
		// INTEGER (and writes a column of nulls as INT32).
		return functions.Int32, func(v parquet.Value) (functions.Value, error) {
			return functions.Value{}, fmt.Errorf("%w: a value in a column of the NULL (always null) type", ErrCorruptParquet)
		}, nil
	case *format.DecimalType:
		return decimalConverter(t, l)
	}
	switch t.Kind() {
	case parquet.Boolean:
		return functions.Bool, func(v parquet.Value) (functions.Value, error) {
			return functions.BoolValue(v.Boolean()), nil
		}, nil
	case parquet.Int32:
		var typ functions.Type = functions.Int32
		switch l := lt.(type) {
		case *format.DateType:
			typ = functions.Date
		case *format.TimeType:
			if _, ok := l.Unit.Value.(*format.MilliSeconds); !ok {
				return 0, nil, fmt.Errorf("%w: TIME on INT32 must be in milliseconds", ErrCorruptParquet)
			}
			typ = functions.TimeOf(functions.Millis, l.IsAdjustedToUTC && !legacy)
		case *format.IntType:
			switch {
			case l.BitWidth == 8 && l.IsSigned:
				typ = functions.Int8
			case l.BitWidth == 16 && l.IsSigned:
				typ = functions.Int16
			case l.BitWidth == 8:
				typ = functions.Uint8
			case l.BitWidth == 16:
				typ = functions.Uint16
			case !l.IsSigned:
				return functions.Uint32, func(v parquet.Value) (functions.Value, error) {
					return functions.Value{Type: functions.Uint32, Valid: true, I: int64(uint32(v.Int32()))}, nil
				}, nil
			}
		}
		if typ.IsInteger() && typ != functions.Int32 {
			lo, hi := typ.IntRange()
			return typ, func(v parquet.Value) (functions.Value, error) {
				x := int64(v.Int32())
				if typ.Kind() >= functions.KindUint8 {
					x = int64(uint32(v.Int32()))
				}
				if x < lo || x > hi {
					return functions.Value{}, fmt.Errorf("%w: %d is out of the range of %v", ErrInexactValue, x, typ)
				}
				return functions.Value{Type: typ, Valid: true, I: x}, nil
			}, nil
		}
		return typ, func(v parquet.Value) (functions.Value, error) {
			return functions.Value{Type: typ, Valid: true, I: int64(v.Int32())}, nil
		}, nil
	case parquet.Int64:
		typ := functions.Int64
		switch l := lt.(type) {
		case *format.TimestampType:
			typ = functions.TimestampOf(timeUnit(l.Unit), l.IsAdjustedToUTC && !legacy)
		case *format.TimeType:
			if _, ok := l.Unit.Value.(*format.MilliSeconds); ok {
				return 0, nil, fmt.Errorf("%w: TIME on INT64 must be in micro- or nanoseconds", ErrCorruptParquet)
			}
			typ = functions.TimeOf(timeUnit(l.Unit), l.IsAdjustedToUTC && !legacy)
		case *format.IntType:
			if !l.IsSigned {
				typ = functions.Uint64
			}
		}
		return typ, func(v parquet.Value) (functions.Value, error) {
			return functions.Value{Type: typ, Valid: true, I: v.Int64()}, nil
		}, nil
	case parquet.Int96:
		return int96Type, func(v parquet.Value) (functions.Value, error) {
			return int96Value(v.Int96())
		}, nil
	case parquet.Float:
		return functions.Float32, func(v parquet.Value) (functions.Value, error) {
			return functions.Value{Type: functions.Float32, Valid: true, F: float64(v.Float())}, nil
		}, nil
	case parquet.Double:
		return functions.Float64, func(v parquet.Value) (functions.Value, error) {
			return functions.FloatValue(v.Double()), nil
		}, nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		switch lt.(type) {
		case *format.UUIDType:
			if t.Kind() != parquet.FixedLenByteArray || t.Length() != 16 {
				return 0, nil, fmt.Errorf("%w: UUID on %v (the format puts it on FIXED_LEN_BYTE_ARRAY(16))", ErrCorruptParquet, t)
			}
			return functions.UUID, func(v parquet.Value) (functions.Value, error) {
				return functions.Value{Type: functions.UUID, Valid: true, S: string(v.ByteArray())}, nil
			}, nil
		case *format.StringType, *format.EnumType, *format.JsonType:
			return functions.String, func(v parquet.Value) (functions.Value, error) {
				b := v.ByteArray()
				if !utf8.Valid(b) {
					return functions.Value{}, fmt.Errorf("%w: %d bytes in a STRING column that are not UTF-8 text", ErrInexactValue, len(b))
				}
				return functions.StringValue(string(b)), nil
			}, nil
		}
		// BYTE_ARRAY without an annotation, BSON, FIXED_LEN_BYTE_ARRAY:
		// bytes, exactly.
		return functions.Binary, func(v parquet.Value) (functions.Value, error) {
			return functions.Value{Type: functions.Binary, Valid: true, S: string(v.ByteArray())}, nil
		}, nil
	}
	return 0, nil, fmt.Errorf("%w: parquet type %v", ErrUnsupportedParquet, t)
}

// int96Type is what INT96 timestamps read as: microseconds, wall clock,
// as DuckDB (TIMESTAMP) and Spark (the main writer of INT96, whose
// timestamps are microseconds) read them; the microseconds span
// 290,000 years either side of 1970, which INT96 files hold (Spark's
// dates up to 9999 and beyond; nanoseconds end in 2262). A value with
// digits below the microsecond (Impala writes them) is an error of its
// row naming int96NanosType, which a schema may ask for instead.
var int96Type = functions.TimestampOf(functions.Micros, false)

// int96NanosType reads INT96 in nanoseconds (a schema's timestamp_ns):
// exact for the years 1677-2262, an error of its row outside them.
var int96NanosType = functions.TimestampOf(functions.Nanos, false)

func timeUnit(u format.TimeUnit) functions.TimeUnit {
	switch u.Value.(type) {
	case *format.MilliSeconds:
		return functions.Millis
	case *format.NanoSeconds:
		return functions.Nanos
	}
	return functions.Micros
}

// decimalConverter reads DECIMAL(p,s) on INT32, INT64, BYTE_ARRAY or
// FIXED_LEN_BYTE_ARRAY exactly as a decimal of the same precision and
// scale.
func decimalConverter(t parquet.Type, l *format.DecimalType) (functions.Type, func(parquet.Value) (functions.Value, error), error) {
	if l.Precision < 1 || l.Precision > functions.MaxDecimalPrecision || l.Scale < 0 || l.Scale > l.Precision {
		return 0, nil, fmt.Errorf("%w: DECIMAL(%d,%d) (fanout's decimals hold 1 to 38 digits, a scale of 0 to the precision)", ErrUnsupportedParquet, l.Precision, l.Scale)
	}
	typ := functions.DecimalOf(int(l.Precision), int(l.Scale))
	wrap := func(v functions.Value, err error) (functions.Value, error) {
		if err != nil {
			return functions.Value{}, fmt.Errorf("%w: %w", ErrInexactValue, err)
		}
		return v, nil
	}
	switch t.Kind() {
	case parquet.Int32:
		return typ, func(v parquet.Value) (functions.Value, error) {
			return wrap(functions.DecimalFromInt64(typ, int64(v.Int32())))
		}, nil
	case parquet.Int64:
		return typ, func(v parquet.Value) (functions.Value, error) {
			return wrap(functions.DecimalFromInt64(typ, v.Int64()))
		}, nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return typ, func(v parquet.Value) (functions.Value, error) {
			return wrap(functions.DecimalFromTwos(typ, v.ByteArray()))
		}, nil
	}
	return 0, nil, fmt.Errorf("%w: DECIMAL on %v", ErrCorruptParquet, t)
}

// halfFloat widens an IEEE 754 half-precision float to float32 (exactly:
// every half is a float32).
func halfFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: mant * 2^-24
		f := float32(mant) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// int96Value is an INT96 timestamp (nanoseconds of the day in the low 8
// bytes, then the Julian day, signed) in microseconds since the epoch, as
// Spark (and Arrow) read it: days*86400e6 + nanos/1000 in 64-bit
// arithmetic that wraps. Spark writes its microsecond timestamps through
// the same wrapping arithmetic, so that every one of them, years
// -290308 to 294247, reads back as itself: parquet-testing's
// int96_from_spark.parquet holds one near year 290,000 as Julian day
// -105,862,232 and negative nanoseconds. (DuckDB reads that one as a year
// BC: it does not wrap.) A value with digits below the microsecond is an
// error naming int96NanosType; nanoseconds beyond a day are an error.
func int96Value(i deprecated.Int96) (functions.Value, error) {
	nanos, days := int96Parts(i)
	if nanos <= -86400e9 || nanos >= 86400e9 {
		return functions.Value{}, fmt.Errorf("%w: INT96 timestamp with %d nanoseconds in a day", ErrInexactValue, nanos)
	}
	if nanos%1000 != 0 {
		return functions.Value{}, fmt.Errorf("%w: INT96 timestamp with nanoseconds below the microsecond (%d ns into Julian day %d): read the column as %v (--arg schema=)", ErrInexactValue, nanos, int32(i[2]), int96NanosType)
	}
	return functions.Value{Type: int96Type, Valid: true, I: days*86400e6 + nanos/1000}, nil
}

// int96Nanos is an INT96 timestamp in nanoseconds: exact for the years
// 1677-2262, an error outside them.
func int96Nanos(i deprecated.Int96) (functions.Value, error) {
	nanos, days := int96Parts(i)
	const maxDays = math.MaxInt64 / int64(86400e9)
	day := days * 86400e9
	t := day + nanos
	if days >= maxDays || days < -maxDays || (nanos > 0 && t < day) || (nanos < 0 && t > day) {
		return functions.Value{}, fmt.Errorf("%w: INT96 timestamp of Julian day %d is out of the range of nanosecond timestamps (years 1677-2262)", ErrInexactValue, int32(i[2]))
	}
	return functions.Value{Type: int96NanosType, Valid: true, I: t}, nil
}

// int96Parts splits an INT96 timestamp into its nanoseconds of the day
// (signed: Spark writes them negative before 1970 too) and its days since
// the epoch (the Julian day is signed, as Spark reads it).
func int96Parts(i deprecated.Int96) (nanos, days int64) {
	const unixJulianDay = 2440588
	return int64(uint64(i[1])<<32 | uint64(i[0])), int64(int32(i[2])) - unixJulianDay
}

// castValue converts a value of the file's type to the schema's.
func castValue(v functions.Value, to functions.Type) functions.Value {
	switch {
	case v.Type == to || !v.Valid:
		v.Type = to
		return v
	case to == functions.String:
		return functions.StringValue(v.Text())
	case to == functions.Float64 && v.Type.Field() == functions.FieldF:
		return functions.FloatValue(v.F)
	case to == functions.Float64:
		return functions.FloatValue(float64(v.I))
	case to == functions.Int64:
		return functions.IntValue(v.I)
	}
	return v
}

// castable reports whether every value of from converts to to exactly:
// to text, from any integer narrower than 64 bits or any float to
// float64, and from any integer but uint64 to int64. (An int64 to
// float64, which fanout allowed before it had more types, stays allowed.)
func castable(from, to functions.Type) bool {
	switch {
	case from == to || to == functions.String:
		return true
	case to == functions.Float64:
		return from.Field() == functions.FieldF || (from.IsInteger() && from != functions.Uint64)
	case to == functions.Int64:
		return from.IsInteger() && from != functions.Uint64
	}
	return false
}

// pqReader decodes one selected column of the current row group.
type pqReader struct {
	pqColumn
	pageReader
	out  int            // position in the output row
	to   functions.Type // output type
	buf  []parquet.Value
	vals []functions.Value

	rowErrs    []error // shared with parquetInput
	hasRowErrs *bool
}

type parquetInput struct {
	object  string
	file    *parquet.File
	g       *guardedReaderAt
	schema  *functions.Schema
	readers []*pqReader
	nested  []*pqNestedReader

	rg, lastRG int
	rgRow      int64 // rows of the current row group already decoded
	batchRows  int   // rows of the next batch (fewer when nested rows are big)
	rgRows     int64
	rowBase    int64 // file row index of the current row group's first row
	batchN     int
	batchI     int
	started    bool

	rowErrs    []error // conversion errors of the batch's rows
	hasRowErrs bool

	// missing are the schema's columns the file lacks, extra the file's
	// the schema lacks; rows counts the rows returned (Drift).
	missing, extra []string
	rows           int64

	row functions.Row
	// nulls are the row's columns no reader decodes (null in every row).
	nulls []int
	rec   functions.Record
	err   error

	scratch []byte // a compressed page, checked before parquet-go decodes it

	maxPage  int64 // ParquetOptions.MaxPageBytes, the default filled in
	anyRatio bool  // maxPage is above the default: no compression ratio bound
}

// NewParquetInput reads the rows of a Parquet file's row groups [First,
// Last). Record.Offset is the row's index in the file. A corrupt file is
// an error naming the object (a RecordError naming the row once reading
// has begun); sizes the file claims are checked against the file before
// anything is allocated, and a panic inside parquet-go becomes an error.
// The selected column chunks of a row group are fetched together, one
// ReadAt per run of adjacent chunks (up to 256 MiB each; bigger chunks are
// read page by page), so that a ReaderAt doing one ranged GET per call is
// fine; memory holds about one row group's selected columns.
func NewParquetInput(ra io.ReaderAt, size int64, opts ParquetOptions) (functions.Input, error) {
	f, g, err := openParquet(ra, size, opts.Object)
	if err != nil {
		return nil, err
	}
	in := &parquetInput{object: opts.Object, file: f, g: g, batchRows: parquetBatch, maxPage: opts.MaxPageBytes}
	if in.maxPage <= 0 {
		in.maxPage = DefaultMaxPageBytes
	}
	in.anyRatio = in.maxPage > DefaultMaxPageBytes
	n := len(f.Metadata().RowGroups)
	first, last := opts.FirstRowGroup, opts.LastRowGroup
	if last <= 0 {
		last = n
	}
	if first < 0 || first > last || last > n {
		return nil, fmt.Errorf("codec: parquet %q: row groups [%d, %d) out of range (the file has %d)", opts.Object, opts.FirstRowGroup, opts.LastRowGroup, n)
	}
	in.rg, in.lastRG = first, last
	for _, rg := range f.Metadata().RowGroups[:first] {
		in.rowBase += rg.NumRows
	}
	if opts.Schema == nil {
		s, flat, nested, err := fileColumns(f, opts.Object)
		if err != nil {
			return nil, err
		}
		in.schema, in.readers, in.nested = s, flat, nested
	} else {
		in.schema = opts.Schema
		byName := map[string]*parquet.Column{}
		leaves := leafElements(f)
		b := newTreeBuilder(f)
		err := catch(func() error {
			for _, c := range f.Root().Columns() {
				byName[c.Name()] = c
			}
			wanted := map[string]bool{}
			for i, sc := range opts.Schema.Columns {
				wanted[sc.Name] = true
				c, ok := byName[sc.Name]
				if !ok {
					in.missing = append(in.missing, sc.Name)
					continue
				}
				if !c.Leaf() || c.Repeated() || c.MaxRepetitionLevel() > 0 {
					root, err := b.column(c)
					if err != nil {
						return err
					}
					// A nested column reads as its own type, as a wider
					// one (the union of several files' schemas), or as
					// its JSON text.
					asText := sc.Type == functions.String
					same := root.column.SameType(sc)
					if !same && !asText && !nestedCastable(root.column, sc) {
						return fmt.Errorf("%w: column %q is %s in the file; the schema says %s", ErrNestedColumn, sc.Name, root.column.TypeString(), sc.TypeString())
					}
					r := b.newNestedReader(root, i)
					r.asText = asText
					if !same && !asText {
						to := sc
						r.castTo = &to
					}
					in.nested = append(in.nested, r)
					continue
				}
				if sc.IsNested() {
					return fmt.Errorf("%w: column %q is %v in the file; the schema says %s", ErrNestedColumn, sc.Name, c.Type(), sc.TypeString())
				}
				t, conv, err := leafConverter(c, leaves)
				if err != nil {
					return &ColumnError{Column: sc.Name, RowGroup: -1, Err: err}
				}
				if c.Type().Kind() == parquet.Int96 && sc.Type == int96NanosType {
					t, conv = int96NanosType, func(v parquet.Value) (functions.Value, error) { return int96Nanos(v.Int96()) }
				}
				if !castable(t, sc.Type) {
					return fmt.Errorf("column %q is %v in the file; the schema says %v", sc.Name, t, sc.Type)
				}
				in.readers = append(in.readers, &pqReader{pqColumn: pqColumn{name: sc.Name, leaf: c.Index(), typ: t, conv: conv, required: c.Required()}, out: i, to: sc.Type})
			}
			for _, c := range f.Root().Columns() {
				if !wanted[c.Name()] {
					in.extra = append(in.extra, c.Name())
				}
			}
			return nil
		})
		if err != nil {
			return nil, parquetErr(opts.Object, err)
		}
	}
	in.row = make(functions.Row, len(in.schema.Columns))
	in.rec.Row = in.row
	// Next overwrites the columns a reader decodes; the others are null.
	covered := make([]bool, len(in.schema.Columns))
	for _, r := range in.readers {
		covered[r.out] = true
	}
	for _, r := range in.nested {
		covered[r.out] = true
	}
	for c, ok := range covered {
		if !ok {
			in.nulls = append(in.nulls, c)
		}
	}
	in.rec.Object = opts.Object
	in.rowErrs = make([]error, parquetBatch)
	for _, r := range in.readers {
		r.rowErrs = in.rowErrs
		r.hasRowErrs = &in.hasRowErrs
		r.buf = make([]parquet.Value, parquetBatch)
		r.vals = make([]functions.Value, parquetBatch)
	}
	for _, r := range in.nested {
		r.rowErrs = in.rowErrs
		r.hasRowErrs = &in.hasRowErrs
	}
	return in, nil
}

func (in *parquetInput) Schema() *functions.Schema { return in.schema }

func (in *parquetInput) Next() (*functions.Record, error) {
	if in.err != nil {
		return nil, in.err
	}
	for in.batchI >= in.batchN {
		if err := in.fill(); err != nil {
			in.err = err
			in.closePages()
			return nil, err
		}
	}
	i := in.batchI
	in.batchI++
	in.rec.Offset = in.rowBase + in.rgRow - int64(in.batchN) + int64(i)
	if in.hasRowErrs && in.rowErrs[i] != nil {
		return nil, &functions.RecordError{Object: in.object, Offset: in.rec.Offset, Err: in.rowErrs[i], Skippable: true}
	}
	for _, c := range in.nulls {
		in.row[c] = functions.Null(in.schema.Columns[c].Type)
	}
	for _, r := range in.readers {
		in.row[r.out] = r.vals[i]
	}
	for _, r := range in.nested {
		v := r.vals[i]
		switch {
		case r.asText && v.Valid:
			r.text = r.root.column.AppendJSON(r.text[:0], v)
			v = functions.StringValue(string(r.text))
		case r.castTo != nil:
			v = r.cast(v, r.root.column, *r.castTo)
		}
		in.row[r.out] = v
	}
	in.rows++
	return &in.rec, nil
}

// fill decodes the next batch of rows, moving to the next row group when
// the current one is done.
func (in *parquetInput) fill() error {
	md := in.file.Metadata()
	if !in.started || in.rgRow >= in.rgRows {
		if in.started {
			in.closePages()
			in.rowBase += in.rgRows
			in.rg++
		}
		for {
			if in.rg >= in.lastRG {
				return io.EOF
			}
			in.started = true
			in.rgRow, in.batchN, in.batchI = 0, 0, 0
			in.rgRows = md.RowGroups[in.rg].NumRows
			if in.rgRows < 0 {
				return in.corrupt(in.rowBase, fmt.Errorf("row group %d claims %d rows", in.rg, in.rgRows))
			}
			if in.rgRows > 0 {
				break
			}
			in.rg++
		}
		if err := in.openRowGroup(); err != nil {
			return err
		}
	}
	n := int(min(int64(in.batchRows), in.rgRows-in.rgRow))
	first := in.rowBase + in.rgRow
	if in.hasRowErrs {
		clear(in.rowErrs)
		in.hasRowErrs = false
	}
	for _, r := range in.readers {
		if err := catch(func() error { return r.read(n) }); err != nil {
			return in.corrupt(first, &ColumnError{Column: r.name, RowGroup: -1, Err: err})
		}
	}
	last := in.rgRow+int64(n) == in.rgRows
	entries := 0
	for _, r := range in.nested {
		if err := catch(func() error { return r.read(n, last) }); err != nil {
			return in.corrupt(first, &ColumnError{Column: r.name, RowGroup: in.rg, Err: err})
		}
		for _, l := range r.leaves {
			entries += len(l.ents)
		}
	}
	// Nested columns' batches hold all their rows' entries: fewer rows
	// a batch while they are big (down to one row, whatever it holds),
	// more again when they are small.
	switch {
	case entries > maxBatchEntries:
		in.batchRows = max(1, n/2)
	case entries < maxBatchEntries/4 && in.batchRows < parquetBatch:
		in.batchRows = min(parquetBatch, 2*in.batchRows)
	}
	in.rgRow += int64(n)
	in.batchN, in.batchI = n, 0
	return nil
}

// corrupt reports a decoding error: an I/O error as itself (retrying may
// help), anything else as a RecordError at row.
func (in *parquetInput) corrupt(row int64, err error) error {
	if in.g.ioErr != nil {
		return parquetErr(in.object, in.g.ioErr)
	}
	return &functions.RecordError{Object: in.object, Offset: row, Err: fmt.Errorf("%w: %w", ErrCorruptParquet, err)}
}

// refuse reports what fanout does not read, at the row group's first row.
func (in *parquetInput) refuse(err error) error {
	return &functions.RecordError{Object: in.object, Offset: in.rowBase, Err: err}
}

// openRowGroup checks the page headers of the selected column chunks and
// opens their pages.
func (in *parquetInput) openRowGroup() error {
	md := in.file.Metadata()
	rg := &md.RowGroups[in.rg]
	chunks := in.file.RowGroups()[in.rg].ColumnChunks()
	var ranges [][2]int64
	chunkReaders := in.chunkReaders()
	for _, r := range chunkReaders {
		if r.leaf < 0 || r.leaf >= len(rg.Columns) || r.leaf >= len(chunks) {
			return in.corrupt(in.rowBase, fmt.Errorf("row group %d has no column %q", in.rg, r.name))
		}
		cc := &rg.Columns[r.leaf].MetaData
		if r.required && cc.Statistics.NullCount > 0 {
			return in.corrupt(in.rowBase, fmt.Errorf("required column %q claims %d nulls in row group %d", r.name, cc.Statistics.NullCount, in.rg))
		}
		// A nested leaf holds an entry for each row at least (an
		// element, a null, an empty list).
		if cc.NumValues != in.rgRows && (!r.nested || cc.NumValues < in.rgRows) {
			return in.corrupt(in.rowBase, fmt.Errorf("column %q holds %d values for %d rows in row group %d", r.name, cc.NumValues, in.rgRows, in.rg))
		}
		start, end := chunkRange(cc)
		if start < 4 || cc.TotalCompressedSize < 0 || end > in.g.tailOff || end < start {
			return in.corrupt(in.rowBase, fmt.Errorf("column %q in row group %d: chunk [%d, %d) lies outside the file's data [4, %d)", r.name, in.rg, start, end, in.g.tailOff))
		}
		ranges = append(ranges, [2]int64{start, end})
	}
	// Fetch the selected column chunks with as few reads as possible: the
	// page checks and parquet-go then read from memory.
	slices.SortFunc(ranges, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	in.g.patches = in.g.patches[:0]
	if err := in.g.load(ranges); err != nil {
		return in.corrupt(in.rowBase, err)
	}
	var open int64
	for _, r := range chunkReaders {
		cc := &rg.Columns[r.leaf].MetaData
		codec := cc.Codec
		isLZ4 := in.g.lz4[chunkID{in.rg, r.leaf}]
		if isLZ4 {
			codec = format.Lz4
		}
		headers, largest, translate, err := in.checkPages(cc, codec, r.p.headers[:0])
		if err != nil {
			if errors.Is(err, ErrUnsupportedParquet) && in.g.ioErr == nil {
				// A limit of fanout's (a page's size, a compression
				// ratio), not a corrupt file.
				return in.refuse(&ColumnError{Column: r.name, RowGroup: in.rg, Err: err})
			}
			return in.corrupt(in.rowBase, &ColumnError{Column: r.name, RowGroup: in.rg, Err: err})
		}
		if open += largest; open > openPagesPerPage*in.maxPage {
			return in.refuse(fmt.Errorf("row group %d: %w: the largest pages of the columns read hold more than %d bytes uncompressed, which the reader would hold at once (%d times the page limit; raise it with --arg max_page_size=%s)", in.rg, ErrUnsupportedParquet, openPagesPerPage*in.maxPage, openPagesPerPage, suggestPageSize(open/openPagesPerPage+1)))
		}
		r.p.headers, r.p.pageIdx, r.p.pageValues, r.p.pageNulls, r.p.pageRows = headers, 0, 0, 0, 0
		if isLZ4 || translate {
			if err := in.openTranslated(r.name, r.p, cc, chunks[r.leaf], isLZ4); err != nil {
				return err
			}
			continue
		}
		if err := catch(func() error { r.p.pages = chunks[r.leaf].Pages(); return nil }); err != nil {
			return in.corrupt(in.rowBase, err)
		}
	}
	for _, nr := range in.nested {
		for _, l := range nr.leaves {
			l.reset()
		}
	}
	return nil
}

// chunkReader is the reader of one column chunk of the row group.
type chunkReader struct {
	leaf     int
	name     string
	p        *pageReader
	required bool // a flat required column
	nested   bool
}

// chunkReaders lists the readers of every column chunk read: the flat
// columns' and the nested columns' leaves.
func (in *parquetInput) chunkReaders() []chunkReader {
	var rs []chunkReader
	for _, r := range in.readers {
		rs = append(rs, chunkReader{leaf: r.leaf, name: r.name, p: &r.pageReader, required: r.required})
	}
	for _, nr := range in.nested {
		for _, l := range nr.leaves {
			rs = append(rs, chunkReader{leaf: l.node.col.Index(), name: l.name, p: &l.pageReader, nested: true})
		}
	}
	return rs
}

// openTranslated opens the pages of a column chunk that parquet-go reads
// only as translateChunk rewrites it: parquet-go reads the rewritten
// chunk from memory, at the chunk's offset, with the chunk's sizes in its
// (this reader's own) metadata changed to the rewritten chunk's.
func (in *parquetInput) openTranslated(name string, p *pageReader, cc *format.ColumnMetaData, chunk parquet.ColumnChunk, isLZ4 bool) error {
	fc, ok := chunk.(*parquet.FileColumnChunk)
	if !ok {
		return in.corrupt(in.rowBase, fmt.Errorf("column %q: parquet-go gives no file column chunk", name))
	}
	var data []byte
	var dataOff int64
	err := catch(func() (err error) {
		data, dataOff, err = in.translateChunk(cc, isLZ4)
		return err
	})
	if err != nil {
		return in.corrupt(in.rowBase, &ColumnError{Column: name, RowGroup: in.rg, Err: err})
	}
	start, _ := chunkRange(cc)
	if cc.DictionaryPageOffset != 0 {
		cc.DataPageOffset = start + dataOff
	}
	cc.TotalCompressedSize = int64(len(data))
	return catch(func() error {
		p.pages = fc.PagesFrom(&memReaderAt{off: start, data: data})
		return nil
	})
}

// memReaderAt serves data as the bytes at off.
type memReaderAt struct {
	off  int64
	data []byte
}

func (m *memReaderAt) ReadAt(p []byte, off int64) (int, error) {
	i := off - m.off
	if i < 0 || i > int64(len(m.data)) {
		return 0, fmt.Errorf("read at offset %d outside the column chunk: %w", off, ErrCorruptParquet)
	}
	n := copy(p, m.data[i:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// chunkRange is where a column chunk's pages lie, as parquet-go reads it.
func chunkRange(cc *format.ColumnMetaData) (start, end int64) {
	start = cc.DataPageOffset
	if cc.DictionaryPageOffset != 0 {
		start = cc.DictionaryPageOffset
	}
	return start, start + cc.TotalCompressedSize
}

// pageCounts is what a data page header claims: its values (nulls
// included) and, for a V2 page, its nulls and rows (-1 when unknown).
type pageCounts struct{ values, nulls, rows int64 }

// checkPages walks the page headers of a column chunk, checking that each
// page lies inside the chunk and claims plausible sizes, so that parquet-go
// never allocates what a corrupt header says. It appends each data page's
// counts to headers, for read to check the decoder's output against.
func (in *parquetInput) checkPages(cc *format.ColumnMetaData, codec format.CompressionCodec, headers []pageCounts) (_ []pageCounts, largest int64, translate bool, err error) {
	start, end := chunkRange(cc)
	var values int64
	hdr := make([]byte, 0, 256)
	for pos := start; pos < end; {
		window := min(int64(256), end-pos)
		var hlen int
		var typ, comp, uncomp, nvals, nnulls, nrows int64 = -1, -1, -1, 0, -1, -1
		var uncompAt, uncompEnd int // where uncompressed_page_size lies in hdr
		var levels int64            // V2: level bytes before the (compressed) values
		compressed := int64(1)      // V2: is_compressed, true unless it says
		for {
			hdr = hdr[:window]
			if _, err := in.g.ReadAt(hdr, pos); err != nil {
				return nil, 0, false, err
			}
			var tc thriftCheck
			tc = thriftCheck{b: hdr, maxAlloc: 2 * maxPageHeaderBytes, visit: func(parent, field int16, v int64) {
				switch {
				case parent == 0 && field == 1:
					typ = v
				case parent == 0 && field == 2:
					uncomp, uncompAt, uncompEnd = v, tc.valueAt, tc.i
				case parent == 0 && field == 3:
					comp = v
				case (parent == 5 || parent == 7 || parent == 8) && field == 1:
					nvals = v
				case parent == 8 && field == 2:
					nnulls = v
				case parent == 8 && field == 3:
					nrows = v
				case parent == 8 && (field == 5 || field == 6):
					levels += max(v, 0)
				case parent == 8 && field == 7:
					compressed = v
				}
			}}
			n, err := tc.structLen()
			if err == nil {
				hlen = n
				break
			}
			if !errors.Is(err, errThriftShort) || window >= end-pos || window >= maxPageHeaderBytes {
				return nil, 0, false, fmt.Errorf("page header at %d: %w", pos, err)
			}
			window = min(window*4, end-pos, maxPageHeaderBytes)
			if int64(cap(hdr)) < window {
				hdr = make([]byte, 0, window)
			}
		}
		if over := pos + int64(hlen) + comp - end; over > 0 && over <= parquet816Padding && end+over <= in.g.tailOff && parquetMRBefore129(in.file.Metadata().CreatedBy) {
			end += over // PARQUET-816: the chunk is that much longer
			cc.TotalCompressedSize += over
		}
		switch {
		case comp < 0 || uncomp < 0 || typ < 0:
			return nil, 0, false, fmt.Errorf("page header at %d lacks its type or sizes", pos)
		case comp > in.maxPage || uncomp > in.maxPage:
			return nil, 0, false, fmt.Errorf("%w: page at %d claims %d bytes (%d uncompressed), more than the %d allowed (a page is held whole in memory; raise it with --arg max_page_size=%s)", ErrUnsupportedParquet, pos, comp, uncomp, in.maxPage, suggestPageSize(max(comp, uncomp)))
		case pos+int64(hlen)+comp > end:
			return nil, 0, false, fmt.Errorf("page at %d (%d bytes) runs past the column chunk's end at %d", pos, comp, end)
		case nvals < 0 || nvals > maxPageValues:
			return nil, 0, false, fmt.Errorf("page at %d claims %d values", pos, nvals)
		}
		if err := in.checkCompression(codec, pos+int64(hlen), comp, uncomp, levels, compressed != 0); err != nil {
			return nil, 0, false, err
		}
		if codec != format.Uncompressed && compressed != 0 && comp == levels && typ == int64(format.DataPageV2) {
			translate = true // no value bytes to decompress: translateChunk
		}
		if codec == format.Lz4Raw && compressed != 0 && uncomp > levels {
			in.lz4RawWorkaround(pos+int64(uncompAt), hdr[uncompAt:uncompEnd], uncomp-levels-1)
		}
		largest = max(largest, uncomp)
		if typ == int64(format.DataPage) || typ == int64(format.DataPageV2) {
			values += nvals
			headers = append(headers, pageCounts{values: nvals, nulls: nnulls, rows: nrows})
		}
		pos += int64(hlen) + comp
	}
	if values != cc.NumValues {
		return nil, 0, false, fmt.Errorf("pages hold %d values, the chunk claims %d", values, cc.NumValues)
	}
	return headers, largest, translate, nil
}

// maxCompressionRatio bounds how much bigger than its compressed bytes a
// page may claim to be (after the first maxPageSlack bytes): what the
// page header claims is what parquet-go allocates before decompressing.
// Pages of repetitive data reach thousands (fanout's own writer makes a
// 4 MiB dictionary page of 856 zstd bytes in TestParquetWriterDictionaryMemory);
// zstd itself tops out near 32,768 (a 128 KiB block of one byte).
const (
	maxCompressionRatio = 1 << 15
	maxPageSlack        = 1 << 20
)

// checkCompression checks a page's sizes against its codec before
// parquet-go allocates by them: an uncompressed page holds what it claims;
// a compressed one claims at most maxCompressionRatio times its bytes and
// decompresses to at most twice that and maxPageSlack (decompressedBound),
// and a snappy one's own length prefix (which snappy allocates by, up to
// 4 GiB) must agree with its header. levels is the V2 level bytes, stored
// uncompressed before the values; data starts at off.
func (in *parquetInput) checkCompression(codec format.CompressionCodec, off, comp, uncomp, levels int64, compressed bool) error {
	if levels > comp || levels > uncomp {
		return fmt.Errorf("page at %d claims %d bytes of levels in %d bytes", off, levels, comp)
	}
	if codec == format.Uncompressed || !compressed {
		if uncomp != comp {
			return fmt.Errorf("uncompressed page at %d claims %d bytes and holds %d", off, uncomp, comp)
		}
		return nil
	}
	if !in.anyRatio && uncomp-levels > maxPageSlack && (uncomp-levels)/maxCompressionRatio > comp-levels {
		return fmt.Errorf("%w: page at %d claims %d bytes from %d compressed, a ratio above the %d fanout allows (a larger --arg max_page_size than the default %s lifts this bound)", ErrUnsupportedParquet, off, uncomp, comp, maxCompressionRatio, suggestPageSize(DefaultMaxPageBytes))
	}
	switch codec {
	case format.Zstd, format.Gzip, format.Brotli, format.Lz4Raw:
		// What parquet-go decompresses it into grows past the header's
		// size: bound what it can grow to.
		if cap(in.scratch) < int(comp-levels) {
			in.scratch = make([]byte, comp-levels)
		}
		data := in.scratch[:comp-levels]
		if _, err := in.g.ReadAt(data, off+levels); err != nil && err != io.EOF {
			return err
		}
		limit := 2*(uncomp-levels) + maxPageSlack
		bound, err := decompressedBound(codec, data, limit)
		if err != nil {
			return fmt.Errorf("page at %d: %w", off, err)
		}
		if bound > limit {
			return fmt.Errorf("%s page at %d decompresses to more than %d bytes, its header says %d", codec, off, limit, uncomp-levels)
		}
		if codec == format.Lz4Raw && bound != uncomp-levels {
			return fmt.Errorf("LZ4_RAW page at %d decompresses to %d bytes, its header says %d", off, bound, uncomp-levels)
		}
	}
	if codec == format.Snappy && comp > levels {
		var b [binary.MaxVarintLen32]byte
		n, err := in.g.ReadAt(b[:min(int64(len(b)), comp-levels)], off+levels)
		if err != nil && err != io.EOF {
			return err
		}
		if size, k := binary.Uvarint(b[:n]); k <= 0 || int64(size) != uncomp-levels {
			return fmt.Errorf("snappy page at %d says it holds %d bytes, its header %d", off, size, uncomp-levels)
		}
	}
	return nil
}

// lz4RawWorkaround works around a bug of parquet-go v0.32: when its
// LZ4_RAW codec decompresses a page into a buffer of its own (it does
// when the pooled buffer it is given holds less than three times the
// compressed bytes), and the result is exactly as long as the header's
// uncompressed size (or shorter: V2 pages, whose levels are not
// compressed), parquet-go keeps its pooled buffer, unwritten, and decodes
// that: every value of lz4_raw_compressed_larger.parquet came out "". It
// keeps the codec's buffer when the result is longer than the header
// says. So the reader serves parquet-go this page header with its
// uncompressed_page_size set to one less than the decompressed values
// (want), in as many varint bytes as the original; checkCompression has
// checked that the page decompresses to exactly what its header says, and
// read checks the values decoded against the header. TestParquetCorpus
// compares both LZ4_RAW files of the corpus with DuckDB.
func (in *parquetInput) lz4RawWorkaround(at int64, old []byte, want int64) {
	b := make([]byte, len(old))
	u := uint64(want<<1) ^ uint64(want>>63) // zigzag, as Thrift's compact i32
	for i := range b {
		b[i] = byte(u & 0x7f)
		u >>= 7
		if i < len(b)-1 {
			b[i] |= 0x80 // padded: the same length as the original varint
		}
	}
	in.g.patches = append(in.g.patches, patch{off: at, b: b})
}

// read decodes the next n values of the column into vals.
func (r *pqReader) read(n int) error {
	got := 0
	stalls := 0
	for got < n {
		k, end, err := r.next(r.buf[:n-got])
		if err == io.EOF {
			return fmt.Errorf("column ends early (%d of %d values in this batch)", got, n)
		}
		if err != nil {
			return err
		}
		for i, v := range r.buf[:k] {
			var fv functions.Value
			if v.IsNull() {
				if r.required {
					return fmt.Errorf("data page %d: a null in a required column", r.pageIdx)
				}
				r.pageNulls++
				fv = functions.Null(r.to)
			} else {
				var cerr error
				if fv, cerr = r.conv(v); cerr != nil {
					// Report it when the row is reached, after the rows before it.
					if r.rowErrs[got+i] == nil {
						r.rowErrs[got+i] = &ColumnError{Column: r.name, RowGroup: -1, Err: cerr}
						*r.hasRowErrs = true
					}
					fv = functions.Null(r.to)
				} else if fv.Type != r.to {
					// castValue of a value of type r.to is that value.
					fv = castValue(fv, r.to)
				}
			}
			r.vals[got+i] = fv
		}
		clear(r.buf[:k])
		got += k
		switch {
		case end:
			if err := r.pageDone(); err != nil {
				return err
			}
		case k == 0:
			if stalls++; stalls > 3 {
				return errors.New("page yields no values")
			}
		}
	}
	return nil
}

func (in *parquetInput) closePages() {
	in.g.cache = nil
	for _, r := range in.readers {
		r.close()
	}
	for _, nr := range in.nested {
		for _, l := range nr.leaves {
			l.close()
		}
	}
}
