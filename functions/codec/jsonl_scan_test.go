package codec

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// scanValid reports whether the scanner takes b as one JSON value.
func scanValid(b []byte) bool {
	s := jsonScan{b: b}
	if _, err := s.skip(0); err != nil {
		return false
	}
	s.ws()
	return s.i == len(b)
}

// The scanner takes exactly what json.Valid takes (every syntax error,
// the nesting limit), and decodes strings exactly as json.Unmarshal does
// (escapes, surrogate pairs, lone surrogates).
func FuzzJSONScanAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":[1,2,{"b":null}],"c":"x\"y\\u00e9"}`, `[]`, `{}`, `-0.5e+10`, `01`, `1.`, `.5`, `1e`, `-`,
		`"\ud83d\ude00"`, `"\ud83d"`, `"\udc00\ud800"`, `"\ud800\u0041"`, `"\u00"`, `"\x"`, "\"a\tb\"", `"\/\b\f\n\r\t"`,
		` "" `, `tru`, `nulll`, `{"a" 1}`, `{"a":1,}`, `[1,]`, `{,}`, ` {"a" : [ 1 , 2 ] } `, "\"\xff\"", `{"a":1}}`,
		strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth),
		strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := scanValid(b), json.Valid(b); got != want {
			t.Fatalf("%q: scanner says valid %v, json.Valid %v", b, got, want)
		}
		if lit := bytes.Trim(b, " \t\r\n"); len(lit) > 0 && lit[0] == '"' && json.Valid(lit) {
			var want string
			if err := json.Unmarshal(lit, &want); err != nil {
				t.Fatal(err)
			}
			if got := unquoteJSON(lit); got != want {
				t.Fatalf("%q: unquoted %q, json.Unmarshal %q", b, got, want)
			}
		}
	})
}

// TestJSONScanSeeds runs the fuzz seeds and the nesting limit on both of
// its sides as a test.
func TestJSONScanNestingLimit(t *testing.T) {
	for _, n := range []int{1, 64, maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1, 3 * maxJSONDepth} {
		for _, open := range []string{"[", `{"a":`} {
			var b strings.Builder
			b.WriteString(strings.Repeat(open, n))
			b.WriteString("1")
			b.WriteString(strings.Repeat(map[string]string{"[": "]", `{"a":`: "}"}[open], n))
			if got, want := scanValid([]byte(b.String())), json.Valid([]byte(b.String())); got != want {
				t.Errorf("%d levels of %s: scanner %v, json.Valid %v", n, open, got, want)
			}
		}
	}
}

// A line the JSONL reader takes gives the values json.Unmarshal reads
// from it, through Next and NextBorrowed alike: escapes, surrogate pairs,
// numbers at the edges of int64 and float64, nulls at every level, deep
// lists; a line json.Valid refuses is an invalid JSON error wherever the
// fault is, also after a value that does not convert.
func TestJSONLScanExact(t *testing.T) {
	schema, err := functions.ParseSchema("s:string,i:int64,f:float64,l:list(list(list(string))),u:struct(a struct(b list(int64)), m map(string, float64))")
	if err != nil {
		t.Fatal(err)
	}
	str, i64, f64 := functions.StringValue, functions.IntValue, functions.FloatValue
	list := functions.ListValue
	null := functions.Null
	nullL, nullS, nullM := null(functions.Type(functions.KindList)), null(functions.Type(functions.KindStruct)), null(functions.Type(functions.KindMap))
	row := func(vals ...functions.Value) functions.Row {
		r := functions.Row{null(functions.String), null(functions.Int64), null(functions.Float64), nullL, nullS}
		for i := 0; i < len(vals); i += 2 {
			r[vals[i].I] = vals[i+1]
		}
		return r
	}
	at := func(i int) functions.Value { return functions.Value{I: int64(i)} }
	tests := []struct {
		name, line string
		want       functions.Row
		wantErr    string
	}{
		{"escapes", `{"s":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac"}`, row(at(0), str("a\"b\\c/d\b\f\n\r\tAé€")), ""},
		{"surrogate pair", `{"s":"\ud83d\ude00!"}`, row(at(0), str("😀!")), ""},
		{"lone high surrogate", `{"s":"\ud83d!"}`, row(at(0), str("\uFFFD!")), ""},
		{"lone low surrogate", `{"s":"\ude00\ud83d\ude00"}`, row(at(0), str("\uFFFD😀")), ""},
		{"high surrogate then a non-surrogate escape", `{"s":"\ud800\u0041"}`, row(at(0), str("\uFFFDA")), ""},
		{"raw UTF-8", `{"s":"ünï €😀"}`, row(at(0), str("ünï €😀")), ""},
		{"escaped key", `{"\u0069":7}`, row(at(1), i64(7)), ""},
		{"max int64", `{"i":9223372036854775807}`, row(at(1), i64(math.MaxInt64)), ""},
		{"min int64", `{"i":-9223372036854775808}`, row(at(1), i64(math.MinInt64)), ""},
		{"int64 past max", `{"i":9223372036854775808}`, nil, "not an integer in int64 range"},
		{"int64 past min", `{"i":-9223372036854775809}`, nil, "not an integer in int64 range"},
		{"max int64 as exponent", `{"i":9.223372036854775807e18}`, row(at(1), i64(math.MaxInt64)), ""},
		{"max float64", `{"f":1.7976931348623157e308}`, row(at(2), f64(math.MaxFloat64)), ""},
		{"float64 past max", `{"f":1.7976931348623159e308}`, nil, "out of float64 range"},
		{"smallest subnormal", `{"f":5e-324}`, row(at(2), f64(math.SmallestNonzeroFloat64)), ""},
		{"under the smallest subnormal", `{"f":2e-324}`, row(at(2), f64(0)), ""},
		{"negative zero", `{"f":-0}`, row(at(2), f64(math.Copysign(0, -1))), ""},
		{"negative zero fraction", `{"f":-0.0}`, row(at(2), f64(math.Copysign(0, -1))), ""},
		{"17 digits", `{"f":0.30000000000000004}`, row(at(2), f64(0.30000000000000004)), ""},
		{"nulls at every level", `{"l":[null,[null,[null]],[]],"u":{"a":{"b":[null]},"m":{"k":null}}}`,
			row(at(3), list([]functions.Value{nullL, list([]functions.Value{nullL, list([]functions.Value{null(functions.String)})}), list(nil)}),
				at(4), functions.StructValue([]functions.Value{functions.StructValue([]functions.Value{list([]functions.Value{null(functions.Int64)})}),
					functions.MapValue([]functions.Value{str("k"), null(functions.Float64)})})), ""},
		{"null struct fields", `{"u":{"a":null,"m":null}}`, row(at(4), functions.StructValue([]functions.Value{nullS, nullM})), ""},
		{"null list and struct", `{"l":null,"u":null}`, row(), ""},
		{"empty and whitespace", ` { "l" : [ [ ] , [ [ "x" , "y" ] ] ] , "u" : { } } `,
			row(at(3), list([]functions.Value{list(nil), list([]functions.Value{list([]functions.Value{str("x"), str("y")})})}),
				at(4), functions.StructValue([]functions.Value{nullS, nullM})), ""},
		{"deep unknown member", `{"zz":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `,"i":1}`, row(at(1), i64(1)), ""},
		{"too deep for json.Valid", `{"zz":` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth) + `}`, nil, "invalid JSON"},
		{"invalid UTF-8 in a string", "{\"s\":\"a\xc3\"}", nil, "not valid UTF-8"},
		{"invalid UTF-8 in an unknown member", "{\"zz\":[\"\xed\xa0\x80\"]}", nil, "not valid UTF-8"},
		{"control character in a string", "{\"s\":\"a\tb\"}", nil, "invalid JSON"},
		{"bad escape", `{"s":"\x41"}`, nil, "invalid JSON"},
		{"short unicode escape", `{"s":"\u41"}`, nil, "invalid JSON"},
		{"leading zero", `{"i":01}`, nil, "invalid JSON"},
		{"bare fraction", `{"f":.5}`, nil, "invalid JSON"},
		{"fraction without digits", `{"f":1.}`, nil, "invalid JSON"},
		{"exponent without digits", `{"f":1e+}`, nil, "invalid JSON"},
		{"trailing comma", `{"i":1,}`, nil, "invalid JSON"},
		{"trailing comma in a list", `{"l":[[],]}`, nil, "invalid JSON"},
		{"syntax error after a bad value", `{"i":"x","s":tru}`, nil, "invalid JSON"},
		{"syntax error inside a bad value", `{"i":[1,}`, nil, "invalid JSON"},
		{"bad value before good syntax", `{"i":"x","s":"y"}`, nil, `column "i": cannot parse "x" as int64`},
		{"list where a struct goes", `{"u":[1]}`, nil, "is not a struct"},
		{"garbage after the object", `{"i":1} 2`, nil, "invalid JSON"},
	}
	for _, tt := range tests {
		for _, borrow := range []bool{false, true} {
			name := tt.name
			if borrow {
				name += "/borrowed"
			}
			t.Run(name, func(t *testing.T) {
				// The line twice: the second read must not change the first
				// record's values when they are owned.
				in, err := NewInput(strings.NewReader(tt.line+"\n"+tt.line+"\n"), InputOptions{Format: "jsonl", Object: "o", End: -1, Schema: schema})
				if err != nil {
					t.Fatal(err)
				}
				next := in.Next
				if borrow {
					next = in.(functions.BorrowingInput).NextBorrowed
				}
				r, err := next()
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) || asRecordError(err) == nil {
						t.Fatalf("got %v, %v; want a RecordError containing %q", r, err, tt.wantErr)
					}
					if json.Valid([]byte(tt.line)) == strings.Contains(err.Error(), "invalid JSON") {
						t.Errorf("json.Valid says %v, the error %v", json.Valid([]byte(tt.line)), err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !rowsEqual(r.Row, tt.want) {
					t.Fatalf("got %v, want %v", r.Row, tt.want)
				}
				first := r.Row
				if borrow {
					first = deepCopyRow(r.Row)
				}
				r2, err := next()
				if err != nil {
					t.Fatal(err)
				}
				if !rowsEqual(r2.Row, tt.want) || !rowsEqual(first, tt.want) {
					t.Errorf("second record %v, first after it %v, want %v", r2.Row, first, tt.want)
				}
			})
		}
	}
}

// rowsEqual compares rows deeply, floats by their bits (-0 is not 0).
func rowsEqual(a, b functions.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !valuesIdentical(a[i], b[i]) {
			return false
		}
	}
	return true
}

func valuesIdentical(a, b functions.Value) bool {
	if a.Valid != b.Valid || a.Type != b.Type {
		return false
	}
	if !a.Valid {
		return true
	}
	if a.Type.IsNested() {
		return rowsEqual(a.Items(), b.Items())
	}
	return a.I == b.I && math.Float64bits(a.F) == math.Float64bits(b.F) && a.S == b.S
}

// deepCopyRow copies a row, its nested items and strings.
func deepCopyRow(r functions.Row) functions.Row {
	out := make(functions.Row, len(r))
	for i, v := range r {
		out[i] = functions.CloneValue(v)
	}
	return out
}

// Borrowed records read the same values as owned ones over the events
// data, record by record.
func TestJSONLBorrowedReadsWhatNextReads(t *testing.T) {
	data := eventsJSONL(1 << 20)
	schema, err := functions.ParseSchema(eventsSchema)
	if err != nil {
		t.Fatal(err)
	}
	open := func() functions.Input {
		in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "jsonl", End: -1, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	owned, borrowed := open(), open().(functions.BorrowingInput)
	var kept []functions.Row // owned rows stay intact while later ones are read
	for n := 0; ; n++ {
		a, errA := owned.Next()
		b, errB := borrowed.NextBorrowed()
		if errA == io.EOF && errB == io.EOF {
			if n < 1000 {
				t.Fatalf("%d records", n)
			}
			break
		}
		if errA != nil || errB != nil {
			t.Fatalf("record %d: %v, %v", n, errA, errB)
		}
		if !rowsEqual(a.Row, b.Row) {
			t.Fatalf("record %d: owned %v, borrowed %v", n, a.Row, b.Row)
		}
		kept = append(kept, append(functions.Row(nil), a.Row...))
	}
	again := open()
	for n, want := range kept {
		r, err := again.Next()
		if err != nil || !rowsEqual(want, r.Row) {
			t.Fatalf("record %d kept as %v, read again %v (%v)", n, want, r.Row, err)
		}
	}
}

// FuzzNestedJSONLReader reads any bytes with a nested schema, owned and
// borrowed: no panic, every failure a RecordError, and both reads give
// the same records.
func FuzzNestedJSONLReader(f *testing.F) {
	f.Add([]byte(`{"l":[[["a"]],null,[]],"u":{"a":{"b":[1,null]},"m":{"k":1.5,"z":null}},"s":"x"}` + "\n" + `{"u":[1]}`))
	f.Add([]byte(`{"u":{"zz":{"q":[{}]},"a":null},"l":[[[null,"\u00e9\ud83d\ude00"]]]}` + "\n{}\n" + `{"i":1e2,"f":-0}`))
	schema, err := functions.ParseSchema("s:string,i:int64,f:float64,l:list(list(list(string))),u:struct(a struct(b list(int64)), m map(string, float64))")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		open := func() functions.BorrowingInput {
			in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "jsonl", Object: "fuzz", End: -1, Schema: schema, MaxRecordBytes: 4096})
			if err != nil {
				t.Fatal(err)
			}
			return in.(functions.BorrowingInput)
		}
		owned, borrowed := open(), open()
		for i := 0; i <= len(data)+1; i++ {
			a, errA := owned.Next()
			b, errB := borrowed.NextBorrowed()
			if errA == io.EOF && errB == io.EOF {
				return
			}
			if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
				t.Fatalf("record %d: owned %v, borrowed %v", i, errA, errB)
			}
			if errA != nil {
				if asRecordError(errA) == nil {
					t.Fatalf("error %v is not a RecordError", errA)
				}
				continue
			}
			if !json.Valid(bytes.TrimSpace(a.Raw)) {
				t.Fatalf("record %d read from a line json.Valid refuses: %q", i, a.Raw)
			}
			if !rowsEqual(a.Row, b.Row) {
				t.Fatalf("record %d: owned %v, borrowed %v", i, a.Row, b.Row)
			}
		}
		t.Fatal("no end")
	})
}
