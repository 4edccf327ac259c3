package functions

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNestedTypesRoundTrip(t *testing.T) {
	for spec, want := range map[string]string{
		"list(int64)":                      "list(int64)",
		"INTEGER[]":                        "list(int32)",
		"varchar[][]":                      "list(list(string))",
		"struct(a int64, b list(string))":  "struct(a int64, b list(string))",
		"STRUCT(a BIGINT, b VARCHAR[])":    "struct(a int64, b list(string))",
		"map(string, int64)":               "map(string, int64)",
		"map(varchar, struct(x double))[]": "list(map(string, struct(x float64)))",
		`struct("a b" int, "c,d)" decimal(10,2), "q""" timestamp with time zone, "" bool)`: `struct("a b" int64, "c,d)" decimal(10,2), "q""" timestamptz, "" bool)`,
		"struct(s struct(t struct(u list(map(int32, uuid)))))":                             "struct(s struct(t struct(u list(map(int32, uuid)))))",
		" list ( decimal ( 38 , 10 ) ) ":                                                   "list(decimal(38,10))",
	} {
		c, err := ParseColumnType(spec)
		if err != nil {
			t.Errorf("ParseColumnType(%q): %v", spec, err)
			continue
		}
		if got := c.TypeString(); got != want {
			t.Errorf("ParseColumnType(%q).TypeString() = %q, want %q", spec, got, want)
		}
		again, err := ParseColumnType(c.TypeString())
		if err != nil || !again.SameType(c) {
			t.Errorf("ParseColumnType(%q) = %+v, %v; want %+v", c.TypeString(), again, err, c)
		}
	}
	for _, bad := range []string{"list()", "list(int64", "list(int64))", "struct()", "struct(a)", "struct(a int64, a string)",
		"map(string)", "map(string, int64, bool)", "int64[", "int64[x]", "list(nope)", `struct("a int64)`, "struct(a b c)",
		strings.Repeat("list(", 100) + "int64" + strings.Repeat(")", 100)} {
		if c, err := ParseColumnType(bad); err == nil {
			t.Errorf("ParseColumnType(%q) = %s, want an error", bad, c.TypeString())
		}
	}
}

func TestNestedSchemaRoundTrips(t *testing.T) {
	spec := `id:int64,tags:varchar[],"a:b":struct("x,y" int, z map(string, list(double))),m:map(int32, bool)`
	s, err := ParseSchema(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Columns) != 4 || s.Columns[2].Name != "a:b" || s.Columns[2].Fields[0].Name != "x,y" {
		t.Fatalf("ParseSchema(%q) = %+v", spec, s.Columns)
	}
	want := `id:int64,tags:list(string),"a:b":struct("x,y" int64, z map(string, list(float64))),m:map(int32, bool)`
	if got := s.String(); got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	again, err := ParseSchema(s.String())
	if err != nil || !again.Equal(s) {
		t.Errorf("ParseSchema(String()) = %v, %v", again, err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Schema
	if err := json.Unmarshal(b, &back); err != nil || !back.Equal(s) {
		t.Errorf("JSON %s read back as %+v, %v", b, back, err)
	}
}

func TestNestedValues(t *testing.T) {
	col, err := ParseColumnType(`struct(a int64, "b c" list(string), m map(string, float64), e list(int64))`)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(a int64, bs []Value, m []Value) Value {
		return StructValue([]Value{IntValue(a), ListValue(bs), MapValue(m), ListValue(nil)})
	}
	v := mk(1, []Value{StringValue("x"), Null(String)}, []Value{StringValue("k"), FloatValue(1.5), StringValue("n"), Null(Float64)})
	if got, want := string(col.AppendJSON(nil, v)), `{"a":1,"b c":["x",null],"m":{"k":1.5,"n":null},"e":[]}`; got != want {
		t.Errorf("AppendJSON = %s, want %s", got, want)
	}
	if got, want := v.Text(), `[1,["x",null],{"k":1.5,"n":null},[]]`; got != want {
		t.Errorf("Text without the column = %s, want %s", got, want)
	}
	if v.Len() != 4 || v.Items()[2].Len() != 2 || v.Items()[3].Len() != 0 || v.Items()[3].Items() != nil || !v.Items()[3].Valid {
		t.Errorf("Len/Items wrong: %d %d %d", v.Len(), v.Items()[2].Len(), v.Items()[3].Len())
	}
	w := mk(1, []Value{StringValue("x"), Null(String)}, []Value{StringValue("k"), FloatValue(1.5), StringValue("n"), Null(Float64)})
	if !Equal(v, w) || Compare(v, w) != 0 {
		t.Errorf("equal nested values compare unequal")
	}
	u := mk(1, []Value{StringValue("x"), StringValue("")}, nil)
	if Equal(v, u) || Compare(v, u) != -1 || Compare(u, v) != 1 {
		t.Errorf("null element should sort before a value: %d", Compare(v, u))
	}
	short := mk(1, []Value{StringValue("x")}, nil)
	if Compare(short, v) != -1 {
		t.Errorf("a prefix list should sort first")
	}
	if Equal(Null(Type(KindStruct)), v) || !Equal(Null(Type(KindList)), Null(Type(KindList))) {
		t.Errorf("null equality wrong")
	}
	if Type(KindMap).Field() != FieldN || !Type(KindList).IsNested() || Int64.IsNested() {
		t.Errorf("Field/IsNested wrong")
	}
}

// FuzzParseSchema: any text either fails to parse or parses to a schema
// whose String parses back to the same schema and spells itself the same.
func FuzzParseSchema(f *testing.F) {
	for _, s := range []string{
		`id:int64,tags:varchar[],"a:b":struct("x,y" int, z map(string, list(double))),m:map(int32, bool)`,
		`a:struct("" int, """" list(decimal(10,2))[])`, `x:list(list(list(int64)))`, `"":map(string, struct(a timestamp with time zone))`,
		`a:STRUCT(b BIGINT[], c MAP(VARCHAR, UUID))`, `a:int64[`, `a:struct(a int, a int)`,
		`"(",0000`, `")":int64,"a(b)":struct("(" int)`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseSchema(spec)
		if err != nil {
			return
		}
		text := s.String()
		again, err := ParseSchema(text)
		if err != nil {
			t.Fatalf("ParseSchema(%q) = %q, which does not parse: %v", spec, text, err)
		}
		if !again.Equal(s) || again.String() != text {
			t.Fatalf("ParseSchema(%q).String() = %q parses to %q", spec, text, again.String())
		}
	})
}
