package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/functions"
)

// TestCSVOptions reads each CSV option (DuckDB's read_csv names) and
// checks the rows, nulls included.
func TestCSVOptions(t *testing.T) {
	sv := functions.StringValue
	null := functions.Null(functions.String)
	tests := []struct {
		name  string
		args  map[string]string
		data  string
		names []string
		want  []functions.Row
	}{
		{name: "delim ;", args: map[string]string{"delim": ";"}, data: "a;b\n1;\"2;3\"\n",
			names: []string{"a", "b"}, want: []functions.Row{{sv("1"), sv("2;3")}}},
		{name: "delim |", args: map[string]string{"delim": "|"}, data: "a|b\n1,2|3\n",
			names: []string{"a", "b"}, want: []functions.Row{{sv("1,2"), sv("3")}}},
		{name: "delim tab", args: map[string]string{"delim": `\t`}, data: "a\tb\n1\t2\n",
			names: []string{"a", "b"}, want: []functions.Row{{sv("1"), sv("2")}}},
		{name: "quote '", args: map[string]string{"quote": "'"}, data: "a,b\n'x,y','it''s'\n\"q\",2\n",
			names: []string{"a", "b"}, want: []functions.Row{{sv("x,y"), sv("it's")}, {sv(`"q"`), sv("2")}}},
		{name: "escape backslash", args: map[string]string{"escape": `\`}, data: "a,b\n\"say \\\"hi\\\"\",\"c:\\\\x\"\n",
			names: []string{"a", "b"}, want: []functions.Row{{sv(`say "hi"`), sv(`c:\x`)}}},
		{name: "header=false", args: map[string]string{"header": "false"}, data: "1,x\n2,y\n",
			names: []string{"column0", "column1"}, want: []functions.Row{{sv("1"), sv("x")}, {sv("2"), sv("y")}}},
		{name: "header=false zero-padded as DuckDB", args: map[string]string{"header": "false"}, data: "0,1,2,3,4,5,6,7,8,9,10\n",
			names: []string{"column00", "column01", "column02", "column03", "column04", "column05", "column06", "column07", "column08", "column09", "column10"},
			want:  []functions.Row{{sv("0"), sv("1"), sv("2"), sv("3"), sv("4"), sv("5"), sv("6"), sv("7"), sv("8"), sv("9"), sv("10")}}},
		{name: "header=true", args: map[string]string{"header": "true"}, data: "a\n1\n",
			names: []string{"a"}, want: []functions.Row{{sv("1")}}},
		{name: "nullstr", args: map[string]string{"nullstr": `\N|NULL`}, data: "a,b,c\n\\N,NULL,\"\\N\"\nnull,,x\n",
			names: []string{"a", "b", "c"}, want: []functions.Row{{null, null, sv(`\N`)}, {sv("null"), null, sv("x")}}},
		{name: "CRLF inside quotes kept", data: "a\r\n\"x\r\ny\"\r\n",
			names: []string{"a"}, want: []functions.Row{{sv("x\r\ny")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseCSVArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			in, err := NewInput(strings.NewReader(tt.data), InputOptions{Format: "csv", Object: "o", End: -1, CSVOptions: o})
			if err != nil {
				t.Fatal(err)
			}
			if got := in.Schema().Names(); !slices.Equal(got, tt.names) {
				t.Fatalf("columns %q, want %q", got, tt.names)
			}
			recs, err := readAll(in)
			if err != nil {
				t.Fatal(err)
			}
			var got []functions.Row
			for _, r := range recs {
				got = append(got, r.Row)
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Fatalf("rows %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCSVNoHeaderTypedOffsets reads a header-less object with a schema:
// the first record is data at offset 0.
func TestCSVNoHeaderTypedOffsets(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "column0", Type: functions.Int64}, {Name: "column1", Type: functions.String}}}
	in, err := NewInput(strings.NewReader("1,a\n2,\\N\n"), InputOptions{Format: "csv", Object: "o", End: -1, Schema: schema,
		CSVOptions: CSVOptions{NoHeader: true, NullStr: []string{`\N`}}})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Offset != 0 || recs[1].Offset != 4 || recs[0].Row[0].I != 1 || recs[1].Row[0].I != 2 || recs[1].Row[1].Valid {
		t.Fatalf("got %+v", recs)
	}
}

func TestParseCSVArgsErrors(t *testing.T) {
	for _, args := range []map[string]string{
		{"delim": ";;"}, {"delim": ""}, {"delim": `"`}, {"quote": "é"}, {"escape": "\n"},
		{"header": "maybe"}, {"delim": "'", "quote": "'"}, {"delim": `\`, "escape": `\`},
	} {
		if _, err := ParseCSVArgs(args); err == nil {
			t.Errorf("ParseCSVArgs(%q): no error", args)
		}
	}
	if _, err := NewInput(strings.NewReader(""), InputOptions{Format: "csv", End: -1, CSVOptions: CSVOptions{Quote: ';', Delimiter: ';'}}); err == nil {
		t.Error("NewInput with delimiter == quote: no error")
	}
}

func TestCSVEscapeErrors(t *testing.T) {
	in, err := NewInput(strings.NewReader("a\n\"x\\y\"\n"), InputOptions{Format: "csv", Object: "o", End: -1, CSVOptions: CSVOptions{Escape: '\\'}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = readAll(in)
	if re := asRecordError(err); re == nil || re.Offset != 2 {
		t.Fatalf("got %v, want a RecordError at offset 2", err)
	}
}

// TestCSVOwnershipCustomQuote cuts header-less CSV with a custom quote
// and escape at random offsets: the chunks together read every record
// once, as the whole object does.
func TestCSVOwnershipCustomQuote(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 12))
	opts := InputOptions{Format: "csv", Object: "o", Header: columnNames(3),
		CSVOptions: CSVOptions{Delimiter: '|', Quote: '\'', Escape: '\\', NoHeader: true, NullStr: []string{"NULL"}}}
	for range 20 {
		var b strings.Builder
		for i := range 50 + rng.IntN(100) {
			fmt.Fprintf(&b, "%d|'a|b\\'c\"%d'|", i, rng.IntN(1000))
			if rng.IntN(3) == 0 {
				b.WriteString("NULL")
			} else {
				b.WriteString("'x\\'y'")
			}
			b.WriteString([]string{"\n", "\r\n"}[rng.IntN(2)])
		}
		data := []byte(b.String())
		whole, err := readAll(chunkInput(t, data, opts, 0, -1))
		if err != nil {
			t.Fatal(err)
		}
		if whole[0].Row[1].S == "" || !strings.Contains(whole[0].Row[1].S, "a|b'c\"") {
			t.Fatalf("first record %v", whole[0].Row)
		}
		for range 20 {
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

// TestInferCSVSchemaOptions infers with the dialect: nullstr values are
// nulls (an int column stays int64), header=false names column0..N and
// types the first record too.
func TestInferCSVSchemaOptions(t *testing.T) {
	s, err := InferCSVSchema(strings.NewReader("1;x;2.5\n\\N;\\N;NULL\n3;'a;b';1\n"),
		CSVOptions{Delimiter: ';', Quote: '\'', NoHeader: true, NullStr: []string{`\N`, "NULL"}}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "column0:int64,column1:string,column2:float64"; got != want {
		t.Fatalf("schema %s, want %s", got, want)
	}
	h, err := ReadCSVHeader(strings.NewReader("1;2;3\n"), CSVOptions{Delimiter: ';', NoHeader: true})
	if err != nil || !slices.Equal(h, []string{"column0", "column1", "column2"}) {
		t.Fatalf("ReadCSVHeader: %q, %v", h, err)
	}
}

// TestCSVCustomQuoteErrorNamesIt: a quote error with quote=' names '.
func TestCSVCustomQuoteErrorNamesIt(t *testing.T) {
	in, err := NewInput(strings.NewReader("a,b\n1,'x'y\n"), InputOptions{Format: "csv", Object: "o", End: -1, CSVOptions: CSVOptions{Quote: '\''}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = readAll(in)
	if re := asRecordError(err); re == nil || re.Offset != 4 || !strings.Contains(err.Error(), `the quote character is '\''`) {
		t.Fatalf("got %v, want a RecordError at offset 4 naming the quote '", err)
	}
}

// FuzzCSVDialect reads any input in a fuzzed dialect (delimiter, quote,
// escape, header, nullstr) and checks that the fast and slow paths agree
// and that, cut at any offset, the two chunks read exactly the records
// of the whole object (or the first fails with
// ErrQuotedNewlineAtBoundary, the error that names --csv-whole).
func FuzzCSVDialect(f *testing.F) {
	f.Add([]byte("1;'a\r\nb';\\N\n2;'x\\'y';z\n"), ";", "'", `\`, true, uint16(5))
	f.Add([]byte("a|b\n\"q|\"\"\"|NULL\n3|4\r\n"), "|", `"`, `"`, false, uint16(9))
	f.Add([]byte("a\tb\n'x\ty'\t2\n\n3\t\\N\n"), "\t", "'", "'", false, uint16(12))
	f.Fuzz(func(t *testing.T, data []byte, delim, quote, escape string, noHeader bool, cut uint16) {
		first := func(s string) rune { r, _ := utf8.DecodeRuneInString(s); return r }
		o := CSVOptions{Delimiter: first(delim), Quote: first(quote), Escape: first(escape), NoHeader: noHeader, NullStr: []string{`\N`, "NULL"}}
		if o.check() != nil || o.Delimiter == 0 || o.Quote == 0 || o.Escape == 0 {
			return
		}
		read := func(opts InputOptions, start, end int64) ([]rec, error) {
			base := max(start-1, 0)
			opts.Format, opts.Object, opts.Base, opts.Start, opts.End, opts.CSVOptions, opts.MaxRecordBytes = "csv", "fuzz", base, start, end, o, 4096
			in, err := NewInput(bytes.NewReader(data[base:]), opts)
			if err != nil {
				return nil, err
			}
			return readAll(in)
		}
		whole, err := read(InputOptions{}, 0, -1)
		slow, slowErr := read(InputOptions{csvSlowPathOnly: true}, 0, -1)
		if !equalRecs(whole, slow) || (err == nil) != (slowErr == nil) {
			t.Fatalf("fast path %v %v, slow path %v %v", whole, err, slow, slowErr)
		}
		if err != nil || len(data) < 2 {
			return
		}
		header, herr := ReadCSVHeader(bytes.NewReader(data), o)
		if herr != nil {
			return
		}
		c := 1 + int64(cut)%int64(len(data)-1)
		if !noHeader && (len(whole) == 0 || c < whole[0].Offset) {
			return // the planner never cuts inside the header row
		}
		a, err := read(InputOptions{Header: header}, 0, c)
		if errors.Is(err, ErrQuotedNewlineAtBoundary) {
			return
		}
		if err != nil {
			t.Fatalf("chunk [0,%d): %v (the whole object reads without error)", c, err)
		}
		b, err := read(InputOptions{Header: header}, c, -1)
		if err != nil {
			t.Fatalf("chunk [%d,end): %v (the whole object reads without error)", c, err)
		}
		if got := append(a, b...); !equalRecs(got, whole) {
			t.Fatalf("cut at %d: chunks read %v, the whole object %v", c, got, whole)
		}
	})
}

// TestCSVNoHeaderSchemaIsPositional: with header=false a given schema
// names the fields in order (as DuckDB's columns option does), so
// id,name read the two fields rather than nulls.
func TestCSVNoHeaderSchemaIsPositional(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "id", Type: functions.Int64}, {Name: "name", Type: functions.String}}}
	data := []byte("1,a\n2,b\n")
	opts := InputOptions{Format: "csv", Object: "o", Schema: schema, Header: columnNames(2), CSVOptions: CSVOptions{NoHeader: true}}
	for _, cut := range []int64{0, 4} {
		var recs []rec
		var err error
		if cut == 0 {
			recs, err = readAll(chunkInput(t, data, opts, 0, -1))
		} else {
			recs, err = readChunks(t, data, opts, []int64{cut})
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].Row[0].I != 1 || recs[0].Row[1].S != "a" || recs[1].Row[0].I != 2 || recs[1].Row[1].S != "b" {
			t.Fatalf("cut %d: got %v, want (1,a),(2,b)", cut, recs)
		}
	}
}
