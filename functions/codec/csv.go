package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/fanout-dev/fanout/functions"
)

// CSV parse errors, wrapped in a RecordError.
var (
	errBareQuote      = errors.New(`bare " in non-quoted field`)
	errQuote          = errors.New(`extraneous or missing " in quoted field`)
	errUnterminated   = errors.New(`quoted field not closed before the end of the input (or the chunk begins inside a quoted field)`)
	errInvalidUTF8CSV = errors.New("record is not valid UTF-8")
	errEscape         = errors.New("escape character inside a quoted field not followed by the quote or itself")
	errTooManyFields  = fmt.Errorf("record has more than %d fields (MaxCSVFields)", MaxCSVFields)
)

// MaxCSVFields bounds the fields of one CSV record (the header's too): a
// record of delimiters alone would otherwise cost 9 bytes of field
// bookkeeping, and a header row a column, per 1 or 2 bytes of input.
// Excel stops at 16,384 columns; Postgres at 1,600.
const MaxCSVFields = 100_000

// csvInput reads RFC 4180 CSV: fields separated by a delimiter, quoted
// fields with "" for a quote and newlines inside quotes, records ending at
// an unquoted "\n" or "\r\n", blank lines skipped (as encoding/csv does).
// An unquoted empty field is null; a quoted empty field ("") is an empty
// string in a string column and null otherwise.
type csvInput struct {
	lr     *lineReader
	delim  []byte
	quote  byte // the quote character
	escape byte // inside quotes, makes the quote or itself literal
	nulls  []string
	opts   InputOptions

	pending bool // the first record of a header-less object is read but not returned
	pendOff int64
	pendRaw []byte

	header     []string
	headerRead bool
	headerErr  error
	fatal      error // a boundary error: later records cannot be trusted
	schema     *functions.Schema
	colOf      []int     // header position -> schema column, or -1
	fill       []csvFill // the fields next parses: colOf's, less the columns opts.Columns leaves out
	unmapped   bool      // a schema column has no header position: null in every row
	rows       int64     // records returned (Drift)

	line     []byte // the record's bytes, terminator included: the reader's own or buf
	buf      []byte // a copy of a record that has quotes (it may span lines)
	fieldBuf []byte // unescaped field contents, concatenated, of a record with quotes
	fields   []byte // what the fields are cut from: fieldBuf, or the record's line when it has no quotes
	ends     []int  // end of each field in fields
	gap      int    // bytes between one field's end and the next one's start: 1 (a delimiter) in a line, 0 in fieldBuf
	quoted   []bool // whether each field was quoted; empty for a record without quotes
	row      functions.Row
	rec      functions.Record
	recLine  int64
}

func newCSVInput(lr *lineReader, opts InputOptions, def rune) (*csvInput, error) {
	if opts.Delimiter == 0 {
		opts.Delimiter = def
	}
	if err := opts.CSVOptions.check(); err != nil {
		return nil, fmt.Errorf("%w (object %q)", err, opts.Object)
	}
	d := opts.Delimiter
	if opts.Start > 0 && opts.Header == nil {
		return nil, fmt.Errorf("codec: %q: a CSV chunk starting at %d needs the object's Header (read it with ReadCSVHeader)", opts.Object, opts.Start)
	}
	in := &csvInput{lr: lr, delim: utf8.AppendRune(nil, d), opts: opts,
		quote: byte(opts.quote()), escape: byte(opts.escape()), nulls: opts.NullStr}
	in.rec.Object = opts.Object
	if opts.Header != nil {
		if err := in.ambiguousHeader(opts.Header); err != nil {
			return nil, functions.Permanent(fmt.Errorf("%q: %w", opts.Object, err))
		}
		in.setHeader(slices.Clone(opts.Header))
	}
	if opts.Start > 0 {
		in.headerRead = true
	}
	return in, nil
}

