package codec

import (
	"bytes"
	"maps"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// Nested values are written as JSON by the JSONL writer and as quoted
// JSON text by the CSV writer, with their field names.
func TestNestedValuesWrittenAsJSON(t *testing.T) {
	s, err := functions.ParseSchema(`id:int64,tags:list(string),"u":struct(n int64, "b,c" binary, d decimal(10,2)),m:map(string, list(int32))`)
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := functions.ParseDecimal(functions.DecimalOf(10, 2), "1.5")
	row := functions.Row{
		functions.IntValue(1),
		functions.ListValue([]functions.Value{functions.StringValue(`a"b`), functions.Null(functions.String)}),
		functions.StructValue([]functions.Value{functions.Null(functions.Int64), {Type: functions.Binary, Valid: true, S: "\xff\x00"}, dec}),
		functions.MapValue([]functions.Value{functions.StringValue("k"), functions.ListValue(nil), functions.StringValue("z"), functions.Null(functions.Type(functions.KindList))}),
	}
	nulls := functions.Row{functions.IntValue(2), functions.Null(functions.Type(functions.KindList)), functions.Null(functions.Type(functions.KindStruct)), functions.Null(functions.Type(functions.KindMap))}
	for format, want := range map[string]string{
		"jsonl": `{"id":1,"tags":["a\"b",null],"u":{"n":null,"b,c":"/wA=","d":1.50},"m":{"k":[],"z":null}}` + "\n" +
			`{"id":2,"tags":null,"u":null,"m":null}` + "\n",
		"csv": "id,tags,u,m\n" + `1,"[""a\""b"",null]","{""n"":null,""b,c"":""/wA="",""d"":1.50}","{""k"":[],""z"":null}"` + "\n" + "2,,,\n",
	} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, format, s, WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []functions.Row{row, nulls} {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != want {
			t.Errorf("%s:\n got %s\nwant %s", format, buf.String(), want)
		}
	}
}

// A member a struct lacks is dropped and counted under its path; a record
// that fails counts nothing; a value of the wrong shape names the type.
func TestNestedJSONLDropsAndErrors(t *testing.T) {
	s, err := functions.ParseSchema("u:struct(a int64, s list(string)),e:list(struct(t string)),m:map(int32, bool)")
	if err != nil {
		t.Fatal(err)
	}
	data := `{"u":{"a":1,"x":2,"s":[{"k":1},"y"]},"e":[{"t":"a","z":1},null,{"z":2}],"m":{"1":true,"-2":null}}` + "\n" +
		`{"u":{"x":3},"e":[{"z":1}],"m":{"x":true}}` + "\n" +
		`{"u":[1]}` + "\n"
	in, err := NewInput(strings.NewReader(data), InputOptions{Format: "jsonl", End: -1, Schema: s})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := in.Next()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, "jsonl", s, WriterOptions{})
	if err := w.Write(rec.Row); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got, want := buf.String(), `{"u":{"a":1,"s":["{\"k\":1}","y"]},"e":[{"t":"a"},null,{"t":null}],"m":{"1":true,"-2":null}}`+"\n"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, want := range []string{`map key: cannot parse "x" as int32`, `JSON value "[1]" is not a struct(a int64, s list(string))`} {
		if _, err := in.Next(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error saying %s", err, want)
		}
	}
	d := in.(DriftInput).Drift()
	if want := map[string]int64{"u.x": 1, "e.z": 2}; !maps.Equal(d.Dropped, want) {
		t.Errorf("Dropped = %v, want %v", d.Dropped, want)
	}
	if want := map[string]int64{"u.s": 1}; !maps.Equal(d.AsJSON, want) {
		t.Errorf("AsJSON = %v, want %v", d.AsJSON, want)
	}
}
