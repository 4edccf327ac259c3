package codec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/fanout-dev/fanout/functions"
)

// ReadCSVHeader reads the first record of a CSV object (a UTF-8 byte
// order mark before it is dropped) in the dialect opts; with
// opts.NoHeader it returns the column names column0..N of the first
// record. An empty object is an error wrapping io.EOF.
func ReadCSVHeader(r io.Reader, opts CSVOptions) ([]string, error) {
	in, err := newCSVInput(newSampleReader(r), InputOptions{Format: "csv", Object: "csv header", End: -1, CSVOptions: opts}, ',')
	if err != nil {
		return nil, err
	}
	in.readHeader()
	if in.headerErr != nil {
		return nil, in.headerErr
	}
	if len(in.header) == 0 {
		return nil, fmt.Errorf("codec: csv has no header row: %w", io.EOF)
	}
	return in.header, nil
}

func newSampleReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, readBufferSize), object: "sample", end: -1, max: DefaultMaxRecordBytes}
}

// TypeGuess narrows a column's type as sample values arrive: the
// narrowest of int64, float64, bool and timestamp that every value seen
// parses as, else string. InferSchema and the contract profiler (fanout
// infer) share it, so that they never disagree on a column's type. The
// zero value has seen nothing.
type TypeGuess struct {
	seen                               bool
	notInt, notFloat, notBool, notTime bool
	// bigInt: an integer beyond int64 (of at most 38 digits) was seen,
	// so that integers make decimal(38,0), kept exactly, not a float64
	// that would round them.
	bigInt bool
}

// Guessed is one text value as TypeGuess.Text read it: the value as each
// of int64, float64 and timestamp, Valid when the column may still have
// that type and the value parses as it.
type Guessed struct {
	Int, Float, Time functions.Value
}

// Text narrows the guess by one text value; an empty value is missing and
// changes nothing.
func (g *TypeGuess) Text(s string) Guessed { return g.text(s, false) }

// TextNumber is Text for a caller that needs a value that parses as an
// integer only as that integer (the profile): its float parse is skipped
// and its Float is not Valid. The guess narrows as Text's does (an
// integer parses as a float64 too).
func (g *TypeGuess) TextNumber(s string) Guessed { return g.text(s, true) }

func (g *TypeGuess) text(s string, intFirst bool) Guessed {
	var out Guessed
	if s == "" {
		return out
	}
	g.seen = true
	// The looks* checks first: a failed parse builds an error message.
	if !g.notInt {
		if v, ok := parseIf(looksInt(s), functions.Int64, s); ok {
			out.Int = v
		} else if bigIntLiteral(s) {
			g.bigInt = true
		} else {
			g.notInt = true
			// An integer of more than 38 digits: a float64 would round it.
			g.notFloat = g.notFloat || intLiteral(s)
		}
	}
	if !g.notFloat && !(intFirst && out.Int.Valid) {
		if v, ok := parseIf(looksFloat(s), functions.Float64, s); ok {
			out.Float = v
		} else {
			g.notFloat = true
		}
	}
	g.notBool = g.notBool || !looksBool(s)
	if !g.notTime {
		if v, ok := parseIf(looksTimestamp(s), functions.Timestamp, s); ok {
			out.Time = v
		} else {
			g.notTime = true
		}
	}
	return out
}

// parseIf parses s as t when may is true.
func parseIf(may bool, t functions.Type, s string) (functions.Value, bool) {
	if !may {
		return functions.Value{}, false
	}
	v, err := ParseValue(t, s)
	return v, err == nil
}

// Allows reports whether every value seen so far is of type t (Int64,
// Float64, Bool or Timestamp).
func (g *TypeGuess) Allows(t functions.Type) bool {
	switch t {
	case functions.Int64:
		return !g.notInt && !g.bigInt
	case functions.Float64:
		return !g.notFloat
	case functions.Bool:
		return !g.notBool
	case functions.Timestamp:
		return !g.notTime
	}
	return t == functions.String
}

// Type is the guess: the narrowest type every value seen has; String when
// none was seen.
func (g *TypeGuess) Type() functions.Type {
	switch {
	case !g.seen:
		return functions.String
	case !g.notInt && g.bigInt:
		return bigIntType
	case !g.notInt:
		return functions.Int64
	case !g.notFloat:
		return functions.Float64
	case !g.notBool:
		return functions.Bool
	case !g.notTime:
		return functions.Timestamp
	}
	return functions.String
}

