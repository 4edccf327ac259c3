package builtin_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

func TestRegistry(t *testing.T) {
	reg := builtin.Registry()
	if got, want := reg.Names(), []string{"aggregate", "convert", "count", "distinct", "duplicates", "exec", "grep", "profile", "topk", "validate", "wordcount"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, name := range reg.Names() {
		fn, err := reg.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if d := fn.Describe(); d == "" || strings.Contains(d, "\n") {
			t.Errorf("%s: Describe() = %q, want one line", name, d)
		}
	}
}

// TestArgErrors covers the errors every function reports from Prepare: they
// are permanent and name the argument.
func TestArgErrors(t *testing.T) {
	tests := []struct {
		fn   functions.Function
		args map[string]string
		want string
	}{
		{builtin.Convert{}, map[string]string{"selct": "a"}, `convert: unknown argument "selct" (did you mean select? valid: contract, delim, escape, header, max_page_size, nullstr, quote, rename, schema, select, where)`},
		{builtin.Convert{}, map[string]string{"select": "name,nope"}, `convert: select="name,nope": unknown column "nope" (columns: name, age, vip)`},
		{builtin.Convert{}, map[string]string{"select": "name, name"}, `convert: select="name, name": column "name" selected twice`},
		{builtin.Convert{}, map[string]string{"select": " , "}, `convert: select=" , ": no columns`},
		{builtin.Convert{}, map[string]string{"select": `"name`}, `convert: select="\"name": quoted column name not closed`},
		{builtin.Convert{}, map[string]string{"where": "agee > 1"}, `convert: where="agee > 1": expr: position 1: unknown column "agee"`},
		{builtin.Convert{}, map[string]string{"where": "age > 'x'"}, `convert: where="age > 'x'": expr: position 7: cannot compare int64 column "age" with 'x'`},
		{builtin.Convert{}, map[string]string{"rename": "name"}, `convert: rename="name": "name" is not old:new`},
		{builtin.Convert{}, map[string]string{"rename": "nope:x"}, `convert: rename="nope:x": rename "nope": unknown column "nope"`},
		{builtin.Convert{}, map[string]string{"rename": "name:age"}, `the output already has a column "age"`},
		{builtin.Convert{}, map[string]string{"select": "name", "rename": "age:years"}, `unknown column "age" (columns: name)`},
		{builtin.Grep{}, map[string]string{}, "grep: missing argument pattern"},
		{builtin.Grep{}, map[string]string{"pattern": "a("}, `grep: pattern="a(": error parsing regexp: missing closing )`},
		{builtin.Grep{}, map[string]string{"pattern": "a", "invert": "yes"}, `grep: invert="yes": want true or false`},
		{builtin.Grep{}, map[string]string{"pattern": "a", "column": "nope"}, `grep: column="nope": unknown column "nope"`},
		{builtin.Grep{}, map[string]string{"pattern": "a", "regex": "b"}, `grep: unknown argument "regex" (valid: column, delim, escape, header, invert, max_page_size, nullstr, pattern, quote, schema)`},
		{builtin.Count{}, map[string]string{"by": "name"}, `count: unknown argument "by" (valid: delim, escape, header, max_page_size, nullstr, quote, schema)`},
		{builtin.Exec{}, map[string]string{}, "exec: missing argument cmd"},
		{builtin.Exec{}, map[string]string{"cmd": "  "}, `exec: cmd="  ": empty command`},
		{builtin.Exec{}, map[string]string{"cmd": "", "shell": "true"}, `exec: cmd="": empty command`},
		{builtin.Exec{}, map[string]string{"cmd": "grep 'a"}, `exec: cmd="grep 'a": unterminated ' at offset 5`},
		{builtin.Exec{}, map[string]string{"cmd": "grep a | wc -l"}, `exec: cmd="grep a | wc -l": '|' at offset 7 is shell syntax: quote it, or set shell=true`},
		{builtin.Exec{}, map[string]string{"cmd": "cat", "shell": "1x"}, `exec: shell="1x": want true or false`},
		{builtin.Exec{}, map[string]string{"cmd": "cat", "timeout": "5"}, `exec: timeout="5": time: missing unit in duration "5"`},
		{builtin.Exec{}, map[string]string{"cmd": "cat", "timeout": "-1s"}, `exec: timeout="-1s": want a positive duration`},
		{builtin.Exec{}, map[string]string{"command": "cat"}, `exec: unknown argument "command" (valid: cmd, delim, escape, header, max_page_size, mode, nullstr, quote, schema, shell, timeout)`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			task, err := tt.fn.Prepare(functions.Params{Args: tt.args, Input: people})
			if err == nil {
				t.Fatalf("got task %v, want an error", task)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
			if !functions.IsPermanent(err) {
				t.Errorf("got a retryable error %q, want a permanent one", err)
			}
		})
	}
}

// TestSchemaArgIsIgnored checks that every function accepts the planner's
// schema argument.
func TestSchemaArgIsIgnored(t *testing.T) {
	args := map[string]string{"schema": "line:string", "pattern": "a", "cmd": "cat"}
	reg := builtin.Registry()
	for _, name := range reg.Names() {
		fn, err := reg.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		a := map[string]string{"schema": args["schema"]}
		switch fn.Name() {
		case "grep":
			a["pattern"] = args["pattern"]
		case "exec":
			a["cmd"] = args["cmd"]
		case "topk":
			a["k"], a["order"] = "1", "line"
		case "validate":
			a["contract"] = "columns: [{name: line}]"
		case "duplicates":
			a["key"] = "line"
		}
		if _, err := fn.Prepare(functions.Params{Args: a, Input: functions.LinesSchema}); err != nil {
			t.Errorf("%s: %v", fn.Name(), err)
		}
	}
}

// TestInputErrorsPassThrough checks that a malformed record fails the chunk
// with the reader's error.
func TestInputErrorsPassThrough(t *testing.T) {
	bad := &functions.RecordError{Object: "a.csv", Offset: 7, Err: errors.New("bad quote")}
	for _, fn := range []functions.Function{builtin.Convert{}, builtin.Grep{}, builtin.Count{},
		builtin.WordCount{}, builtin.Aggregate{}, builtin.Distinct{}, builtin.TopK{}} {
		in := lines("a", "b")
		in.err = bad
		args := map[string]string{}
		switch fn.Name() {
		case "grep":
			args["pattern"] = "."
		case "topk":
			args["k"], args["order"] = "1", "line"
		}
		_, _, err := run(t, fn, args, in)
		if !errors.Is(err, bad) || !functions.IsPermanent(err) {
			t.Errorf("%s: got %v, want %v", fn.Name(), err, bad)
		}
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		name string
		in   *sliceInput
		want []string
	}{
		{"lines", lines("a", "b", "c"), []string{"3"}},
		{"empty chunk", lines(), []string{"0"}},
		{"rows", peopleInput(), []string{"3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, schema, err := run(t, builtin.Count{}, nil, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := out.texts(); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if got := schema.String(); got != "count:int64" {
				t.Errorf("got schema %s, want count:int64", got)
			}
		})
	}
}

