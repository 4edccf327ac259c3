package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/fanout-dev/fanout/functions"
)

// jsonlInput reads one JSON object per line. Blank lines are skipped.
// Keys map to schema columns by exact name; other keys are ignored and
// absent keys are null; when a key repeats, the last value wins. Values
// convert as follows:
//
//   - string column: strings as is; numbers and booleans as their JSON
//     text; objects and arrays as compact JSON text.
//   - int64: integral numbers in range (1e3 is 1000; 1.5 is an error), or
//     strings ParseValue accepts.
//   - float64: any number, or strings ParseValue accepts.
//   - bool: true/false, or strings ParseValue accepts.
//   - timestamp: strings ParseValue accepts.
//   - list, struct, map: arrays and objects, to any depth (see
//     convertNested).
//
// JSON null is null. A line that is not a valid JSON object, or not valid
// UTF-8, is a RecordError.
type jsonlInput struct {
	lr      *lineReader
	schema  *functions.Schema
	cols    map[string]int
	row     functions.Row
	rec     functions.Record
	scratch bytes.Buffer
	// rows counts the records returned, present the ones holding each
	// column's key (seen: the record that last did), dropped the values of
	// keys the schema lacks (Drift).
	rows    int64
	present []int64
	seen    []int64
	dropped map[string]int64
	pending []string // keys dropped in the record being parsed
	// asJSON counts, per column (or nested field: "a.b"), the arrays and
	// objects kept as JSON text in a string; pendingJSON the record's.
	asJSON      map[string]int64
	pendingJSON []string
	// Nested values: items are gathered on stack and kept in slab. For
	// records read with Next the slab is only ever appended to (a full
	// slab is replaced, never reused; slabKept), so that the values of
	// earlier records stay intact; a borrowed record's reuse it.
	stack    []functions.Value
	slab     []functions.Value
	slabKept bool
	path     []string // the column and fields being converted
	// sc scans the line being parsed; borrow says whether its strings
	// may share the line; strs holds a borrowed record's strings that had
	// escapes.
	sc     jsonScan
	borrow bool
	strs   []byte
}

func newJSONLInput(lr *lineReader, opts InputOptions) (*jsonlInput, error) {
	if opts.Schema == nil || len(opts.Schema.Columns) == 0 {
		return nil, fmt.Errorf("codec: %q: reading jsonl needs a schema (see InferSchema)", opts.Object)
	}
	in := &jsonlInput{lr: lr, schema: opts.Schema, cols: make(map[string]int, len(opts.Schema.Columns))}
	for i, c := range opts.Schema.Columns {
		if _, dup := in.cols[c.Name]; !dup {
			in.cols[c.Name] = i
		}
	}
	in.row = make(functions.Row, len(opts.Schema.Columns))
	in.present = make([]int64, len(opts.Schema.Columns))
	in.seen = make([]int64, len(opts.Schema.Columns))
	in.rec.Row = in.row
	in.rec.Object = opts.Object
	return in, nil
}

func (in *jsonlInput) Schema() *functions.Schema { return in.schema }

func (in *jsonlInput) Next() (*functions.Record, error) { return in.next(false) }

// NextBorrowed is Next with the record's strings sharing the line (or, for
// strings with escapes, a buffer of the record) and its nested values'
// items in a slab reused by the next record (functions.BorrowingInput).
func (in *jsonlInput) NextBorrowed() (*functions.Record, error) { return in.next(true) }

func (in *jsonlInput) next(borrow bool) (*functions.Record, error) {
	lr := in.lr
	for {
		ok, err := lr.owns()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, io.EOF
		}
		line, off, err := lr.readLine(lr.max)
		switch {
		case err == io.EOF:
			return nil, io.EOF
		case err == errLineTooLong:
			return nil, lr.tooLong(off, lr.line)
		case err != nil:
			return nil, err
		}
		if off == 0 && bytes.HasPrefix(line, []byte(utf8BOM)) {
			line = line[len(utf8BOM):]
		}
		raw := trimEOL(line)
		obj := bytes.TrimLeft(raw, " \t\r")
		obj = bytes.TrimRight(obj, " \t\r")
		if len(obj) == 0 {
			continue
		}
		in.borrow = borrow
		switch {
		case borrow && in.slabKept:
			in.slab, in.slabKept = nil, false // an owned record's items stay
		case borrow:
			in.slab = in.slab[:0]
		default:
			in.slabKept = true
		}
		in.strs = in.strs[:0]
		if err := in.parse(obj); err != nil {
			in.uncount()
			return nil, &functions.RecordError{Object: lr.object, Offset: off, Line: lr.line, Err: err, Raw: raw}
		}
		in.commitDrift()
		in.rec.Raw = raw
		in.rec.Offset = off
		return &in.rec, nil
	}
}