// setHeader fixes the header and the mapping of its columns to the schema.
func (in *csvInput) setHeader(h []string) {
	in.header = h
	in.schema = in.opts.Schema
	if in.schema == nil {
		in.schema = &functions.Schema{Columns: make([]functions.Column, len(h))}
		for i, name := range h {
			in.schema.Columns[i] = functions.Column{Name: name, Type: functions.String}
		}
		in.colOf = make([]int, len(h))
		for i := range h {
			in.colOf[i] = i
		}
	} else {
		in.colOf = make([]int, len(h))
		for i := range in.colOf {
			in.colOf[i] = -1
		}
		for c, col := range in.schema.Columns {
			switch i := slices.Index(h, col.Name); {
			case in.opts.NoHeader:
				// No names in the data: the schema's columns are its
				// fields in order, whatever they are called.
				if c < len(h) {
					in.colOf[c] = c
				}
			case i >= 0 && in.colOf[i] < 0:
				in.colOf[i] = c
			}
		}
	}
	mapped := 0
	for _, c := range in.colOf {
		if c >= 0 {
			mapped++
		}
	}
	in.unmapped = mapped < len(in.schema.Columns)
	in.row = make(functions.Row, len(in.schema.Columns))
	for c, col := range in.schema.Columns {
		in.row[c] = functions.Null(col.Type)
	}
	in.rec.Row = in.row
	// Only the columns opts.Columns names (all without it) are filled:
	// the others stay null, their fields unparsed.
	want := make([]bool, len(in.schema.Columns))
	for c := range want {
		want[c] = in.opts.Columns == nil
	}
	for _, c := range in.opts.Columns {
		if c >= 0 && c < len(want) {
			want[c] = true
		}
	}
	in.fill = in.fill[:0]
	for i, c := range in.colOf {
		if c >= 0 && want[c] {
			in.fill = append(in.fill, csvFill{field: i, col: c, typ: in.schema.Columns[c].Type})
		}
	}
}

// csvFill is a field next parses: its position in the record, its column
// in the schema and the column's type.
type csvFill struct {
	field, col int
	typ        functions.Type
}

// Schema is known after the header: when neither Header nor Schema was
// given, Schema reads the header row (an error reading it is returned by
// Next, and Schema then returns an empty schema).
func (in *csvInput) Schema() *functions.Schema {
	if in.schema == nil && in.opts.Schema != nil {
		return in.opts.Schema
	}
	if in.schema == nil {
		in.readHeader()
	}
	if in.schema == nil {
		return &functions.Schema{}
	}
	return in.schema
}

// readHeader reads the object's first record as the header (Start == 0).
func (in *csvInput) readHeader() {
	if in.headerRead {
		return
	}
	in.headerRead = true
	_, off, err := in.readRecord()
	if err == io.EOF {
		if in.header == nil {
			in.setHeader([]string{})
		}
		return
	}
	if err != nil {
		var re *functions.RecordError
		if errors.As(err, &re) {
			re.Raw = nil // a broken header cannot be skipped
		}
		in.headerErr = err
		return
	}
	if in.opts.NoHeader {
		// The first record is data: keep it for Next.
		in.pending, in.pendOff, in.pendRaw = true, off, trimEOL(in.line)
		if in.header == nil {
			in.setHeader(columnNames(len(in.ends)))
		}
		return
	}
	h := in.fieldStrings()
	if in.header != nil {
		if !slices.Equal(h, in.header) {
			in.headerErr = in.lr.recordError(off, in.recLine, fmt.Errorf("%w: got %q, want %q", ErrHeaderMismatch, h, in.header))
		}
		return
	}
	if err := in.ambiguousHeader(h); err != nil {
		in.headerErr = in.lr.recordError(off, in.recLine, err)
		return
	}
	in.setHeader(h)
}

// ambiguousHeader returns a *HeaderError when a header names a column of
// the given schema twice: which field holds that column's values cannot
// be told, so no value of it is read (taking the first field would commit
// the other's values silently dropped, or the wrong ones). Names outside
// the schema, repeated or empty, are only not read, as any extra column.
func (in *csvInput) ambiguousHeader(h []string) error {
	if in.opts.Schema == nil || in.opts.NoHeader {
		return nil
	}
	for _, col := range in.opts.Schema.Columns {
		first := slices.Index(h, col.Name)
		if first < 0 {
			continue
		}
		if second := slices.Index(h[first+1:], col.Name); second >= 0 {
			return &HeaderError{Column: first + 1 + second + 1, Name: col.Name, First: first + 1}
		}
	}
	return nil
}

