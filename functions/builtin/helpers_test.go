package builtin_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// sliceInput is an in-memory functions.Input.
type sliceInput struct {
	schema *functions.Schema
	recs   []functions.Record
	err    error // returned after the records instead of io.EOF
	i      int
}

func (in *sliceInput) Schema() *functions.Schema { return in.schema }

func (in *sliceInput) Next() (*functions.Record, error) {
	if in.i == len(in.recs) {
		if in.err != nil {
			return nil, in.err
		}
		return nil, io.EOF
	}
	in.i++
	return &in.recs[in.i-1], nil
}

// lines returns the records of the lines format.
func lines(ls ...string) *sliceInput {
	in := &sliceInput{schema: functions.LinesSchema}
	for _, l := range ls {
		in.recs = append(in.recs, functions.Record{Row: functions.Row{functions.StringValue(l)}, Raw: []byte(l)})
	}
	return in
}

// rows returns records without Raw bytes, as Parquet gives them.
func rows(schema *functions.Schema, rs ...functions.Row) *sliceInput {
	in := &sliceInput{schema: schema}
	for _, r := range rs {
		in.recs = append(in.recs, functions.Record{Row: r})
	}
	return in
}

// sliceOutput is an in-memory functions.Output.
type sliceOutput struct {
	rows []functions.Row
}

func (o *sliceOutput) Write(row functions.Row) error {
	o.rows = append(o.rows, slices.Clone(row))
	return nil
}

// texts renders each row as its values' text joined by commas.
func (o *sliceOutput) texts() []string {
	out := []string{}
	for _, r := range o.rows {
		parts := make([]string, len(r))
		for i, v := range r {
			parts[i] = v.Text()
		}
		out = append(out, strings.Join(parts, ","))
	}
	return out
}

// run prepares fn with args over in's schema and maps in.
func run(t testing.TB, fn functions.Function, args map[string]string, in *sliceInput) (*sliceOutput, *functions.Schema, error) {
	t.Helper()
	task, err := fn.Prepare(functions.Params{Args: args, Input: in.schema, InputFormat: "test"})
	if err != nil {
		return nil, nil, err
	}
	out := &sliceOutput{}
	return out, task.Output(), task.Map(context.Background(), in, out)
}

// people is a small typed table.
var people = &functions.Schema{Columns: []functions.Column{
	{Name: "name", Type: functions.String},
	{Name: "age", Type: functions.Int64},
	{Name: "vip", Type: functions.Bool},
}}

func peopleInput() *sliceInput {
	return rows(people,
		functions.Row{functions.StringValue("alice"), functions.IntValue(30), functions.BoolValue(true)},
		functions.Row{functions.StringValue("bob"), functions.IntValue(17), functions.Null(functions.Bool)},
		functions.Row{functions.Null(functions.String), functions.Null(functions.Int64), functions.BoolValue(false)},
	)
}
