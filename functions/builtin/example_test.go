package builtin_test

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

// upper is a function of a library user's own: it upper-cases every string
// column.
type upper struct{}

func (upper) Name() string     { return "upper" }
func (upper) Describe() string { return "upper-case every string column" }

func (upper) Prepare(p functions.Params) (functions.Task, error) {
	for name := range p.Args {
		if name != "schema" { // the planner's
			return nil, functions.Permanent(fmt.Errorf("upper: unknown argument %q (valid: schema)", name))
		}
	}
	return upperTask{p.Input}, nil
}

type upperTask struct{ schema *functions.Schema }

func (t upperTask) Output() *functions.Schema { return t.schema }

func (t upperTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	var row functions.Row
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := in.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		row = append(row[:0], rec.Row...)
		for i, v := range row {
			if v.Type == functions.String {
				row[i].S = strings.ToUpper(v.S)
			}
		}
		if err := out.Write(row); err != nil {
			return err
		}
	}
}

// printOutput prints each row's first value.
type printOutput struct{}

func (printOutput) Write(row functions.Row) error {
	fmt.Println(row[0].Text())
	return nil
}

// Example registers a function of one's own next to the built-ins and runs
// it the way a worker does: look it up, prepare it with the job's arguments
// and input schema, and map a chunk.
func Example() {
	reg := builtin.Registry()
	reg.Register(upper{})
	fmt.Println(reg.Names())

	fn, err := reg.Lookup("upper")
	if err != nil {
		panic(err)
	}
	task, err := fn.Prepare(functions.Params{Input: functions.LinesSchema, InputFormat: "lines"})
	if err != nil {
		panic(err)
	}
	if err := task.Map(context.Background(), lines("hello", "world"), printOutput{}); err != nil {
		panic(err)
	}
	// Output:
	// [aggregate convert count distinct duplicates exec grep profile topk upper validate wordcount]
	// HELLO
	// WORLD
}

// Example_choose builds a registry offering only some built-ins and a
// function of one's own.
func Example_choose() {
	reg := functions.NewRegistry(builtin.Grep{}, builtin.Count{})
	reg.Register(upper{})
	fmt.Println(reg.Names())
	// Output: [count grep upper]
}