// parse fills the row from one JSON object, in one pass that checks the
// line's syntax as it converts (jsonScan).
func (in *jsonlInput) parse(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("line is not valid UTF-8")
	}
	if b[0] != '{' {
		return fmt.Errorf("line is not a JSON object (starts with %s)", quoteShort(string(b[:min(len(b), 16)])))
	}
	for c, col := range in.schema.Columns {
		in.row[c] = functions.Null(col.Type)
	}
	in.stack = in.stack[:0]
	in.sc = jsonScan{b: b}
	err := in.object()
	if err == nil {
		in.sc.ws()
		if in.sc.i != len(b) {
			err = errJSONSyntax
		}
	}
	if err != nil {
		return in.lineError(b, err)
	}
	return nil
}

// lineError is the error of a line the scan stopped on: its JSON syntax
// as json.Unmarshal words it when json.Valid refuses the line (wherever
// the fault is, as if the line were checked before it is converted),
// else the value's error, naming the column.
func (in *jsonlInput) lineError(b []byte, err error) error {
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return fmt.Errorf("invalid JSON: %w", err)
	}
	var ve *pendingValueError
	if errors.As(err, &ve) {
		return newValueError(in.schema.Columns[ve.col], string(b[ve.start:valueEnd(b, ve.start)]), ve.err)
	}
	return err
}

// pendingValueError is a value of column col, at b[start], that did not
// convert: lineError names the column once the line's syntax is known.
type pendingValueError struct {
	col, start int
	err        error
}

func (e *pendingValueError) Error() string { return e.err.Error() }

// object reads the line's object into the row.
func (in *jsonlInput) object() error {
	s := &in.sc
	s.i++ // '{'
	s.ws()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		key, err := s.key()
		if err != nil {
			return err
		}
		var c int
		var ok bool
		if bytes.IndexByte(key, '\\') >= 0 {
			c, ok = in.cols[unquoteJSON(key)]
		} else {
			c, ok = in.cols[string(key[1:len(key)-1])]
		}
		if !ok {
			in.drop(key)
			if _, err := s.skip(1); err != nil {
				return err
			}
		} else {
			if in.seen[c] != in.rows+1 {
				in.seen[c] = in.rows + 1
				in.present[c]++
			}
			s.ws()
			start := s.i
			col := &in.schema.Columns[c]
			in.path = append(in.path[:0], col.Name)
			v, err := in.value(col, 1)
			if err != nil {
				if err != errJSONSyntax {
					err = &pendingValueError{col: c, start: start, err: err}
				}
				return err
			}
			in.row[c] = v
		}
		if more, err := s.next('}'); err != nil || !more {
			return err
		}
	}
}

// drop counts a value of a key the schema lacks; uncount takes it out
// again when the record fails.
func (in *jsonlInput) drop(key []byte) { in.dropName(unquoteJSON(key)) }

func (in *jsonlInput) dropName(k string) {
	if in.dropped == nil {
		in.dropped = map[string]int64{}
	}
	in.dropped[k]++
	in.pending = append(in.pending, k)
}

// uncount takes the counts of a record that failed out again.
func (in *jsonlInput) uncount() {
	for c, s := range in.seen {
		if s == in.rows+1 {
			in.seen[c] = 0
			in.present[c]--
		}
	}
	for _, k := range in.pending {
		in.dropped[k]--
	}
	in.pending = in.pending[:0]
	for _, k := range in.pendingJSON {
		in.asJSON[k]--
	}
	in.pendingJSON = in.pendingJSON[:0]
}

// countJSON counts an array or object kept as JSON text in the string
// column (or field) k.
func (in *jsonlInput) countJSON(k string) {
	if in.asJSON == nil {
		in.asJSON = map[string]int64{}
	}
	in.asJSON[k]++
	in.pendingJSON = append(in.pendingJSON, k)
}

// commitDrift makes the counts of the record just parsed final.
func (in *jsonlInput) commitDrift() {
	in.rows++
	in.pending = in.pending[:0]
	in.pendingJSON = in.pendingJSON[:0]
}

