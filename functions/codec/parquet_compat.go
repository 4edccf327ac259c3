package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// What parquet-go v0.32 cannot read, fanout translates before it sees it:
//
//   - A footer whose KeyValue metadata lacks a value (optional in the
//     Parquet format, required in parquet-go's Thrift definitions:
//     parquet-testing's column_chunk_key_value_metadata.parquet) gets an
//     empty value, and column chunks of the deprecated LZ4 codec (5), which
//     parquet-go does not decompress, are declared UNCOMPRESSED in the
//     footer that parquet-go reads (repairFooter); the reader serves
//     parquet-go that footer instead of the file's.
//   - The pages of those LZ4 column chunks are decompressed by fanout, as
//     Arrow reads them: Hadoop's framing (blocks each after their
//     decompressed and compressed sizes, big-endian), or else one raw LZ4
//     block (what Arrow wrote under that codec before 2021). A V2 data
//     page of a compressed column whose values take no bytes (all nulls)
//     is declared uncompressed: parquet-go would give its zero bytes to
//     the codec (snappy refuses them). translateChunk serves parquet-go
//     the column chunk with those pages and their headers rewritten, each
//     CRC checked first.

// tfield is one field of a Thrift compact-protocol struct, parsed only as
// deep as repairFooter needs: structs and lists of structs are parsed,
// any other value is kept as its bytes.
type tfield struct {
	id    int16
	typ   byte       // compact type; a boolean field's value is its type (1 true, 2 false)
	raw   []byte     // the value's bytes, for other values
	st    []tfield   // a struct's fields (typ 12)
	elems [][]tfield // a list of structs (typ 9 or 10, elements 12)
}

func (t *thriftCheck) parseStruct(depth int) ([]tfield, error) {
	if depth > maxThriftDepth {
		return nil, errors.New("thrift: nested too deep")
	}
	var fields []tfield
	var id int16
	for {
		h, err := t.byte()
		if err != nil {
			return nil, err
		}
		typ := h & 0x0f
		if typ == 0 {
			return fields, nil
		}
		if d := h >> 4; d != 0 {
			id += int16(d)
		} else {
			v, err := t.varint()
			if err != nil {
				return nil, err
			}
			id = int16(v)
		}
		f := tfield{id: id, typ: typ}
		start := t.i
		switch typ {
		case 1, 2:
		case 12:
			if f.st, err = t.parseStruct(depth + 1); err != nil {
				return nil, err
			}
		case 9, 10:
			h, err := t.byte()
			if err != nil {
				return nil, err
			}
			n := uint64(h >> 4)
			if n == 15 {
				if n, err = t.uvarint(); err != nil {
					return nil, err
				}
			}
			if n > t.remaining() {
				return nil, fmt.Errorf("%w: list of %d elements with %d bytes left", errThriftShort, n, t.remaining())
			}
			if h&0x0f != 12 {
				t.i = start
				if err := t.skip(typ, depth+1, false); err != nil {
					return nil, err
				}
				f.raw = t.b[start:t.i]
				break
			}
			f.elems = make([][]tfield, 0, n)
			for range n {
				s, err := t.parseStruct(depth + 1)
				if err != nil {
					return nil, err
				}
				f.elems = append(f.elems, s)
			}
		default:
			if err := t.skip(typ, depth+1, false); err != nil {
				return nil, err
			}
			f.raw = t.b[start:t.i]
		}
		fields = append(fields, f)
	}
}

func appendStruct(b []byte, fields []tfield) []byte {
	var last int16
	for _, f := range fields {
		if d := f.id - last; d > 0 && d <= 15 {
			b = append(b, byte(d)<<4|f.typ)
		} else {
			b = append(b, f.typ)
			b = binary.AppendUvarint(b, uint64(int64(f.id)<<1^int64(f.id)>>63))
		}
		last = f.id
		switch {
		case f.typ == 12:
			b = appendStruct(b, f.st)
		case f.elems != nil:
			if n := len(f.elems); n < 15 {
				b = append(b, byte(n)<<4|12)
			} else {
				b = append(b, 0xf0|12)
				b = binary.AppendUvarint(b, uint64(n))
			}
			for _, e := range f.elems {
				b = appendStruct(b, e)
			}
		default:
			b = append(b, f.raw...)
		}
	}
	return append(b, 0)
}

func fieldOf(fields []tfield, id int16) *tfield {
	for i := range fields {
		if fields[i].id == id {
			return &fields[i]
		}
	}
	return nil
}

// chunkID names a column chunk: its row group and column index.
type chunkID struct{ rowGroup, column int }

// footerRepair is what repairFooter changed.
type footerRepair struct {
	// lz4 lists the column chunks of the LZ4 codec, now UNCOMPRESSED.
	lz4 map[chunkID]bool
	// nulls lists the schema elements of the NULL logical type, now
	// without a logical type.
	nulls []int
}

