package builtin

import (
	"context"

	"github.com/fanout-dev/fanout/functions"
)

// Distinct is the distinct function: it writes each distinct combination
// of the key columns once, as SQL's SELECT DISTINCT does.
//
// Arguments:
//
//	by=col,...   the key columns, which are also the output (default: all
//	             columns, so distinct rows)
//
// Nulls are equal to each other, and float keys -0 and +0 are one key (0),
// as are all NaNs.
type Distinct struct{}

// Name returns "distinct".
func (Distinct) Name() string { return "distinct" }

// Describe returns one line of help.
func (Distinct) Describe() string {
	return "one row per distinct key: [by=col,...] (default: all columns)"
}

// Prepare finds the key columns.
func (Distinct) Prepare(p functions.Params) (functions.Task, error) {
	const fn = "distinct"
	if err := checkArgs(fn, p.Args, "by"); err != nil {
		return nil, err
	}
	in, err := inputSchema(fn, p)
	if err != nil {
		return nil, err
	}
	t := &distinctTask{in: in, out: &functions.Schema{}}
	if by, ok := p.Args["by"]; ok {
		if t.by, err = selectColumns(in, by); err != nil {
			return nil, argError(fn, "by", by, err)
		}
	} else {
		for i := range in.Columns {
			t.by = append(t.by, i)
		}
	}
	if err := flatColumns(in, t.by, "distinct"); err != nil {
		return nil, argError(fn, "by", p.Arg("by", "(all columns)"), err)
	}
	for _, c := range t.by {
		t.out.Columns = append(t.out.Columns, in.Columns[c])
	}
	return t, nil
}

// distinctTask's partial rows are its final rows: the key columns, with no
// state.
type distinctTask struct {
	in, out *functions.Schema
	by      []int
}

var _ functions.Reducer = (*distinctTask)(nil)

func (t *distinctTask) Output() *functions.Schema { return t.out }
func (t *distinctTask) KeyColumns() int           { return len(t.by) }
func (t *distinctTask) Final() *functions.Schema  { return t.out }

// Map writes a key the first time it sees it. The keys it remembers are a
// groupTable, emptied when full, after which a key may be written again
// (the engine merges the repeats).
func (t *distinctTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	seen := newGroupTable[struct{}]()
	row := make(functions.Row, len(t.by))
	var key []byte
	return each(ctx, in, func(rec *functions.Record) error {
		key = appendKey(key[:0], t.in, rec.Row, t.by)
		if _, created := seen.find(key); !created {
			return nil
		}
		if seen.full() {
			seen.reset()
		}
		for j, c := range t.by {
			row[j] = keyValue(cell(rec.Row, c), t.in.Columns[c].Type)
		}
		return out.Write(row)
	})
}

func (t *distinctTask) Merge(acc, in functions.Row) error { return nil }

func (t *distinctTask) Finish(partial functions.Row, out functions.Output) error {
	return out.Write(partial)
}
