package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// Copying row groups: a Parquet file this package wrote can be appended to
// a writer of the same schema without decoding a value. A column chunk's
// pages (headers, levels, compressed values, CRCs) hold no file offsets;
// only the footer's column metadata does, so a row group is its bytes
// copied as they are and its metadata with the offsets moved. The row
// groups stay as the source wrote them (their rows, statistics and
// dictionaries), which is what the compaction stage wants when the map
// files' row groups are not tiny: merging row groups into bigger ones
// would need their dictionaries merged and their pages decoded.

// ErrNotCopyable says that a Parquet file's row groups cannot be appended
// as they are to a writer (another schema, another codec, a file another
// writer wrote, page indexes or bloom filters): the caller decodes its
// rows instead. Nothing was written.
var ErrNotCopyable = errors.New("codec: parquet row groups not copyable")

// copyBufferBytes is the most a copy reads at once (one ranged GET on an
// object store).
const copyBufferBytes = 4 << 20

// ParquetRowGroups is a Parquet file written by this package's writer,
// its footer read and checked: what RowGroupCopier appends.
type ParquetRowGroups struct {
	ra     io.ReaderAt
	object string
	meta   format.FileMetaData
	spans  [][2]int64 // each row group's bytes, [start, end)
}

// OpenParquetRowGroups reads the footer of the Parquet file in ra (size
// bytes; object names it in errors) and checks that its row groups can be
// copied: written by fanout, each row group's column chunks one after the
// other inside the file, without page indexes or bloom filters. It
// returns ErrNotCopyable for a file that is valid but not of that kind,
// and ErrCorruptParquet for one whose footer does not hold together.
func OpenParquetRowGroups(ra io.ReaderAt, size int64, object string) (*ParquetRowGroups, error) {
	corrupt := func(format string, a ...any) error {
		return parquetErr(object, fmt.Errorf("%w: "+format, append([]any{ErrCorruptParquet}, a...)...))
	}
	if size < 12 {
		return nil, corrupt("%d bytes is too small for a Parquet file", size)
	}
	tail := make([]byte, min(size, footerGuessBytes))
	if _, err := ra.ReadAt(tail, size-int64(len(tail))); err != nil {
		return nil, parquetErr(object, err)
	}
	foot := tail[len(tail)-8:]
	if string(foot[4:]) != "PAR1" {
		return nil, fmt.Errorf("%s: %w: no PAR1 magic at its end", object, ErrNotCopyable)
	}
	footerLen := int64(binary.LittleEndian.Uint32(foot[:4]))
	if footerLen > size-12 || footerLen == 0 {
		return nil, corrupt("footer length %d does not fit a file of %d bytes", footerLen, size)
	}
	if footerLen > maxFooterBytes {
		return nil, fmt.Errorf("%s: %w: a footer of %d bytes", object, ErrNotCopyable, footerLen)
	}
	if int64(len(tail)) < footerLen+8 {
		tail = make([]byte, footerLen+8)
		if _, err := ra.ReadAt(tail, size-footerLen-8); err != nil {
			return nil, parquetErr(object, err)
		}
	}
	footer := tail[int64(len(tail))-footerLen-8 : int64(len(tail))-8]
	tc := thriftCheck{b: footer, maxAlloc: footerAllocBase + footerAllocPerByte*footerLen}
	if _, err := tc.structLen(); err != nil {
		return nil, corrupt("footer: %w", err)
	}
	p := &ParquetRowGroups{ra: ra, object: object}
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), footer, &p.meta); err != nil {
		return nil, corrupt("footer: %w", err)
	}
	m := &p.meta
	notCopyable := func(why string, a ...any) error {
		return fmt.Errorf("%s: %w: %s", object, ErrNotCopyable, fmt.Sprintf(why, a...))
	}
	if m.CreatedBy != createdBy {
		return nil, notCopyable("written by %q", m.CreatedBy)
	}
	if len(m.RowGroups) > parquet.MaxRowGroups {
		return nil, corrupt("%d row groups", len(m.RowGroups))
	}
	dataEnd := size - footerLen - 8
	var rows int64
	prevEnd := int64(4)
	for i := range m.RowGroups {
		rg := &m.RowGroups[i]
		if rg.NumRows <= 0 || len(rg.Columns) == 0 {
			return nil, corrupt("row group %d: %d rows, %d columns", i, rg.NumRows, len(rg.Columns))
		}
		var start, end int64
		for j := range rg.Columns {
			cc := &rg.Columns[j]
			md := &cc.MetaData
			if cc.FilePath != "" || cc.OffsetIndexOffset != 0 || cc.ColumnIndexOffset != 0 || cc.EncryptedColumnMetadata != nil ||
				md.IndexPageOffset != 0 || md.BloomFilterOffset != 0 {
				return nil, notCopyable("row group %d column %d has an external file, a page index or a bloom filter", i, j)
			}
			first := md.DataPageOffset
			if md.DictionaryPageOffset > 0 {
				if md.DictionaryPageOffset >= md.DataPageOffset {
					return nil, corrupt("row group %d column %d: dictionary page at %d, data pages at %d", i, j, md.DictionaryPageOffset, md.DataPageOffset)
				}
				first = md.DictionaryPageOffset
			}
			last := first + md.TotalCompressedSize
			if md.TotalCompressedSize <= 0 || first < prevEnd || last > dataEnd || md.DataPageOffset >= last {
				return nil, corrupt("row group %d column %d: bytes [%d, %d) not after %d and inside [4, %d)", i, j, first, last, prevEnd, dataEnd)
			}
			if j == 0 {
				start = first
			} else if first != end {
				return nil, notCopyable("row group %d: column %d starts at %d, not where column %d ends (%d)", i, j, first, j-1, end)
			}
			end, prevEnd = last, last
		}
		rows += rg.NumRows
		p.spans = append(p.spans, [2]int64{start, end})
	}
	if rows != m.NumRows {
		return nil, corrupt("the footer counts %d rows, its row groups %d", m.NumRows, rows)
	}
	return p, nil
}