// repairFooter rewrites a footer (FileMetaData, already checked by
// thriftCheck) for parquet-go: KeyValue entries without a value get an
// empty one; column chunks of the LZ4 codec say UNCOMPRESSED; columns of
// the NULL logical type lose it, so that parquet-go decodes their pages
// by their physical type (its NULL type reads every value as null without
// looking: a value there would be lost, not noticed). changed is false
// when nothing needed it.
func repairFooter(footer []byte) (out []byte, rep footerRepair, changed bool, err error) {
	t := thriftCheck{b: footer}
	fields, err := t.parseStruct(0)
	if err != nil {
		return nil, rep, false, err
	}
	if schema := fieldOf(fields, 2); schema != nil {
		for i, el := range schema.elems {
			lt := fieldOf(el, 10)
			if lt == nil || lt.typ != 12 || fieldOf(lt.st, 11) == nil {
				continue
			}
			schema.elems[i] = slices.DeleteFunc(el, func(f tfield) bool { return f.id == 10 })
			rep.nulls = append(rep.nulls, i)
			changed = true
		}
	}
	fixKV := func(f *tfield) {
		if f == nil {
			return
		}
		for i, kv := range f.elems {
			if fieldOf(kv, 2) == nil {
				j := slices.IndexFunc(kv, func(x tfield) bool { return x.id > 2 })
				if j < 0 {
					j = len(kv)
				}
				f.elems[i] = slices.Insert(kv, j, tfield{id: 2, typ: 8, raw: []byte{0}})
				changed = true
			}
		}
	}
	fixKV(fieldOf(fields, 5))
	if rgs := fieldOf(fields, 4); rgs != nil {
		for r, rg := range rgs.elems {
			cols := fieldOf(rg, 1)
			if cols == nil {
				continue
			}
			for c, cc := range cols.elems {
				md := fieldOf(cc, 3)
				if md == nil || md.typ != 12 {
					continue
				}
				if codec := fieldOf(md.st, 4); codec != nil && len(codec.raw) == 1 && codec.raw[0] == 10 { // zigzag(5): LZ4
					codec.raw = []byte{0}
					if rep.lz4 == nil {
						rep.lz4 = map[chunkID]bool{}
					}
					rep.lz4[chunkID{r, c}] = true
					changed = true
				}
				fixKV(fieldOf(md.st, 8))
			}
		}
	}
	if !changed {
		return nil, rep, false, nil
	}
	return appendStruct(nil, fields), rep, true, nil
}

// useFooter makes g serve footer (with its length and magic after it) as
// the file's footer, at the file's footer offset; the size g reports
// follows.
func (g *guardedReaderAt) useFooter(footer []byte) {
	tail := make([]byte, len(footer)+8)
	copy(tail, footer)
	binary.LittleEndian.PutUint32(tail[len(footer):], uint32(len(footer)))
	copy(tail[len(footer)+4:], "PAR1")
	g.tail, g.size = tail, g.tailOff+int64(len(tail))
}

// lz4Decode decompresses a page of the deprecated LZ4 codec into dst,
// which it must fill exactly: Hadoop's framing, else one raw LZ4 block
// (Arrow's fallback, for files older Arrow versions wrote).
func lz4Decode(dst, src []byte) error {
	if lz4Hadoop(dst, src) == nil {
		return nil
	}
	n, err := lz4.UncompressBlock(src, dst)
	if err != nil {
		return fmt.Errorf("LZ4 page is neither Hadoop-framed nor a raw LZ4 block: %w", err)
	}
	if n != len(dst) {
		return fmt.Errorf("LZ4 page decompresses to %d bytes, its header says %d", n, len(dst))
	}
	return nil
}

func lz4Hadoop(dst, src []byte) error {
	if len(src) < 8 {
		return errors.New("no Hadoop frame")
	}
	for len(src) > 0 {
		if len(src) < 8 {
			return errors.New("Hadoop frame header cut")
		}
		dn, cn := binary.BigEndian.Uint32(src), binary.BigEndian.Uint32(src[4:])
		src = src[8:]
		if uint64(cn) > uint64(len(src)) || uint64(dn) > uint64(len(dst)) {
			return errors.New("Hadoop frame sizes out of the page")
		}
		n, err := lz4.UncompressBlock(src[:cn], dst[:dn])
		if err != nil {
			return err
		}
		if n != int(dn) {
			return errors.New("Hadoop frame decompresses to another size")
		}
		src, dst = src[cn:], dst[dn:]
	}
	if len(dst) != 0 {
		return errors.New("Hadoop frames decompress to less than the page")
	}
	return nil
}