// flat reads one JSON value (at s.i, after whitespace) as a value of
// the flat type t; depth is the nesting of its container.
func (in *jsonlInput) flat(t functions.Type, depth int) (functions.Value, error) {
	s := &in.sc
	switch c := s.peek(); {
	case c == '"':
		lit, esc, err := s.str()
		if err != nil {
			return functions.Value{}, err
		}
		if t == functions.String {
			return functions.StringValue(in.text(lit, esc)), nil
		}
		if t == functions.Binary && len(lit) == 2 {
			return functions.Value{Type: t, Valid: true}, nil // "": no bytes, not null
		}
		return ParseValue(t, in.text(lit, esc))
	case c == '-' || '0' <= c && c <= '9':
		v, err := s.number()
		if err != nil {
			return functions.Value{}, err
		}
		switch {
		case t == functions.String:
			return functions.StringValue(in.view(v)), nil
		case t == functions.Int64:
			if i, ok := parseIntFast(bytesString(v)); ok {
				return functions.IntValue(i), nil
			}
			return parseJSONInt(bytesString(v))
		case t == functions.Float64:
			if f, ok := parseFloatFast(bytesString(v)); ok {
				return functions.FloatValue(f), nil
			}
			f, err := strconv.ParseFloat(bytesString(v), 64)
			if err != nil {
				return functions.Value{}, fmt.Errorf("%s is out of float64 range", quoteShort(string(v)))
			}
			return functions.FloatValue(f), nil
		case t.IsNumeric():
			// The number's own digits: decimals and uint64 exactly.
			return ParseValue(t, string(v))
		}
		return functions.Value{}, fmt.Errorf("JSON value %s is not a %v", quoteShort(string(v)), t)
	case c == '{' || c == '[':
		v, err := s.skip(depth)
		if err != nil {
			return functions.Value{}, err
		}
		if t != functions.String {
			return functions.Value{}, fmt.Errorf("JSON value %s is not a %v", quoteShort(string(v)), t)
		}
		in.countJSON(in.pathString()) // kept as JSON text: counted in the drift
		in.scratch.Reset()
		if err := json.Compact(&in.scratch, v); err != nil {
			return functions.Value{}, err
		}
		return functions.StringValue(in.scratch.String()), nil
	}
	v, err := s.literal()
	switch {
	case err != nil:
		return functions.Value{}, err
	case v[0] == 'n':
		return functions.Null(t), nil
	case t == functions.Bool:
		return functions.BoolValue(v[0] == 't'), nil
	case t == functions.String:
		return functions.StringValue(in.view(v)), nil
	}
	return functions.Value{}, fmt.Errorf("JSON value %s is not a %v", quoteShort(string(v)), t)
}

// text is the text of the string literal lit: borrowed from the line (or
// decoded into the record's buffer) while the record is borrowed, else
// a string of its own.
func (in *jsonlInput) text(lit []byte, escaped bool) string {
	if !escaped {
		return in.view(lit[1 : len(lit)-1])
	}
	if !in.borrow {
		return unquoteJSON(lit)
	}
	n := len(in.strs)
	in.strs = appendUnquoted(in.strs, lit)
	return bytesString(in.strs[n:])
}

// view is b as a string: b itself while the record is borrowed, else a
// copy.
func (in *jsonlInput) view(b []byte) string {
	if in.borrow {
		return bytesString(b)
	}
	return string(b)
}

// parseJSONInt accepts integral JSON numbers in int64 range, whatever
// their notation (10, 1e1, 10.0).
func parseJSONInt(s string) (functions.Value, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return functions.IntValue(i), nil
	}
	bad := fmt.Errorf("%s is not an integer in int64 range", quoteShort(s))
	mant, exp, _ := strings.Cut(strings.ToLower(s), "e")
	if exp != "" {
		// Refuse exponents big.Rat would need huge numbers for, unless the
		// mantissa is zero (0e999999 is 0).
		e, err := strconv.Atoi(exp)
		if err != nil || e > 1000 || e < -1000 {
			if strings.Trim(mant, "-+0.") == "" {
				return functions.IntValue(0), nil
			}
			return functions.Value{}, bad
		}
	}
	var r big.Rat
	if _, ok := r.SetString(s); !ok || !r.IsInt() || !r.Num().IsInt64() {
		return functions.Value{}, bad
	}
	return functions.IntValue(r.Num().Int64()), nil
}

// bytesString views b as a string for parsing; the string must not be
// kept.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string literal starting at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index after the JSON value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\r' && b[j] != '\n' {
		j++
	}
	return j
}