// InferSchema picks column types from a sample: format csv (or tsv) or
// jsonl, reading at most maxRows records (maxRows <= 0: all of r).
//
// CSV: the sample begins with the header row. header, when given, is the
// object's header: a first record equal to it is skipped, otherwise the
// first record is data. Header names must be distinct and not empty.
//
// JSONL: columns are the union of the objects' keys in order of first
// appearance; arrays and objects make nested columns (see jsonGuess).
//
// Each column gets the narrowest type all its non-empty sampled values
// parse as: int64 (no leading zeros, so codes like "007" stay strings),
// then float64 (decimal notation, finite), bool (true/false), timestamp,
// else string; a column with no values is a string. In JSONL, strings
// stay strings (except timestamps), numbers are int64 or float64, arrays
// are lists and objects structs (or maps), and a column whose values have
// different shapes (a number here, an object there) is a string holding
// each value's JSON text. A sample cut short inside its last
// record is fine: an unterminated last record is ignored.
func InferSchema(r io.Reader, format string, header []string, maxRows int) (*functions.Schema, error) {
	switch strings.ToLower(format) {
	case "csv":
		return InferCSVSchema(r, CSVOptions{}, header, maxRows)
	case "tsv":
		return InferCSVSchema(r, CSVOptions{Delimiter: '\t'}, header, maxRows)
	case "jsonl", "ndjson", "json":
		return inferJSONL(r, maxRows, inferNestedJSON)
	case "lines", "text", "txt":
		return functions.LinesSchema, nil
	}
	return nil, fmt.Errorf("codec: cannot infer a schema for format %q (want csv or jsonl)", format)
}

// HeaderError reports a CSV header that cannot name the columns of an
// inferred schema: a column without a name, or a name given twice. Its
// message is for a person, without a package prefix: the caller names
// the object.
type HeaderError struct {
	// Column is the 1-based position of the column without a name, or of
	// the second column named Name (First being the first).
	Column int
	Name   string
	First  int
}

func (e *HeaderError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("the CSV header's column %d has no name", e.Column)
	}
	return fmt.Sprintf("the CSV header names column %q twice (columns %d and %d)", e.Name, e.First, e.Column)
}

// CheckCSVHeader returns a *HeaderError when a CSV header cannot name
// the columns of a schema: a name that is empty or given twice.
func CheckCSVHeader(header []string) error {
	seen := map[string]int{}
	for i, h := range header {
		if h == "" {
			return &HeaderError{Column: i + 1}
		}
		if first, ok := seen[h]; ok {
			return &HeaderError{Column: i + 1, Name: h, First: first}
		}
		seen[h] = i + 1
	}
	return nil
}

// InferCSVSchema is InferSchema for CSV in the dialect opts: with
// opts.NoHeader the first record is data and the columns are column0..N;
// unquoted values in opts.NullStr count as nulls, not as strings.
func InferCSVSchema(r io.Reader, opts CSVOptions, header []string, maxRows int) (*functions.Schema, error) {
	lr := newSampleReader(r)
	in, err := newCSVInput(lr, InputOptions{Format: "csv", Object: "sample", End: -1, CSVOptions: opts}, ',')
	if err != nil {
		return nil, err
	}
	in.headerRead = true
	fields := in.fieldStrings
	// cutShort reports whether an error is a last record cut off by the
	// end of the sample.
	cutShort := func(err error) bool {
		return lr.done && (len(in.line) == 0 || in.line[len(in.line)-1] != '\n') && errors.As(err, new(*functions.RecordError))
	}
	_, _, err = in.readRecord()
	if err == io.EOF {
		if header == nil {
			return nil, fmt.Errorf("codec: csv sample has no header row: %w", io.EOF)
		}
	} else if err != nil {
		return nil, err
	}
	var pending []string // a first record that is data
	first := fields()
	switch {
	case err == io.EOF:
	case opts.NoHeader:
		if header == nil {
			header = columnNames(len(first))
		}
		pending = first
	case header == nil:
		header = first
	case !slices.Equal(first, header):
		pending = first
	}
	if err := CheckCSVHeader(header); err != nil {
		return nil, err
	}
	guesses := make([]TypeGuess, len(header))
	add := func(f []string, off int64) error {
		if len(f) != len(header) {
			return &functions.RecordError{Object: "sample", Offset: off, Err: fmt.Errorf("record has %d fields, the header has %d", len(f), len(header))}
		}
		for i, s := range f {
			if !in.wasQuoted(i) && slices.Contains(opts.NullStr, s) {
				continue // null
			}
			guesses[i].Text(s)
		}
		return nil
	}
	// Malformed records in the sample are skipped: the chunk that owns
	// them reports them with their object and offset. Inference fails only
	// when the sample holds no usable record at all.
	rows := 0
	var skipped error
	if pending != nil {
		if err := add(pending, 0); err != nil {
			skipped = err
		} else {
			rows++
		}
	}
	for maxRows <= 0 || rows < maxRows {
		_, off, err := in.readRecord()
		if err == io.EOF {
			break
		}
		if err != nil {
			if cutShort(err) {
				break
			}
			if errors.As(err, new(*functions.RecordError)) {
				skipped = err
				break // the reader cannot resynchronise after a broken record
			}
			return nil, err
		}
		if err := add(fields(), off); err != nil {
			if lr.done && !bytes.HasSuffix(in.line, []byte("\n")) {
				break
			}
			skipped = err
			continue
		}
		rows++
	}
	if rows == 0 && skipped != nil {
		return nil, skipped
	}
	s := &functions.Schema{Columns: make([]functions.Column, len(header))}
	for i, h := range header {
		s.Columns[i] = functions.Column{Name: h, Type: guesses[i].Type()}
	}
	return s, nil
}