func (in *csvInput) Next() (*functions.Record, error) { return in.next(false) }

// NextBorrowed is Next with the record's strings sharing the reader's
// buffer (functions.BorrowingInput).
func (in *csvInput) NextBorrowed() (*functions.Record, error) { return in.next(true) }

func (in *csvInput) next(borrow bool) (*functions.Record, error) {
	if !in.headerRead {
		in.readHeader()
	}
	if in.headerErr != nil {
		return nil, in.headerErr
	}
	if in.fatal != nil {
		return nil, in.fatal
	}
	var raw []byte
	var off int64
	var err error
	if in.pending {
		in.pending = false
		raw, off = in.pendRaw, in.pendOff
	} else {
		raw, off, err = in.readRecord()
	}
	if err != nil {
		if errors.Is(err, ErrQuotedNewlineAtBoundary) {
			// What follows is the inside of a quoted field: never emit it.
			in.fatal = err
		}
		return nil, err
	}
	if len(in.ends) != len(in.header) {
		return nil, in.malformed(off, fmt.Errorf("record has %d fields, the header has %d", len(in.ends), len(in.header)))
	}
	if in.unmapped {
		for c, col := range in.schema.Columns {
			in.row[c] = functions.Null(col.Type)
		}
	}
	var s string
	switch {
	case len(in.fields) == 0:
	case borrow:
		s = unsafe.String(unsafe.SliceData(in.fields), len(in.fields))
	default:
		s = string(in.fields)
	}
	for _, fl := range in.fill {
		i, c, t := fl.field, fl.col, fl.typ
		start := 0
		if i > 0 {
			start = in.ends[i-1] + in.gap
		}
		f := s[start:in.ends[i]]
		switch {
		case f == "":
			if in.wasQuoted(i) && t == functions.String {
				in.row[c] = functions.StringValue("")
			} else {
				in.row[c] = functions.Null(t)
			}
		case len(in.nulls) > 0 && !in.wasQuoted(i) && slices.Contains(in.nulls, f):
			in.row[c] = functions.Null(t)
		case t == functions.String:
			in.row[c] = functions.StringValue(f)
		default:
			v, err := ParseValue(t, f)
			if err != nil {
				return nil, in.malformed(off, newValueError(in.schema.Columns[c], f, err))
			}
			in.row[c] = v
		}
	}
	in.rec.Raw = raw
	in.rec.Offset = off
	in.rows++
	return &in.rec, nil
}

// fieldStrings returns the fields of the record just read.
func (in *csvInput) fieldStrings() []string {
	out := make([]string, len(in.ends))
	s := string(in.fields)
	prev := 0
	for i, e := range in.ends {
		out[i] = s[prev:e]
		prev = e + in.gap
	}
	return out
}

// wasQuoted reports whether field i of the record just read was quoted.
func (in *csvInput) wasQuoted(i int) bool { return i < len(in.quoted) && in.quoted[i] }

// readRecord reads the next owned record into line, fields, ends, gap
// and quoted, returning its raw bytes (without terminator) and offset.
// A record without quotes (most) is cut where it lies in the reader's
// buffer; one with quotes is copied to buf and its fields, unescaped, to
// fieldBuf.
func (in *csvInput) readRecord() ([]byte, int64, error) {
	lr := in.lr
	var line []byte
	var off int64
	for {
		ok, err := lr.owns()
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			return nil, 0, io.EOF
		}
		line, off, err = lr.readLine(lr.max)
		switch {
		case err == io.EOF:
			return nil, 0, io.EOF
		case err == errLineTooLong:
			return nil, off, lr.tooLong(off, lr.line)
		case err != nil:
			return nil, off, err
		}
		if off == 0 && bytes.HasPrefix(line, []byte(utf8BOM)) {
			line = line[len(utf8BOM):]
		}
		content := trimEOL(line)
		if lr.done && !bytes.HasSuffix(line, []byte("\n")) {
			// The last line: a final "\r" is dropped below, so "\r"
			// alone is a blank line, not a record of one empty field.
			content = dropFinalCR(content)
		}
		if len(content) > 0 {
			break
		}
	}
	in.recLine = lr.line
	lineEnd := lr.pos // object offset just after the buffered bytes
	if lr.done {
		line = dropFinalCR(line)
	}
	in.ends = in.ends[:0]
	in.quoted = in.quoted[:0]
	if len(in.delim) == 1 && !in.opts.csvSlowPathOnly {
		if raw, ok, err := in.splitPlain(line, off); ok || err != nil {
			return raw, off, err
		}
	}
	raw, err := in.readQuoted(line, off, lineEnd)
	in.fields = in.fieldBuf
	return raw, off, err
}

