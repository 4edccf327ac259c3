package builtin_test

import (
	"slices"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

func TestGrep(t *testing.T) {
	withRaw := rows(people, functions.Row{functions.StringValue("x"), functions.IntValue(1), functions.BoolValue(true)})
	withRaw.recs[0].Raw = []byte(`{"name":"x","age":1,"vip":true}`)
	tests := []struct {
		name string
		in   *sliceInput
		args map[string]string
		want []string
	}{
		{"lines", lines("apple", "banana", "avocado", ""), map[string]string{"pattern": "^a"}, []string{"apple", "avocado"}},
		{"invert", lines("apple", "banana", "avocado", ""), map[string]string{"pattern": "^a", "invert": "true"}, []string{"banana", ""}},
		{"invert false", lines("apple", "banana"), map[string]string{"pattern": "an", "invert": "false"}, []string{"banana"}},
		{"empty lines", lines("a", "", "b"), map[string]string{"pattern": "^$"}, []string{""}},
		{"no match", lines("a", "b"), map[string]string{"pattern": "z"}, []string{}},
		{"columns joined", peopleInput(), map[string]string{"pattern": "^bob,17,$"}, []string{"bob,17,"}},
		{"column string", peopleInput(), map[string]string{"pattern": "^a", "column": "name"}, []string{"alice,30,true"}},
		{"column int", peopleInput(), map[string]string{"pattern": "^1", "column": "age"}, []string{"bob,17,"}},
		{"column null is empty", peopleInput(), map[string]string{"pattern": "^$", "column": "vip"}, []string{"bob,17,"}},
		{"raw bytes win", withRaw, map[string]string{"pattern": `"age":1,`}, []string{"x,1,true"}},
		{"raw bytes only", withRaw, map[string]string{"pattern": `^x,1`}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, schema, err := run(t, builtin.Grep{}, tt.args, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if schema != tt.in.schema {
				t.Errorf("got schema %s, want the input's %s", schema, tt.in.schema)
			}
			if got := out.texts(); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
