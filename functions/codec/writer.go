package codec

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fanout-dev/fanout/functions"
)

// Writer writes rows laid out as a schema in one output format.
type Writer interface {
	// Write stores one row; the caller may reuse row afterwards. A value
	// whose type differs from its column's (other than a null) is an
	// error.
	Write(row functions.Row) error
	// Close writes what is buffered (and the Parquet footer). It does not
	// close the underlying io.Writer.
	Close() error
	// Rows counts the rows written.
	Rows() int64
}

// RowGroupWriter is a Writer that buffers rows in memory until it ends a
// row group (the Parquet writer): a caller holding many files open bounds
// their memory together by ending the row groups of the largest.
type RowGroupWriter interface {
	Writer
	// Buffered estimates the bytes held for the current row group.
	Buffered() int64
	// EndRowGroup writes the buffered rows out as a row group.
	EndRowGroup() error
}

// Sizer is a Writer that counts the bytes of the file it has written so
// far, those still in its own write buffer included (every writer of
// NewWriter; a Parquet writer's current row group is not written until
// it ends: see RowGroupWriter.Buffered). A caller ending files at a size
// reads it instead of the bytes that reached the underlying io.Writer,
// which lag by the buffer.
type Sizer interface {
	Size() int64
}

// SizeEstimator is a RowGroupWriter that estimates the bytes its current
// row group will add to the file when it ends (the Parquet writer), so
// that a caller can end a file near a size: calibrated is false while
// the estimate still counts some bytes as held, before compression (no
// page of that kind written yet): ending the row group calibrates it.
type SizeEstimator interface {
	Pending() (bytes int64, calibrated bool)
}

// WriterOptions tune NewWriter.
type WriterOptions struct {
	// RowGroupRows bounds a Parquet row group; zero means
	// DefaultRowGroupRows.
	RowGroupRows int
	// RowGroupBytes starts a new Parquet row group once the values of the
	// current one reach it uncompressed (an estimate: 8 bytes a value
	// beside a string's bytes), so that wide rows do not make row groups
	// unbounded in memory; zero means DefaultRowGroupBytes. Whichever of
	// the two bounds comes first ends the row group.
	RowGroupBytes int64
	// Compression is the Parquet codec: zstd (default), snappy, gzip, lz4
	// or none.
	Compression string
	// Strings, when set, is the string table Parquet writers running on
	// one goroutine share (see StringTable); nil gives each its own.
	Strings *StringTable
}

// Defaults for WriterOptions.
const (
	DefaultRowGroupRows  = 1 << 20
	DefaultRowGroupBytes = 128 << 20
)

// NewWriter returns a writer of format (parquet, jsonl, csv or lines) to w.
//
//   - parquet: every column optional; strings dictionary-encoded; zstd;
//     timestamps as TIMESTAMP(MICROS, UTC); row groups bounded by
//     RowGroupRows and RowGroupBytes.
//   - jsonl: one object per line, keys in schema order, null as null.
//   - csv: a header line, then RFC 4180 records quoted when needed; null is
//     an empty field and the empty string is "".
//   - lines: the schema must have one column; each row is its text and
//     "\n" (a null is an empty line).
func NewWriter(w io.Writer, format string, schema *functions.Schema, opts WriterOptions) (Writer, error) {
	if schema == nil || len(schema.Columns) == 0 {
		return nil, errors.New("codec: writer needs a schema with at least one column")
	}
	switch strings.ToLower(format) {
	case "parquet":
		return newParquetWriter(w, schema, opts)
	case "jsonl", "ndjson", "json":
		return newJSONLWriter(w, schema), nil
	case "csv":
		return newCSVWriter(w, schema)
	case "lines", "text", "txt":
		if len(schema.Columns) != 1 {
			return nil, fmt.Errorf("codec: the lines format writes one column, the schema has %d (%s)", len(schema.Columns), schema)
		}
		return &linesWriter{textWriter: textWriter{bw: newGrowBuffer(w), schema: schema}}, nil
	}
	return nil, fmt.Errorf("codec: unknown output format %q (want parquet, jsonl, csv or lines)", format)
}

