package codec

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/functions"
)

var (
	sv = functions.StringValue
	iv = functions.IntValue
	fv = functions.FloatValue
	bv = functions.BoolValue
)

func TestCSVInput(t *testing.T) {
	typed := &functions.Schema{Columns: []functions.Column{
		{Name: "n", Type: functions.Int64},
		{Name: "s", Type: functions.String},
		{Name: "f", Type: functions.Float64},
		{Name: "b", Type: functions.Bool},
	}}
	tests := []struct {
		name    string
		data    string
		opts    InputOptions
		want    []functions.Row
		raw     []string
		offsets []int64
		wantErr string
	}{
		{
			name: "strings without schema",
			data: "a,b\n1,x\n2,y\n",
			want: []functions.Row{{sv("1"), sv("x")}, {sv("2"), sv("y")}},
			raw:  []string{"1,x", "2,y"}, offsets: []int64{4, 8},
		},
		{
			name: "quoted fields, escapes and quoted newlines",
			data: "a,b\n\"x,y\",\"he said \"\"hi\"\"\"\n\"multi\nline\",\"\"\n",
			want: []functions.Row{{sv("x,y"), sv(`he said "hi"`)}, {sv("multi\nline"), sv("")}},
			raw:  []string{`"x,y","he said ""hi"""`, "\"multi\nline\",\"\""}, offsets: []int64{4, 27},
		},
		{
			// RFC 4180 keeps a CRLF inside quotes as data, as DuckDB
			// and Python's csv module do (encoding/csv drops the CR).
			name: "crlf and crlf inside quotes",
			data: "a,b\r\n\"1\r\n2\",3\r\n",
			want: []functions.Row{{sv("1\r\n2"), sv("3")}},
		},
		{
			name: "bom and blank lines skipped",
			data: "\xef\xbb\xbfa,b\n\n1,2\n\r\n3,4",
			want: []functions.Row{{sv("1"), sv("2")}, {sv("3"), sv("4")}},
		},
		{
			name: "typed schema by name, reordered subset, missing column null",
			data: "s,junk,n,f,b\nhello,zz,42,1.5,TRUE\n,zz,,,\n",
			opts: InputOptions{Schema: typed},
			want: []functions.Row{
				{iv(42), sv("hello"), fv(1.5), bv(true)},
				{functions.Null(functions.Int64), functions.Null(functions.String), functions.Null(functions.Float64), functions.Null(functions.Bool)},
			},
		},
		{
			name: "quoted empty is an empty string, unquoted empty is null",
			data: "a,b\n\"\",\n",
			want: []functions.Row{{sv(""), functions.Null(functions.String)}},
		},
		{
			name:    "bad int names column and value",
			data:    "n\n12\nx1\n",
			opts:    InputOptions{Schema: &functions.Schema{Columns: []functions.Column{{Name: "n", Type: functions.Int64}}}},
			want:    []functions.Row{{iv(12)}},
			wantErr: `column "n": cannot parse "x1" as int64`,
		},
		{name: "ragged row", data: "a,b\n1,2,3\n", wantErr: "record has 3 fields, the header has 2"},
		{name: "short row", data: "a,b\n1\n", wantErr: "record has 1 fields"},
		{name: "unbalanced quote at eof", data: "a,b\n1,\"open\n", wantErr: "quoted field not closed"},
		{name: "bare quote", data: "a,b\n1,x\"y\n", wantErr: `bare "`},
		{name: "text after closing quote", data: "a,b\n1,\"x\"y\n", wantErr: `extraneous or missing "`},
		{name: "invalid utf8", data: "a,b\n1,\xff\n", wantErr: "not valid UTF-8"},
		{name: "semicolon delimiter", data: "a;b\n1;\"2;3\"\n", opts: InputOptions{CSVOptions: CSVOptions{Delimiter: ';'}}, want: []functions.Row{{sv("1"), sv("2;3")}}},
		{name: "multibyte delimiter", data: "a¦b\n1¦2\n", opts: InputOptions{CSVOptions: CSVOptions{Delimiter: '¦'}}, want: []functions.Row{{sv("1"), sv("2")}}},
		{name: "header mismatch", data: "a,c\n1,2\n", opts: InputOptions{Header: []string{"a", "b"}}, wantErr: "header differs"},
		{name: "header only", data: "a,b\n", want: nil},
		{name: "trailing cr at eof", data: "a,b\n1,2\r", want: []functions.Row{{sv("1"), sv("2")}}},
		{name: "empty last field", data: "a,b\n1,\n", want: []functions.Row{{sv("1"), functions.Null(functions.String)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Format, opts.Object, opts.End = "csv", "t.csv", -1
			in, err := NewInput(strings.NewReader(tt.data), opts)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := readAll(in)
			var rows []functions.Row
			for _, r := range recs {
				rows = append(rows, r.Row)
			}
			if !slices.EqualFunc(rows, tt.want, func(a, b functions.Row) bool { return slices.Equal(a, b) }) {
				t.Errorf("rows: got %v, want %v", rows, tt.want)
			}
			if tt.raw != nil {
				var raw []string
				var offs []int64
				for _, r := range recs {
					raw = append(raw, r.Raw)
					offs = append(offs, r.Offset)
				}
				if !slices.Equal(raw, tt.raw) || !slices.Equal(offs, tt.offsets) {
					t.Errorf("raw %q at %v, want %q at %v", raw, offs, tt.raw, tt.offsets)
				}
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || asRecordError(err) == nil || asRecordError(err).Object != "t.csv" {
					t.Errorf("error %v, want a RecordError containing %q", err, tt.wantErr)
				}
			}
		})
	}
}

func TestCSVSchemaWithoutHeaderOption(t *testing.T) {
	in, err := NewInput(strings.NewReader("x,y\n1,2\n"), InputOptions{Format: "csv", End: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Schema().String(); got != "x:string,y:string" {
		t.Errorf("schema %q, want x:string,y:string", got)
	}
	recs, err := readAll(in)
	if err != nil || len(recs) != 1 {
		t.Fatalf("got %v %v", recs, err)
	}
}

func TestCSVQuotedNewlineAtBoundary(t *testing.T) {
	data := []byte("a,b\n1,\"two\nlines\"\n3,4\n")
	nl := int64(bytes.Index(data, []byte("two\n")) + 3) // the quoted newline
	opts := InputOptions{Format: "csv", Object: "q.csv", Header: []string{"a", "b"}}
	t.Run("whole", func(t *testing.T) {
		recs, err := readAll(chunkInput(t, data, opts, 0, -1))
		if err != nil || len(recs) != 2 {
			t.Fatalf("got %v, %v", recs, err)
		}
	})
	for _, end := range []int64{nl - 2, nl - 1, nl, nl + 1, nl + 3} {
		t.Run(fmt.Sprintf("end=%d", end), func(t *testing.T) {
			in := chunkInput(t, data, opts, 0, end)
			recs, err := readAll(in)
			// The record holding the quoted newline starts at 4, before end.
			// A quoted newline at or after end-1 is an error.
			if nl >= end-1 {
				if !errors.Is(err, ErrQuotedNewlineAtBoundary) || asRecordError(err) == nil || asRecordError(err).Offset != 4 {
					t.Fatalf("got %v, %v; want ErrQuotedNewlineAtBoundary at offset 4", recs, err)
				}
				if !strings.Contains(err.Error(), "--csv-whole") {
					t.Errorf("message %q does not mention --csv-whole", err)
				}
				if _, again := in.Next(); !errors.Is(again, ErrQuotedNewlineAtBoundary) {
					t.Errorf("next call after the boundary error: %v, want the same error", again)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("quoted newline before end-1 is fine", func(t *testing.T) {
		data := []byte("a,b\n\"x\ny\",1\n3,4\n")
		recs, err := readAll(chunkInput(t, data, opts, 0, 12))
		if err != nil || len(recs) != 1 {
			t.Fatalf("got %v, %v", recs, err)
		}
	})
}

// randomCSV builds CSV without quoted newlines (so that it can be cut by
// bytes) but with quotes, delimiters in quotes, empty fields and CRLF.
func randomCSV(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	b.WriteString("id,text,num\n")
	for i := 0; i < n; i++ {
		var text string
		switch rng.IntN(5) {
		case 0:
			text = ""
		case 1:
			text = `"quoted, with ""escapes"""`
		case 2:
			text = strings.Repeat("w", rng.IntN(5000))
		default:
			text = fmt.Sprintf("t%d", rng.IntN(1000))
		}
		eol := "\n"
		if rng.IntN(4) == 0 {
			eol = "\r\n"
		}
		if rng.IntN(10) == 0 {
			b.WriteString(eol)
		}
		fmt.Fprintf(&b, "%d,%s,%d%s", i, text, rng.IntN(100), eol)
	}
	return b.Bytes()
}

func TestCSVOwnershipProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	schema := &functions.Schema{Columns: []functions.Column{{Name: "num", Type: functions.Int64}, {Name: "text", Type: functions.String}}}
	for round := 0; round < 20; round++ {
		data := randomCSV(rng, 100+rng.IntN(200))
		opts := InputOptions{Format: "csv", Object: "o", Header: []string{"id", "text", "num"}, Schema: schema}
		whole, err := readAll(chunkInput(t, data, opts, 0, -1))
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 20; k++ {
			cuts := randomCuts(rng, int64(len(data)), 1+rng.IntN(20))
			got, err := readChunks(t, data, opts, cuts)
			if err != nil {
				t.Fatal(err)
			}
			if !equalRecs(got, whole) {
				t.Fatalf("cuts %v: %d records, want %d", cuts, len(got), len(whole))
			}
		}
	}
}

// TestCSVMatchesEncodingCSV compares fields with the standard library on
// inputs both accept.
func TestCSVMatchesEncodingCSV(t *testing.T) {
	inputs := []string{
		"a,b,c\n1,\"2\",3\n\"x\"\"y\",,\"\"\n",
		"a,b\r\n\"line\r\nbreak\",2\r\n",
		"a\n\n\nb\n",
		"a,b\n\" x \", y\n",
	}
	for i, data := range inputs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			want, err := csv.NewReader(strings.NewReader(data)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			in, _ := NewInput(strings.NewReader(data), InputOptions{Format: "csv", End: -1})
			recs, err := readAll(in)
			if err != nil {
				t.Fatal(err)
			}
			got := [][]string{in.Schema().Names()}
			for _, r := range recs {
				var row []string
				for _, v := range r.Row {
					// encoding/csv drops the CR of a CRLF inside quotes;
					// fanout keeps it (RFC 4180).
					row = append(row, strings.ReplaceAll(v.S, "\r\n", "\n"))
				}
				got = append(got, row)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestReadCSVHeader(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		delim rune
		want  []string
		err   bool
	}{
		{"plain", "a,b,c\n1,2,3\n", 0, []string{"a", "b", "c"}, false},
		{"bom", "\xef\xbb\xbfa,b\n", 0, []string{"a", "b"}, false},
		{"quoted with newline", "\"a\nx\",b\n", 0, []string{"a\nx", "b"}, false},
		{"tab", "a\tb\n", '\t', []string{"a", "b"}, false},
		{"no trailing newline", "a,b", 0, []string{"a", "b"}, false},
		{"empty", "", 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCSVHeader(strings.NewReader(tt.data), CSVOptions{Delimiter: tt.delim})
			if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
				t.Errorf("got %q, %v; want %q (error %v)", got, err, tt.want, tt.err)
			}
			if tt.err && !errors.Is(err, io.EOF) {
				t.Errorf("error %v does not wrap io.EOF", err)
			}
		})
	}
}

func FuzzCSVReader(f *testing.F) {
	f.Add([]byte("a,b\n1,\"x\ny\"\n"), int64(0), int64(-1))
	f.Add([]byte("a,b\n\"\"\"\",\n1,2"), int64(3), int64(9))
	f.Add([]byte("\xef\xbb\xbfa;b\r\n1;2\r\n"), int64(0), int64(5))
	f.Fuzz(func(t *testing.T, data []byte, start, end int64) {
		if start < 0 || start > int64(len(data)) {
			start = 0
		}
		schema := &functions.Schema{Columns: []functions.Column{{Name: "a", Type: functions.Int64}, {Name: "b", Type: functions.String}}}
		opts := InputOptions{Format: "csv", Object: "fuzz", Header: []string{"a", "b"}, Schema: schema, MaxRecordBytes: 4096}
		in := chunkInput(t, data, opts, start, end)
		var prev error
		for i := 0; ; i++ {
			r, err := in.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if asRecordError(err) == nil {
					t.Fatalf("error %v is not a RecordError", err)
				}
				if err == prev {
					return // a sticky error: the chunk cannot be read
				}
				prev = err
				if i > len(data)+2 {
					t.Fatal("errors without progress")
				}
				continue
			}
			if r.Offset < start || (end >= 0 && r.Offset >= end) {
				t.Fatalf("record at %d outside [%d, %d)", r.Offset, start, end)
			}
		}
	})
}

// FuzzCSVFastPath checks that records without quotes read the same with
// and without readRecord's fast path: rows, offsets, raw bytes, errors.
func FuzzCSVFastPath(f *testing.F) {
	f.Add([]byte("a,b\n1,x\n\n2,\r\n3,y\r"), ",")
	f.Add([]byte("a\tb\n1\t\xff\n2\tz\n1\t2\t3\n"), "\t")
	f.Add([]byte("a;b\n1;\"q\";\n 7 ;x\n"), ";")
	f.Fuzz(func(t *testing.T, data []byte, delim string) {
		d, _ := utf8.DecodeRuneInString(delim)
		schema := &functions.Schema{Columns: []functions.Column{{Name: "a", Type: functions.Int64}, {Name: "b", Type: functions.String}}}
		read := func(slowPathOnly bool) []string {
			in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "csv", Object: "fuzz", End: -1, Schema: schema, CSVOptions: CSVOptions{Delimiter: d}, MaxRecordBytes: 4096,
				csvSlowPathOnly: slowPathOnly})
			if err != nil {
				return []string{err.Error()}
			}
			var out []string
			for i := 0; i < len(data)+2; i++ {
				r, err := in.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					out = append(out, err.Error())
					continue
				}
				out = append(out, fmt.Sprintf("%d %q %v", r.Offset, r.Raw, r.Row))
			}
			return out
		}
		fast, slow := read(false), read(true)
		if !slices.Equal(fast, slow) {
			t.Fatalf("fast path:\n%q\nslow path:\n%q", fast, slow)
		}
	})
}

func BenchmarkCSVInput(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("id,name,score,ok\n")
	for i := 0; buf.Len() < 32<<20; i++ {
		fmt.Fprintf(&buf, "%d,\"name %d\",%d.5,true\n", i, i, i%1000)
	}
	schema := &functions.Schema{Columns: []functions.Column{
		{Name: "id", Type: functions.Int64}, {Name: "name", Type: functions.String},
		{Name: "score", Type: functions.Float64}, {Name: "ok", Type: functions.Bool}}}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		in, _ := NewInput(bytes.NewReader(data), InputOptions{Format: "csv", End: -1, Schema: schema})
		for {
			if _, err := in.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

// TestNextBorrowed reads inputs with Next and with NextBorrowed: the
// records are the same while they are valid, and what Next returned stays
// intact after later reads.
func TestNextBorrowed(t *testing.T) {
	data := []byte("k,v,n\na,\"x\"\"y\",1\nb,plain,2\n\nc,\"multi\nline\",3\nd,,\n")
	schema := &functions.Schema{Columns: []functions.Column{{Name: "k", Type: functions.String}, {Name: "v", Type: functions.String}, {Name: "n", Type: functions.Int64}}}
	for _, format := range []string{"csv", "lines"} {
		opts := InputOptions{Format: format, Object: "o", End: -1, Schema: schema}
		read := func(borrow bool) (now []string, kept []functions.Row) {
			in, err := NewInput(bytes.NewReader(data), opts)
			if err != nil {
				t.Fatal(err)
			}
			for {
				var rec *functions.Record
				if borrow {
					rec, err = in.(functions.BorrowingInput).NextBorrowed()
				} else {
					rec, err = in.Next()
				}
				if err == io.EOF {
					return now, kept
				}
				if err != nil {
					t.Fatal(err)
				}
				now = append(now, fmt.Sprintf("%d %v", rec.Offset, rec.Row))
				kept = append(kept, slices.Clone(rec.Row))
			}
		}
		copied, kept := read(false)
		borrowed, _ := read(true)
		if !slices.Equal(copied, borrowed) {
			t.Errorf("%s: Next gives %q, NextBorrowed %q", format, copied, borrowed)
		}
		for i, row := range kept {
			if got := fmt.Sprintf("%v", row); !strings.HasSuffix(copied[i], got) {
				t.Errorf("%s: row %d from Next changed after later reads: %s, was %s", format, i, got, copied[i])
			}
		}
	}
}

// TestCSVColumnsLeavesTheOthersUnparsed: with InputOptions.Columns the
// reader fills only those columns (through Next and NextBorrowed): the
// others are typed nulls whatever their fields hold, so that a value that
// is not of its column's type is no error, while the record's structure
// (field count, quoting) is checked as before.
func TestCSVColumnsLeavesTheOthersUnparsed(t *testing.T) {
	data := "a,b,c\n1,x,2026-01-02\nzz,y,bad\n3,\"q,\"\"z\"\"\",2026-01-03\n4,w\n5,v\"v,1\n6,u,2026-01-04"
	schema := &functions.Schema{Columns: []functions.Column{{Name: "a", Type: functions.Int64}, {Name: "b", Type: functions.String}, {Name: "c", Type: functions.Timestamp}}}
	read := func(cols []int, borrow bool) []string {
		in, err := NewInput(strings.NewReader(data), InputOptions{Format: "csv", Object: "o", End: -1, Schema: schema, Columns: cols})
		if err != nil {
			t.Fatal(err)
		}
		next := in.Next
		if borrow {
			next = in.(functions.BorrowingInput).NextBorrowed
		}
		var out []string
		for range 10 {
			r, err := next()
			if err == io.EOF {
				break
			}
			if err != nil {
				out = append(out, "error: "+asRecordError(err).Err.Error())
				continue
			}
			var vals []string
			for i, v := range r.Row {
				switch {
				case v.Type != schema.Columns[i].Type:
					vals = append(vals, fmt.Sprintf("type %v", v.Type))
				case !v.Valid:
					vals = append(vals, "null")
				default:
					vals = append(vals, v.Text())
				}
			}
			out = append(out, strings.Join(vals, " "))
		}
		return out
	}
	fieldCount := "error: record has 2 fields, the header has 3"
	bareQuote := "error: " + errBareQuote.Error()
	tests := []struct {
		name string
		cols []int
		want []string
	}{
		{"b only", []int{1}, []string{"null x null", "null y null", `null q,"z" null`, fieldCount, bareQuote, "null u null"}},
		{"none", []int{}, []string{"null null null", "null null null", "null null null", fieldCount, bareQuote, "null null null"}},
		{"a and c", []int{2, 0}, []string{"1 null 2026-01-02T00:00:00Z", `error: column "a": cannot parse "zz" as int64`,
			"3 null 2026-01-03T00:00:00Z", fieldCount, bareQuote, "6 null 2026-01-04T00:00:00Z"}},
		{"all (nil)", nil, []string{"1 x 2026-01-02T00:00:00Z", `error: column "a": cannot parse "zz" as int64`,
			`3 q,"z" 2026-01-03T00:00:00Z`, fieldCount, bareQuote, "6 u 2026-01-04T00:00:00Z"}},
	}
	for _, tt := range tests {
		for _, borrow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/borrow=%v", tt.name, borrow), func(t *testing.T) {
				if got := read(tt.cols, borrow); !slices.Equal(got, tt.want) {
					t.Errorf("got\n%q\nwant\n%q", got, tt.want)
				}
			})
		}
	}
}

// A header naming a column of the given schema twice fails the object at
// its header, with or without the header given (a chunk past the
// object's start): which field holds the column cannot be told. Names
// outside the schema may repeat.
func TestCSVHeaderNamingASchemaColumnTwice(t *testing.T) {
	schema, err := functions.ParseSchema("a:int64,b:int64")
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewInput(strings.NewReader("a,b,a\n1,2,3\n"), InputOptions{Format: "csv", Object: "x.csv", End: -1, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	_, err = in.Next()
	var he *HeaderError
	if !errors.As(err, &he) || he.Name != "a" || he.First != 1 || he.Column != 3 {
		t.Fatalf("Next: %v; want the header naming a twice (columns 1 and 3)", err)
	}
	var re *functions.RecordError
	if !errors.As(err, &re) || re.Offset != 0 {
		t.Errorf("Next: %v; want a record error at the header's offset 0", err)
	}
	_, err = NewInput(strings.NewReader("4,5,6\n"), InputOptions{Format: "csv", Object: "x.csv", Start: 6, End: -1, Schema: schema, Header: []string{"a", "b", "a"}})
	if !errors.As(err, &he) || !functions.IsPermanent(err) || !strings.Contains(err.Error(), "x.csv") {
		t.Fatalf("NewInput past the start: %v; want a permanent header error naming x.csv", err)
	}
	in, err = NewInput(strings.NewReader("a,c,b,c,\n1,x,2,y,z\n"), InputOptions{Format: "csv", Object: "x.csv", End: -1, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := in.Next()
	if err != nil || rec.Row[0].Text() != "1" || rec.Row[1].Text() != "2" {
		t.Fatalf("Next: %v, %v; want a=1 b=2 (c repeated and an unnamed column are not the schema's)", rec, err)
	}
}
