package codec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/fanout-dev/fanout/functions"
)

// parquetBatchRows is how many rows the writer hands parquet-go at once.
const parquetBatchRows = 1024

// dictionaryMaxBytes is where a string column's dictionary falls back to
// plain encoding for the rest of its row group (high-cardinality columns
// gain nothing from a dictionary).
const dictionaryMaxBytes = 4 << 20

// parquetNode returns the Parquet schema fanout writes for schema: a group
// of optional leaves in the schema's order.
func parquetNode(schema *functions.Schema) parquet.Node {
	g := make(orderedGroup, len(schema.Columns))
	for i, c := range schema.Columns {
		var n parquet.Node
		switch c.Type {
		case functions.Int64:
			n = parquet.Int(64)
		case functions.Float64:
			n = parquet.Leaf(parquet.DoubleType)
		case functions.Bool:
			n = parquet.Leaf(parquet.BooleanType)
		case functions.Timestamp:
			n = parquet.Timestamp(parquet.Microsecond)
		default:
			n = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
		}
		g[i] = &groupField{Node: parquet.Optional(n), name: c.Name}
	}
	return g
}

// orderedGroup is a parquet group that keeps its fields in the given
// order (parquet.Group sorts them by name).
type orderedGroup []parquet.Field

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return parquet.NewSchema("", g).String() }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Fields() []parquet.Field     { return g }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) GoType() reflect.Type {
	// Field names need not be Go identifiers: name the struct fields by
	// position and keep the column names in the tags.
	fields := make([]reflect.StructField, len(g))
	for i, f := range g {
		fields[i] = reflect.StructField{
			Name: "F" + strconv.Itoa(i),
			Type: f.GoType(),
			Tag:  reflect.StructTag(`parquet:` + strconv.Quote(strings.ReplaceAll(f.Name(), ",", "_"))),
		}
	}
	return reflect.StructOf(fields)
}

type groupField struct {
	parquet.Node
	name string
}

func (f *groupField) Name() string { return f.name }

func (f *groupField) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}

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
	bw       *bufio.Writer
	w        *parquet.Writer
	schema   *functions.Schema
	batch    []parquet.Row
	n        int   // rows in batch
	rows     int64 // rows written
	rgRows   int64 // rows in the open row group
	rgBytes  int64 // estimated bytes in the open row group
	maxRows  int64
	maxBytes int64
	err      error // sticky
	closed   bool
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
	rgRows := int64(opts.RowGroupRows)
	if rgRows <= 0 {
		rgRows = DefaultRowGroupRows
	}
	pw := &parquetWriter{
		bw:       bufio.NewWriterSize(w, writeBufferSize),
		schema:   schema,
		maxRows:  rgRows,
		maxBytes: opts.RowGroupBytes,
	}
	if pw.maxBytes <= 0 {
		pw.maxBytes = DefaultRowGroupBytes
	}
	config, err := parquet.NewWriterConfig(
		parquet.NewSchema("fanout", parquetNode(schema)),
		parquet.Compression(codec),
		parquet.MaxRowsPerRowGroup(rgRows),
		parquet.DictionaryMaxBytes(dictionaryMaxBytes),
		parquet.CreatedBy("fanout", "", ""),
	)
	if err != nil {
		return nil, fmt.Errorf("codec: parquet writer: %w", err)
	}
	pw.w = parquet.NewWriter(pw.bw, config)
	ncol := len(schema.Columns)
	vals := make([]parquet.Value, parquetBatchRows*ncol)
	pw.batch = make([]parquet.Row, parquetBatchRows)
	for i := range pw.batch {
		pw.batch[i] = vals[i*ncol : (i+1)*ncol : (i+1)*ncol]
	}
	return pw, nil
}

func (w *parquetWriter) Rows() int64 { return w.rows }

// Buffered estimates the bytes of values held for the current row group
// (see RowGroupWriter).
func (w *parquetWriter) Buffered() int64 { return w.rgBytes }

// EndRowGroup encodes the buffered rows as a row group now.
func (w *parquetWriter) EndRowGroup() error {
	if w.err != nil || w.closed {
		return w.err
	}
	if err := w.flushBatch(); err != nil {
		return err
	}
	if w.rgRows == 0 {
		return nil
	}
	w.rgRows, w.rgBytes = 0, 0
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("codec: parquet flush: %w", err)
	}
	return w.err
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
	pr := w.batch[w.n]
	for c, v := range row {
		var pv parquet.Value
		if v.Valid {
			switch v.Type {
			case functions.String:
				pv = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(v.S), len(v.S)))
				w.rgBytes += int64(len(v.S)) + 4
			case functions.Float64:
				pv = parquet.DoubleValue(v.F)
				w.rgBytes += 8
			case functions.Bool:
				pv = parquet.BooleanValue(v.I != 0)
				w.rgBytes++
			default:
				pv = parquet.Int64Value(v.I)
				w.rgBytes += 8
			}
			pv = pv.Level(0, 1, c)
		} else {
			pv = parquet.NullValue().Level(0, 0, c)
		}
		pr[c] = pv
	}
	w.n++
	w.rows++
	w.rgRows++
	if w.n == len(w.batch) || w.rgRows >= w.maxRows || w.rgBytes >= w.maxBytes {
		return w.flushBatch()
	}
	return nil
}

// flushBatch hands the batch to parquet-go, and ends the row group when it
// has grown past maxBytes.
func (w *parquetWriter) flushBatch() error {
	if w.n > 0 {
		_, err := w.w.WriteRows(w.batch[:w.n])
		for i := range w.batch[:w.n] {
			clear(w.batch[i]) // drop references to the rows' strings
		}
		w.n = 0
		if err != nil {
			w.err = fmt.Errorf("codec: parquet write: %w", err)
			return w.err
		}
	}
	if w.rgRows >= w.maxRows || w.rgBytes >= w.maxBytes {
		w.rgRows, w.rgBytes = 0, 0
		if err := w.w.Flush(); err != nil {
			w.err = fmt.Errorf("codec: parquet flush: %w", err)
			return w.err
		}
	}
	return nil
}

func (w *parquetWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.flushBatch(); err != nil {
		return err
	}
	if err := w.w.Close(); err != nil {
		w.err = fmt.Errorf("codec: parquet close: %w", err)
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = err
		return err
	}
	return nil
}