// Rows counts the file's rows.
func (p *ParquetRowGroups) Rows() int64 { return p.meta.NumRows }

// RowGroups counts the file's row groups.
func (p *ParquetRowGroups) RowGroups() int { return len(p.meta.RowGroups) }

// UncompressedBytes sums the row groups' uncompressed column data.
func (p *ParquetRowGroups) UncompressedBytes() int64 {
	var n int64
	for _, rg := range p.meta.RowGroups {
		n += rg.TotalByteSize
	}
	return n
}

// RowGroupCopier is a Writer that appends the row groups of another file
// as they are (the Parquet writer).
type RowGroupCopier interface {
	Writer
	// CopyRowGroups ends the open row group and appends src's row groups
	// after it, their pages byte for byte, and returns the rows they hold.
	// It returns ErrNotCopyable, having written nothing of src, when src's
	// schema, columns or codec differ from the writer's. Another error
	// (reading src) leaves the writer failed.
	CopyRowGroups(src *ParquetRowGroups) (int64, error)
}

var _ RowGroupCopier = (*parquetWriter)(nil)

// createdBy is what the writer's footer names as its writer.
const createdBy = "fanout"

// footerSchema is the schema the writer's footer holds.
func (w *parquetWriter) footerSchema() []format.SchemaElement {
	s := make([]format.SchemaElement, 0, len(w.cols)+1)
	s = append(s, format.SchemaElement{Name: "fanout", NumChildren: thrift.New(int32(len(w.top)))})
	for _, n := range w.top {
		s = n.appendSchema(s)
	}
	return s
}

// CopyRowGroups implements RowGroupCopier.
func (w *parquetWriter) CopyRowGroups(src *ParquetRowGroups) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("codec: parquet copy into a closed writer")
	}
	if err := w.copyable(src); err != nil {
		return 0, err
	}
	if err := w.EndRowGroup(); err != nil {
		return 0, err
	}
	var rows int64
	buf := make([]byte, min(copyBufferBytes, maxSpan(src.spans)))
	for i, span := range src.spans {
		delta := w.off - span[0]
		for off := span[0]; off < span[1]; {
			n := min(int64(len(buf)), span[1]-off)
			if _, err := src.ra.ReadAt(buf[:n], off); err != nil {
				w.err = parquetErr(src.object, fmt.Errorf("copying row group %d: %w", i, err))
				return 0, w.err
			}
			w.write(buf[:n])
			off += n
		}
		if w.err != nil {
			return 0, w.err
		}
		rg := src.meta.RowGroups[i]
		rg.Columns = slices.Clone(rg.Columns)
		for j := range rg.Columns {
			md := &rg.Columns[j].MetaData
			md.DataPageOffset += delta
			if md.DictionaryPageOffset > 0 {
				md.DictionaryPageOffset += delta
			}
			if rg.Columns[j].FileOffset != 0 {
				rg.Columns[j].FileOffset += delta
			}
		}
		rg.FileOffset = span[0] + delta
		rg.Ordinal = int16(min(len(w.groups), math.MaxInt16))
		w.groups = append(w.groups, rg)
		w.rows += rg.NumRows
		rows += rg.NumRows
	}
	return rows, nil
}

// copyable checks that src's row groups fit w's file: the same schema
// (every element, as the footer would hold it), and each column chunk of
// the leaf, physical type and codec w writes.
func (w *parquetWriter) copyable(src *ParquetRowGroups) error {
	marshal := func(s []format.SchemaElement) ([]byte, error) {
		return thrift.Marshal(new(thrift.CompactProtocol), &format.FileMetaData{Schema: s})
	}
	mine, err := marshal(w.footerSchema())
	if err != nil {
		return fmt.Errorf("codec: parquet schema: %w", err)
	}
	theirs, err := marshal(src.meta.Schema)
	if err != nil || !bytes.Equal(mine, theirs) {
		return fmt.Errorf("%s: %w: its schema is not the writer's", src.object, ErrNotCopyable)
	}
	if len(src.meta.ColumnOrders) != len(w.cols) {
		return fmt.Errorf("%s: %w: %d column orders for %d columns", src.object, ErrNotCopyable, len(src.meta.ColumnOrders), len(w.cols))
	}
	codec := w.codec.CompressionCodec()
	for i, rg := range src.meta.RowGroups {
		if len(rg.Columns) != len(w.cols) {
			return fmt.Errorf("%s: %w: row group %d has %d columns, the writer %d", src.object, ErrNotCopyable, i, len(rg.Columns), len(w.cols))
		}
		for j, cc := range rg.Columns {
			c, md := w.cols[j], &cc.MetaData
			if md.Type != c.phys || md.Codec != codec || !slices.Equal(md.PathInSchema, c.path) {
				return fmt.Errorf("%s: %w: row group %d column %d is %v %v %q, the writer's %v %v %q", src.object, ErrNotCopyable, i, j,
					md.Type, md.Codec, md.PathInSchema, c.phys, codec, c.path)
			}
		}
	}
	return nil
}

func maxSpan(spans [][2]int64) int64 {
	var n int64 = 1
	for _, s := range spans {
		n = max(n, s[1]-s[0])
	}
	return n
}
