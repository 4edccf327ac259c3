package builtin_test

import (
	"slices"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

func TestConvert(t *testing.T) {
	tests := []struct {
		name   string
		args   map[string]string
		schema string
		want   []string
	}{
		{"all", nil, "name:string,age:int64,vip:bool", []string{"alice,30,true", "bob,17,", ",,false"}},
		{"schema is ignored", map[string]string{"schema": "x:int64"}, "name:string,age:int64,vip:bool", []string{"alice,30,true", "bob,17,", ",,false"}},
		{"select reorders", map[string]string{"select": "age, name"}, "age:int64,name:string", []string{"30,alice", "17,bob", ","}},
		{"select all in order", map[string]string{"select": "name,age,vip"}, "name:string,age:int64,vip:bool", []string{"alice,30,true", "bob,17,", ",,false"}},
		{"where", map[string]string{"where": "age >= 18 or vip is not null and not vip"}, "name:string,age:int64,vip:bool", []string{"alice,30,true", ",,false"}},
		{"where reads unselected columns", map[string]string{"select": "name", "where": "age < 18"}, "name:string", []string{"bob"}},
		{"where drops nulls", map[string]string{"where": "name != 'alice'"}, "name:string,age:int64,vip:bool", []string{"bob,17,"}},
		{"rename", map[string]string{"select": "age,name", "rename": "name:who, age:years"}, "years:int64,who:string", []string{"30,alice", "17,bob", ","}},
		{"rename chain", map[string]string{"rename": "name:n,n:m"}, "m:string,age:int64,vip:bool", []string{"alice,30,true", "bob,17,", ",,false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, schema, err := run(t, builtin.Convert{}, tt.args, peopleInput())
			if err != nil {
				t.Fatal(err)
			}
			if got := schema.String(); got != tt.schema {
				t.Errorf("got schema %s, want %s", got, tt.schema)
			}
			if got := out.texts(); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConvertDoesNotChangeInputSchema(t *testing.T) {
	in := peopleInput()
	before := in.schema.String()
	if _, _, err := run(t, builtin.Convert{}, map[string]string{"rename": "name:who"}, in); err != nil {
		t.Fatal(err)
	}
	if got := in.schema.String(); got != before {
		t.Errorf("got input schema %s after rename, want %s", got, before)
	}
}

func TestConvertShortRowReadsNull(t *testing.T) {
	in := rows(people, functions.Row{functions.StringValue("carol")})
	out, _, err := run(t, builtin.Convert{}, map[string]string{"select": "vip,name"}, in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.texts(), []string{",carol"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