// TestCommonArgsNamesTheSchemaTypes: what `fanout functions` says
// schema= takes is what functions.ParseSchema accepts: each type the help
// names parses, and the help names the types beyond the five of the
// first record model (before, it listed only int64, float64, bool,
// timestamp and string).
func TestCommonArgsNamesTheSchemaTypes(t *testing.T) {
	for _, typ := range []string{"string", "binary", "bool", "int8", "int64", "uint8", "uint64", "float32", "float64",
		"decimal(p,s)", "date", "time", "timestamp", "timestamptz", "uuid", "list(T)", "struct(name T, ...)", "map(K, V)",
		"int16", "uint32", "timestamp_ns", "integer", "ubigint", "blob"} {
		// int16 and uint32 are named as ranges (int8..int64).
		if typ != "int16" && typ != "uint32" && !strings.Contains(builtin.CommonArgs, typ) {
			t.Errorf("CommonArgs does not name type %s", typ)
		}
		concrete := strings.NewReplacer("(p,s)", "(10,2)", "list(T)", "list(int64)", "struct(name T, ...)", "struct(a int64, b list(string))", "map(K, V)", "map(string, int64)").Replace(typ)
		if _, err := functions.ParseSchema("c:" + concrete); err != nil {
			t.Errorf("schema=c:%s: %v", concrete, err)
		}
	}
}

// TestSelectQuotedNames selects and groups by columns whose names hold a
// comma or surrounding spaces (a CSV header "id, name" names " name"),
// quoted as --arg schema= quotes them: unquoted, they could not be named.
func TestSelectQuotedNames(t *testing.T) {
	in := &functions.Schema{Columns: []functions.Column{{Name: "id", Type: functions.Int64}, {Name: " name", Type: functions.String}, {Name: "a,b", Type: functions.String}}}
	task, err := builtin.Convert{}.Prepare(functions.Params{Args: map[string]string{"select": `"a,b", " name"`}, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if got := task.Output().Names(); !slices.Equal(got, []string{"a,b", " name"}) {
		t.Errorf("select: output columns %q, want %q", got, []string{"a,b", " name"})
	}
	task, err = builtin.Distinct{}.Prepare(functions.Params{Args: map[string]string{"by": `" name"`}, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if got := task.Output().Names(); !slices.Equal(got, []string{" name"}) {
		t.Errorf("distinct by: output columns %q, want %q", got, []string{" name"})
	}
}