// inferNestedJSON: InferSchema makes JSON arrays and objects nested
// columns (list, struct, map); it waited for fanout's Parquet reader to
// read nested columns back, since a job's Parquet output is another job's
// input.
const inferNestedJSON = true

// inferJSONL is InferSchema for JSONL; without nested, a column of arrays
// or objects is a string holding their JSON text.
func inferJSONL(r io.Reader, maxRows int, nested bool) (*functions.Schema, error) {
	lr := newSampleReader(r)
	var names []string
	index := map[string]int{}
	var guesses []*jsonGuess
	rows := 0
	var skipped error
	for maxRows <= 0 || rows < maxRows {
		line, off, err := lr.readLine(lr.max)
		if err == io.EOF {
			break
		}
		if err == errLineTooLong {
			return nil, lr.tooLong(off, lr.line)
		}
		if err != nil {
			return nil, err
		}
		complete := len(line) > 0 && line[len(line)-1] == '\n'
		if off == 0 {
			line = []byte(strings.TrimPrefix(string(line), utf8BOM))
		}
		b := []byte(strings.TrimSpace(string(line)))
		if len(b) == 0 {
			continue
		}
		if b[0] != '{' || !json.Valid(b) {
			if !complete {
				break // the sample ends inside this line
			}
			// Skipped: the chunk that owns the line reports it.
			skipped = &functions.RecordError{Object: "sample", Offset: off, Line: lr.line, Err: errors.New("line is not a JSON object")}
			continue
		}
		rows++
		i := skipWS(b, 1)
		if b[i] == '}' {
			continue
		}
		for {
			kEnd := stringEnd(b, i)
			key := unquoteJSON(b[i:kEnd])
			i = skipWS(b, skipWS(b, kEnd)+1)
			vEnd := valueEnd(b, i)
			c, ok := index[key]
			if !ok {
				c = len(names)
				index[key] = c
				names = append(names, key)
				guesses = append(guesses, &jsonGuess{})
			}
			guesses[c].add(b[i:vEnd], 0)
			i = skipWS(b, vEnd)
			if b[i] != ',' {
				break
			}
			i = skipWS(b, i+1)
		}
	}
	if len(names) == 0 {
		if skipped != nil {
			return nil, skipped
		}
		return nil, errors.New("codec: the jsonl sample has no keys to infer a schema from")
	}
	s := &functions.Schema{Columns: make([]functions.Column, len(names))}
	for i, n := range names {
		s.Columns[i] = guesses[i].column().Named(n)
		if !nested && s.Columns[i].IsNested() {
			s.Columns[i] = functions.Flat(functions.String).Named(n)
		}
	}
	return s, nil
}

// json narrows the guess by one JSON value.
func (g *TypeGuess) json(v []byte) {
	switch v[0] {
	case 'n':
		return
	case '"':
		s := unquoteJSON(v)
		if s == "" {
			return
		}
		g.seen = true
		g.notInt, g.notFloat, g.notBool = true, true, true
		g.notTime = g.notTime || !looksTimestamp(s)
	case 't', 'f':
		g.seen = true
		g.notInt, g.notFloat, g.notTime = true, true, true
	case '{', '[':
		g.seen = true
		g.notInt, g.notFloat, g.notBool, g.notTime = true, true, true, true
	default:
		g.seen = true
		g.notBool, g.notTime = true, true
		// Only integer literals make int64: 1.0 says the writer had floats.
		if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
			if bigIntLiteral(bytesString(v)) {
				g.bigInt = true
			} else {
				g.notInt = true
				g.notFloat = g.notFloat || intLiteral(bytesString(v))
			}
		}
		if _, err := strconv.ParseFloat(string(v), 64); err != nil {
			g.notFloat = true
		}
	}
}

// bigIntType is what a column of integers some of which are beyond int64
// is inferred as: exact to 38 digits.
var bigIntType = functions.DecimalOf(38, 0)

// bigIntLiteral reports whether s is an integer literal (an optional
// minus, digits without a leading zero) of at most 38 digits: beyond
// int64, inference keeps it exactly as decimal(38,0), not as a float64.
func bigIntLiteral(s string) bool {
	return intLiteral(s) && len(strings.TrimPrefix(s, "-")) <= functions.MaxDecimalPrecision
}

// intLiteral reports whether s is an integer literal: an optional minus,
// digits without a leading zero.
func intLiteral(s string) bool {
	d := strings.TrimPrefix(s, "-")
	if d == "" || (len(d) > 1 && d[0] == '0') {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}
