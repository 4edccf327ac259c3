package builtin_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/functions/codec"
)

// maxLen is an aggregating function of a library user's own: the length
// of the longest line per first letter. Its task is a functions.Reducer.
type maxLen struct{}

func (maxLen) Name() string     { return "maxlen" }
func (maxLen) Describe() string { return "the longest line's length per first letter" }

func (maxLen) Prepare(p functions.Params) (functions.Task, error) { return maxLenTask{}, nil }

type maxLenTask struct{}

var maxLenSchema = &functions.Schema{Columns: []functions.Column{
	{Name: "letter", Type: functions.String}, // the key
	{Name: "max_len", Type: functions.Int64}, // the state, here also the result
}}

func (maxLenTask) Output() *functions.Schema { return maxLenSchema }
func (maxLenTask) KeyColumns() int           { return 1 }
func (maxLenTask) Final() *functions.Schema  { return maxLenSchema }

// Map writes (first letter, length) for each line.
func (maxLenTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
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
		r, _ := utf8.DecodeRune(rec.Raw)
		if !unicode.IsLetter(r) {
			continue
		}
		row := functions.Row{functions.StringValue(string(unicode.ToLower(r))), functions.IntValue(int64(utf8.RuneCount(rec.Raw)))}
		if err := out.Write(row); err != nil {
			return err
		}
	}
}

// Merge combines two rows of one letter, in whatever order they come.
func (maxLenTask) Merge(acc, in functions.Row) error {
	acc[1].I = max(acc[1].I, in[1].I)
	return nil
}

// Finish writes a letter's merged row as it is.
func (maxLenTask) Finish(partial functions.Row, out functions.Output) error {
	return out.Write(partial)
}

// runLocally stands in for the engine, which does this across workers
// with bounded memory: it maps each chunk, merges the partial rows of
// each key, and finishes them in key order.
func runLocally(task functions.Task, chunks ...string) {
	red := task.(functions.Reducer)
	merged := map[string]functions.Row{}
	collect := writeFunc(func(row functions.Row) error {
		key := row[0].S // one key column
		if acc, ok := merged[key]; ok {
			return red.Merge(acc, row)
		}
		merged[key] = slices.Clone(row)
		return nil
	})
	for i, chunk := range chunks {
		in, err := codec.NewInput(strings.NewReader(chunk), codec.InputOptions{Format: "lines", Object: fmt.Sprint(i), End: -1})
		if err != nil {
			panic(err)
		}
		if err := task.Map(context.Background(), in, collect); err != nil {
			panic(err)
		}
	}
	show := writeFunc(func(row functions.Row) error {
		fmt.Println(row[0].Text(), row[1].Text())
		return nil
	})
	for _, key := range slices.Sorted(maps.Keys(merged)) {
		if err := red.Finish(merged[key], show); err != nil {
			panic(err)
		}
	}
}

// writeFunc is a functions.Output.
type writeFunc func(functions.Row) error

func (f writeFunc) Write(row functions.Row) error { return f(row) }

// Example_reducer registers a map/combine/reduce function of one's own
// and runs it over two chunks.
func Example_reducer() {
	reg := builtin.Registry()
	reg.Register(maxLen{})

	fn, err := reg.Lookup("maxlen")
	if err != nil {
		panic(err)
	}
	task, err := fn.Prepare(functions.Params{Input: functions.LinesSchema, InputFormat: "lines"})
	if err != nil {
		panic(err)
	}
	runLocally(task, "apple\nbanana\navocado\n", "Blueberry\ncherry\n")
	// Output:
	// a 7
	// b 9
	// c 6
}