// checkRow validates a row against the schema.
func checkRow(schema *functions.Schema, row functions.Row) error {
	if len(row) != len(schema.Columns) {
		return fmt.Errorf("codec: row has %d values, the schema %s has %d columns", len(row), schema, len(schema.Columns))
	}
	for i, v := range row {
		if v.Valid && v.Type != schema.Columns[i].Type {
			return fmt.Errorf("codec: column %q: got a %v value, want %v", schema.Columns[i].Name, v.Type, schema.Columns[i].Type)
		}
	}
	return nil
}

// textWriter is what the text writers share.
type textWriter struct {
	bw     *growBuffer
	schema *functions.Schema
	buf    []byte
	rows   int64
	size   int64 // bytes written to bw
	err    error // sticky write error
}

func (t *textWriter) Rows() int64 { return t.rows }

// Size implements Sizer.
func (t *textWriter) Size() int64 { return t.size }

func (t *textWriter) flushLine() error {
	n, err := t.bw.Write(t.buf)
	t.size += int64(n)
	if err != nil {
		t.err = err
		return err
	}
	t.rows++
	return nil
}

func (t *textWriter) Close() error {
	if t.err != nil {
		return t.err
	}
	t.buf = nil
	return t.bw.Release()
}

type jsonlWriter struct {
	textWriter
	keys [][]byte // `"name":` per column, with the separator before it
}

func newJSONLWriter(w io.Writer, schema *functions.Schema) *jsonlWriter {
	jw := &jsonlWriter{textWriter: textWriter{bw: newGrowBuffer(w), schema: schema}}
	for i, c := range schema.Columns {
		k := []byte("{")
		if i > 0 {
			k = []byte(",")
		}
		k = functions.StringValue(c.Name).AppendJSON(k)
		jw.keys = append(jw.keys, append(k, ':'))
	}
	return jw
}

func (w *jsonlWriter) Write(row functions.Row) error {
	if w.err != nil {
		return w.err
	}
	if err := checkRow(w.schema, row); err != nil {
		return err
	}
	b := w.buf[:0]
	for i, v := range row {
		b = append(b, w.keys[i]...)
		if v.Valid && v.Type.IsNested() {
			b = w.schema.Columns[i].AppendJSON(b, v)
			continue
		}
		b = v.AppendJSON(b)
	}
	w.buf = append(b, '}', '\n')
	return w.flushLine()
}

type csvWriter struct {
	textWriter
	json []byte // a nested value's JSON
}

func newCSVWriter(w io.Writer, schema *functions.Schema) (*csvWriter, error) {
	cw := &csvWriter{textWriter: textWriter{bw: newGrowBuffer(w), schema: schema}}
	b := cw.buf[:0]
	for i, c := range schema.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCSVField(b, c.Name, c.Name == "")
	}
	b = append(b, '\n')
	n, err := cw.bw.Write(b)
	if err != nil {
		return nil, err
	}
	cw.size, cw.buf = int64(n), b
	return cw, nil
}

func (w *csvWriter) Write(row functions.Row) error {
	if w.err != nil {
		return w.err
	}
	if err := checkRow(w.schema, row); err != nil {
		return err
	}
	b := w.buf[:0]
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		if !v.Valid {
			continue
		}
		if v.Type == functions.String {
			b = appendCSVField(b, v.S, v.S == "")
		} else if v.Type.IsNested() {
			// Nested values are their JSON text, quoted as CSV.
			w.json = w.schema.Columns[i].AppendJSON(w.json[:0], v)
			b = appendCSVField(b, bytesString(w.json), false)
		} else {
			b = append(b, v.Text()...)
		}
	}
	w.buf = append(b, '\n')
	return w.flushLine()
}

// appendCSVField appends s, quoted when it holds a delimiter, quote or
// line break, begins with a space (which some readers trim), or when
// quoteEmpty is set and s is empty.
func appendCSVField(b []byte, s string, quoteEmpty bool) []byte {
	need := quoteEmpty && s == ""
	if !need && s != "" && (s[0] == ' ' || s[0] == '\t') {
		need = true
	}
	if !need {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
				need = true
				break
			}
		}
	}
	if !need {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

type linesWriter struct {
	textWriter
}

func (w *linesWriter) Write(row functions.Row) error {
	if w.err != nil {
		return w.err
	}
	if err := checkRow(w.schema, row); err != nil {
		return err
	}
	b := w.buf[:0]
	if row[0].Type == functions.String {
		b = append(b, row[0].S...)
	} else {
		b = append(b, row[0].Text()...)
	}
	w.buf = append(b, '\n')
	return w.flushLine()
}
