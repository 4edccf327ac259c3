package fanout

import (
	"errors"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
)

func TestWiderTypeReadsBothExactly(t *testing.T) {
	i32 := functions.Type(functions.KindInt32)
	f32 := functions.Type(functions.KindFloat32)
	for _, c := range []struct {
		name     string
		a, b     functions.Type
		inferred bool
		want     functions.Type
	}{
		{"same", functions.Int64, functions.Int64, false, functions.Int64},
		{"int widths", i32, functions.Int64, false, functions.Int64},
		{"uint64 beside int64", functions.Uint64, functions.Int64, false, functions.String},
		{"float widths", f32, functions.Float64, false, functions.Float64},
		{"inferred int and float", functions.Int64, functions.Float64, true, functions.Float64},
		{"parquet int64 and double: a float64 would round", functions.Int64, functions.Float64, false, functions.String},
		{"parquet int32 and double", i32, functions.Float64, false, functions.Float64},
		{"bool and int", functions.Bool, functions.Int64, true, functions.String},
		{"timestamp and string", functions.Timestamp, functions.String, true, functions.String},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := widerType(c.a, c.b, c.inferred); got != c.want {
				t.Errorf("widerType(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
			}
			if got := widerType(c.b, c.a, c.inferred); got != c.want {
				t.Errorf("widerType(%v, %v) = %v, want %v", c.b, c.a, got, c.want)
			}
		})
	}
}

func TestSchemaUnionByName(t *testing.T) {
	cols := func(spec string) []functions.Column {
		s, err := functions.ParseSchema(spec)
		if err != nil {
			t.Fatal(err)
		}
		return s.Columns
	}
	first := &functions.Schema{Columns: cols("id:int64,quantity:int64")}

	u := newSchemaUnion(manifest.JobSpec{}, first, false)
	if err := u.add("b.csv", cols("id:int64,qty:int64,discount:float64"), false, false, true); err != nil {
		t.Fatal(err)
	}
	if err := u.add("c.jsonl", cols("id:float64,note:string"), true, true, true); err != nil {
		t.Fatal(err)
	}
	if got, want := u.schema().String(), "id:float64,quantity:int64,qty:int64,discount:float64,note:string"; got != want {
		t.Errorf("union: got %s, want %s", got, want)
	}

	fixed := newSchemaUnion(manifest.JobSpec{SchemaMode: manifest.SchemaFixed}, first, false)
	err := fixed.add("b.csv", cols("id:int64,qty:int64,discount:float64"), false, false, true)
	var me *SchemaMismatchError
	if !errors.As(err, &me) || me.Object != "b.csv" || len(me.Missing) != 1 || me.Missing[0] != "quantity" || len(me.Extra) != 2 {
		t.Fatalf("fixed: got %v, want b.csv lacking quantity with qty and discount extra", err)
	}
	if !functions.IsPermanent(err) {
		t.Errorf("fixed: %v is not permanent", err)
	}
	if err := fixed.add("d.jsonl", cols("id:int64"), true, true, true); err != nil {
		t.Errorf("fixed: a JSONL sample without a key is not drift, got %v", err)
	}
	if got := fixed.schema().String(); got != "id:int64,quantity:int64" {
		t.Errorf("fixed: the schema changed to %s", got)
	}
}

// Nested columns widen inside (struct fields joined by name, elements and
// values widened); a nested column beside another shape is JSON text.
func TestWiderColumnOfNestedColumns(t *testing.T) {
	col := func(s string) functions.Column {
		c, err := functions.ParseColumnType(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct{ a, b, want string }{
		{"list(int64)", "list(float64)", "list(float64)"},
		{"struct(a int64, b list(string))", "struct(c bool, a float64)", "struct(a float64, b list(string), c bool)"},
		{"map(string, int64)", "map(string, struct(x int64))", "map(string, string)"},
		{"list(int64)", "struct(a int64)", "string"},
		{"list(int64)", "int64", "string"},
	} {
		if got := widerColumn(col(tc.a), col(tc.b), true).TypeString(); got != tc.want {
			t.Errorf("widerColumn(%s, %s) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
}