// translateChunk returns the column chunk cc (whose pages checkPages has
// checked) as parquet-go must see it: the pages of an LZ4 chunk
// decompressed, V2 pages without value bytes marked uncompressed, each
// page's CRC checked and dropped from its rewritten header. dataOff is
// where the chunk's first data page lies in what it returns.
func (in *parquetInput) translateChunk(cc *format.ColumnMetaData, isLZ4 bool) (out []byte, dataOff int64, err error) {
	start, end := chunkRange(cc)
	chunk := make([]byte, end-start)
	if _, err := in.g.ReadAt(chunk, start); err != nil {
		return nil, 0, err
	}
	dataOff = -1
	proto := &thrift.CompactProtocol{}
	for pos := 0; pos < len(chunk); {
		tc := thriftCheck{b: chunk[pos:], maxAlloc: 2 * maxPageHeaderBytes}
		hlen, err := tc.structLen()
		if err != nil {
			return nil, 0, fmt.Errorf("page header at %d: %w", start+int64(pos), err)
		}
		var h format.PageHeader
		if err := thrift.Unmarshal(proto, chunk[pos:pos+hlen], &h); err != nil {
			return nil, 0, fmt.Errorf("page header at %d: %w", start+int64(pos), err)
		}
		at := start + int64(pos)
		if h.CompressedPageSize < 0 || h.UncompressedPageSize < 0 || int64(pos+hlen)+int64(h.CompressedPageSize) > int64(len(chunk)) {
			return nil, 0, fmt.Errorf("page at %d runs past its column chunk", at)
		}
		data := chunk[pos+hlen : pos+hlen+int(h.CompressedPageSize)]
		pos += hlen + int(h.CompressedPageSize)
		if h.CRC != 0 {
			if got := crc32.ChecksumIEEE(data); got != uint32(h.CRC) {
				return nil, 0, fmt.Errorf("crc32 checksum mismatch in page at %d: want=%#08x got=%#08x", at, uint32(h.CRC), got)
			}
			h.CRC = 0
		}
		var levels int
		compressed := true
		if h.Type == format.DataPageV2 && h.DataPageHeaderV2.Valid {
			v2 := &h.DataPageHeaderV2.V
			levels = int(v2.DefinitionLevelsByteLength) + int(v2.RepetitionLevelsByteLength)
			compressed = !v2.IsCompressed.Valid || v2.IsCompressed.V
			if levels < 0 || levels > len(data) || levels > int(h.UncompressedPageSize) {
				return nil, 0, fmt.Errorf("V2 page at %d claims %d bytes of levels", at, levels)
			}
			if !isLZ4 && compressed && len(data) == levels {
				if h.UncompressedPageSize != int32(levels) {
					return nil, 0, fmt.Errorf("V2 page at %d holds no value bytes but claims %d bytes uncompressed", at, h.UncompressedPageSize)
				}
				v2.IsCompressed.Valid, v2.IsCompressed.V = true, false
			}
		}
		if isLZ4 && compressed {
			page := make([]byte, h.UncompressedPageSize)
			copy(page, data[:levels])
			if err := lz4Decode(page[levels:], data[levels:]); err != nil {
				return nil, 0, fmt.Errorf("page at %d: %w", at, err)
			}
			data = page
			h.CompressedPageSize = h.UncompressedPageSize
		}
		if dataOff < 0 && h.Type != format.DictionaryPage {
			dataOff = int64(len(out))
		}
		hb, err := thrift.Marshal(proto, &h)
		if err != nil {
			return nil, 0, err
		}
		out = append(append(out, hb...), data...)
		if len(out) > maxCachedRange {
			return nil, 0, fmt.Errorf("%w: a column chunk of more than %d bytes once its pages are decompressed, which fanout would hold at once", ErrUnsupportedParquet, maxCachedRange)
		}
	}
	return out, max(dataOff, 0), nil
}

// parquet816Padding is how far past its declared size a column chunk of
// an old parquet-mr file may run: parquet-mr up to 1.2.8 left the
// dictionary page's header out of the chunk's total_compressed_size
// (PARQUET-816, IMPALA-694). Arrow reads such chunks up to 100 bytes
// further (kMaxDictHeaderSize); so does fanout, and only as far as the
// last page's header says (checkPages), within the file's data.
// parquet-testing's nation.dict-malformed.parquet is one.
const parquet816Padding = 100

// parquetMRBefore129 reports whether created_by names parquet-mr before
// 1.2.9, or parquet-mr without a version we can read (as Arrow does).
func parquetMRBefore129(createdBy string) bool {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(createdBy)), "parquet-mr")
	if !ok {
		return false
	}
	fields := strings.Fields(rest)
	if len(fields) < 2 || fields[0] != "version" {
		return true
	}
	var v [3]int
	for i, p := range strings.SplitN(strings.SplitN(fields[1], "-", 2)[0], ".", 3) {
		n, err := strconv.Atoi(p)
		if err != nil {
			return true
		}
		v[i] = n
	}
	return v[0] < 1 || (v[0] == 1 && (v[1] < 2 || (v[1] == 2 && v[2] < 9)))
}