// Eight bytes at a time: lo7 masks each byte's low seven bits, ones has
// a 1 in each byte.
const (
	lo7  = 0x7f7f7f7f7f7f7f7f
	ones = 0x0101010101010101
)

// zeroBytes sets the top bit of each byte of x that is zero, and no other
// bit: exactly, as no carry crosses a byte.
func zeroBytes(x uint64) uint64 {
	return ^((x&lo7 + lo7) | x | lo7)
}

// splitPlain cuts a record of one line without quotes (most records) at
// its single-byte delimiters, where it lies, into line, fields, ends and
// gap. ok is false, and nothing is cut, when the line holds a quote: the
// caller reads it with readQuoted. It looks at eight bytes at a time for
// the delimiter, the quote and bytes outside ASCII (only a line with one
// of those is checked as UTF-8).
func (in *csvInput) splitPlain(line []byte, off int64) (raw []byte, ok bool, err error) {
	raw = trimEOL(line)
	d, q := in.delim[0], in.quote
	dm, qm := uint64(d)*ones, uint64(q)*ones
	var high uint64 // the bytes ORed: bit 7 of a byte set when one is not ASCII
	ends := in.ends
	i := 0
	for ; i+8 <= len(raw); i += 8 {
		x := binary.LittleEndian.Uint64(raw[i:])
		if zeroBytes(x^qm) != 0 {
			in.ends = ends[:0]
			return nil, false, nil
		}
		high |= x
		for m := zeroBytes(x ^ dm); m != 0; m &= m - 1 {
			ends = append(ends, i+bits.TrailingZeros64(m)>>3)
		}
		if len(ends) > MaxCSVFields {
			// Bound the bookkeeping before the line's end; a quote
			// further on makes it the slow path's, as always.
			in.ends = ends[:0]
			if bytes.IndexByte(raw[i:], q) >= 0 {
				return nil, false, nil
			}
			in.line = line
			return nil, true, in.malformed(off, errTooManyFields)
		}
	}
	for ; i < len(raw); i++ {
		switch c := raw[i]; c {
		case q:
			in.ends = ends[:0]
			return nil, false, nil
		case d:
			ends = append(ends, i)
		default:
			high |= uint64(c)
		}
	}
	in.ends = append(ends, len(raw))
	in.line, in.fields, in.gap = line, raw, 1
	if len(in.ends) > MaxCSVFields+1 {
		return nil, true, in.malformed(off, errTooManyFields)
	}
	if high&(0x80*ones) != 0 && !utf8.Valid(raw) {
		return nil, true, in.malformed(off, errInvalidUTF8CSV)
	}
	return raw, true, nil
}

