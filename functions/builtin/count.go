package builtin

import (
	"context"

	"github.com/fanout-dev/fanout/functions"
)

// Count is the count function: one row, count:int64, the number of
// records in the whole input. Each chunk writes its own count as a partial
// row; the reduce stage sums them (one global group).
type Count struct{}

// Name returns "count".
func (Count) Name() string { return "count" }

// Describe returns one line of help.
func (Count) Describe() string {
	return "count records: one row count:int64 with the total"
}

// Prepare checks that no arguments are given.
func (Count) Prepare(p functions.Params) (functions.Task, error) {
	if err := checkArgs("count", p.Args); err != nil {
		return nil, err
	}
	return countTask{}, nil
}

type countTask struct{}

var countSchema = &functions.Schema{Columns: []functions.Column{{Name: "count", Type: functions.Int64}}}

func (countTask) Output() *functions.Schema { return countSchema }

// KeyColumns, Merge, Final and Finish make count a functions.Reducer with
// one global group.
func (countTask) KeyColumns() int          { return 0 }
func (countTask) Final() *functions.Schema { return countSchema }
func (countTask) Merge(acc, in functions.Row) error {
	acc[0].I += in[0].I
	return nil
}
func (countTask) Finish(partial functions.Row, out functions.Output) error { return out.Write(partial) }

func (countTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	var n int64
	err := each(ctx, in, func(*functions.Record) error {
		n++
		return nil
	})
	if err != nil {
		return err
	}
	return out.Write(functions.Row{functions.IntValue(n)})
}
