package expr

import (
	"math"
	"slices"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// FuzzCompile checks that Compile never panics and that a compiled
// expression evaluates any row without panicking.
func FuzzCompile(f *testing.F) {
	for _, src := range []string{
		"age = 30 or age = 17 and name = 'x'",
		`"user name" like '%\_B' and ts >= '2024-05-01'`,
		"name not in ('a', 'b''c') and score > -1.5e3",
		"not (vip or name ~ '(?i)^a.*z$') and tag is not null",
		"age in (1, 2.5, '3') or score <> age",
	} {
		f.Add(src)
	}
	rows := []functions.Row{alice, bob, nulls, nil, {functions.FloatValue(math.NaN())}}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Compile(src, testSchema)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Compile(%q): got %T %v, want an *Error", src, err, err)
			}
			return
		}
		for _, c := range e.Columns() {
			if !slices.Contains(testSchema.Names(), c) {
				t.Fatalf("Compile(%q): Columns has %q, not in the schema", src, c)
			}
		}
		for _, row := range rows {
			e.Eval(row)
		}
	})
}

// FuzzCompileNested is FuzzCompile over nested columns, with rows whose
// nested values are right, null, empty or of another shape.
func FuzzCompileNested(f *testing.F) {
	for _, src := range []string{"u.a[2] = 'x' or m['k'] > 1", `u."b c".d is null and u.a[-1] like 'x%'`, "m[1] = 1", "u.a = 'x'", "u.a[1"} {
		f.Add(src)
	}
	s, err := functions.ParseSchema(`u:struct(a list(string), "b c" struct(d int64)),m:map(string, int64)`)
	if err != nil {
		f.Fatal(err)
	}
	str := functions.StringValue
	rows := []functions.Row{
		{functions.StructValue([]functions.Value{functions.ListValue([]functions.Value{str("x"), functions.Null(functions.String)}), functions.StructValue([]functions.Value{functions.IntValue(1)})}),
			functions.MapValue([]functions.Value{str("k"), functions.IntValue(2)})},
		{functions.StructValue(nil), functions.ListValue([]functions.Value{str("k")})},
		{str("flat"), functions.IntValue(1)},
		{functions.Null(functions.Type(functions.KindStruct))},
		nil,
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Compile(src, s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Compile(%q): got %T %v, want an *Error", src, err, err)
			}
			return
		}
		for _, row := range rows {
			e.Eval(row)
		}
	})
}
