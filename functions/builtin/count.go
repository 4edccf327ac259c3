package builtin

import (
	"context"

	"github.com/fanout-dev/fanout/functions"
)

// Count is the count function. It writes one row per chunk, count:int64,
// holding the number of records in the chunk; the sum of those rows over
// all chunks is the total. (Until a reduce step sums them, the output holds
// the per-chunk rows.)
type Count struct{}

// Name returns "count".
func (Count) Name() string { return "count" }

// Describe returns one line of help.
func (Count) Describe() string {
	return "count records: one row count:int64 per chunk; their sum is the total"
}

// Prepare checks that no arguments are given.
func (Count) Prepare(p functions.Params) (functions.Task, error) {
	if err := checkArgs("count", p.Args); err != nil {
		return nil, err
	}
	return countTask{}, nil
}

type countTask struct{}

func (countTask) Output() *functions.Schema {
	return &functions.Schema{Columns: []functions.Column{{Name: "count", Type: functions.Int64}}}
}

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
