package codec

import (
	"bytes"
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