// readQuoted reads a record with quotes, which may go on over the lines
// after line (lineEnd is the object offset after line), into buf,
// fieldBuf, ends and quoted, returning its raw bytes (without
// terminator).
func (in *csvInput) readQuoted(line []byte, off, lineEnd int64) ([]byte, error) {
	lr := in.lr
	d := in.delim
	q, esc := in.quote, in.escape
	in.buf = append(in.buf[:0], line...)
	in.line = in.buf
	in.fieldBuf = in.fieldBuf[:0]
	in.gap = 0
	buf := in.buf
	i := 0
	for {
		if len(in.ends) > MaxCSVFields {
			return nil, in.malformed(off, errTooManyFields)
		}
		// One field starts at i.
		if i < len(buf) && buf[i] == q {
			i++
			for {
				j := bytes.IndexByte(buf[i:], q)
				if esc != q {
					j = indexEither(buf[i:], q, esc)
				}
				if j >= 0 {
					in.fieldBuf = append(in.fieldBuf, buf[i:i+j]...)
					i += j + 1
					if buf[i-1] == esc && i < len(buf) && (buf[i] == q || buf[i] == esc) {
						// An escaped quote or escape (with esc == q: a
						// doubled quote).
						in.fieldBuf = append(in.fieldBuf, buf[i])
						i++
						continue
					}
					if buf[i-1] != q {
						return nil, in.malformed(off, errEscape)
					}
					break
				}
				// The quoted field goes on past this line.
				rest := buf[i:]
				if len(rest) == 0 || rest[len(rest)-1] != '\n' {
					return nil, lr.recordError(off, in.recLine, errUnterminated)
				}
				// A newline inside quotes is kept as written, "\r\n"
				// included (RFC 4180).
				in.fieldBuf = append(in.fieldBuf, rest...)
				if nl := lineEnd - 1; lr.end >= 0 && nl >= lr.end-1 {
					return nil, lr.recordError(off, in.recLine, ErrQuotedNewlineAtBoundary)
				}
				i = len(buf)
				budget := lr.max - int64(len(buf))
				next, _, err := lr.readLine(budget)
				switch {
				case err == io.EOF:
					return nil, lr.recordError(off, in.recLine, errUnterminated)
				case err == errLineTooLong:
					return nil, lr.tooLong(off, in.recLine)
				case err != nil:
					return nil, err
				}
				in.buf = append(in.buf, next...)
				lineEnd = lr.pos
				if lr.done {
					in.buf = dropFinalCR(in.buf)
				}
				buf, in.line = in.buf, in.buf
			}
			in.ends = append(in.ends, len(in.fieldBuf))
			in.quoted = append(in.quoted, true)
			if i < len(buf) && bytes.HasPrefix(buf[i:], d) {
				i += len(d)
				continue
			}
			if isEOL(buf[i:]) {
				break
			}
			return nil, in.malformed(off, in.quoteErr(errQuote))
		}
		// An unquoted field runs to the delimiter or the end of the line.
		j := i
		for j < len(buf) && buf[j] != d[0] && buf[j] != '\n' && buf[j] != q {
			j++
		}
		if j < len(buf) && buf[j] == d[0] && !bytes.HasPrefix(buf[j:], d) {
			// A multi-byte delimiter's first byte alone: keep scanning.
			for j < len(buf) && !bytes.HasPrefix(buf[j:], d) && buf[j] != '\n' && buf[j] != q {
				j++
			}
		}
		if j < len(buf) && buf[j] == q {
			return nil, in.malformed(off, in.quoteErr(errBareQuote))
		}
		field := buf[i:j]
		if j < len(buf) && buf[j] == '\n' {
			field = trimEOL(buf[i : j+1])
		}
		in.fieldBuf = append(in.fieldBuf, field...)
		in.ends = append(in.ends, len(in.fieldBuf))
		in.quoted = append(in.quoted, false)
		i = j
		if i < len(buf) && bytes.HasPrefix(buf[i:], d) {
			i += len(d)
			continue
		}
		break
	}
	raw := trimEOL(buf)
	if !utf8.Valid(raw) {
		return nil, in.malformed(off, errInvalidUTF8CSV)
	}
	return raw, nil
}

// malformed reports the record just read (whole: the reader can go on
// after it) as a RecordError carrying its bytes.
func (in *csvInput) malformed(off int64, err error) error {
	return &functions.RecordError{Object: in.lr.object, Offset: off, Line: in.recLine, Err: err, Raw: trimEOL(in.line)}
}

// quoteErr names a quote other than '"' in an error about quotes.
func (in *csvInput) quoteErr(err error) error {
	if in.quote == '"' {
		return err
	}
	return fmt.Errorf("%w (the quote character is %q)", err, rune(in.quote))
}

// isEOL reports whether b starts with the end of a record.
func isEOL(b []byte) bool {
	return len(b) == 0 || b[0] == '\n' || (len(b) >= 2 && b[0] == '\r' && b[1] == '\n')
}

// dropFinalCR drops a "\r" ending the input (encoding/csv does the same).
func dropFinalCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// indexEither is the index in b of the first a or c, or -1.
func indexEither(b []byte, a, c byte) int {
	return bytes.IndexFunc(b, func(r rune) bool { return r == rune(a) || r == rune(c) })
}
