package builtin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/expr"
)

// Convert is the convert function: it copies records unchanged, so that a
// job rewrites them in another format or partitioning, optionally keeping
// only the rows that pass a filter and only some columns.
//
// Arguments:
//
//	select=col,col   the output columns, in this order (default: all)
//	where=EXPR       keep the rows for which EXPR is true (see package expr)
//	rename=old:new,... rename output columns
//	contract=TEXT      check the records against a data contract first,
//	                   as the validate function does (--contract FILE)
//
// where is evaluated on the input columns, so it may read columns that
// select leaves out. rename applies its pairs in order to the selected
// columns.
type Convert struct{}

// Name returns "convert".
func (Convert) Name() string { return "convert" }

// Describe returns one line of help.
func (Convert) Describe() string {
	return "copy records into the output format: select=col,... where=EXPR rename=old:new,... [contract=TEXT: as validate]"
}

// Prepare checks the arguments against the input schema.
func (Convert) Prepare(p functions.Params) (functions.Task, error) {
	const fn = "convert"
	if _, ok := p.Args["contract"]; ok {
		return prepareValidate(fn, p) // see Validate
	}
	if err := checkArgs(fn, p.Args, "select", "where", "rename", "contract"); err != nil {
		return nil, err
	}
	in, err := inputSchema(fn, p)
	if err != nil {
		return nil, err
	}
	t := &convertTask{out: &functions.Schema{}}
	if sel, ok := p.Args["select"]; ok {
		if t.cols, err = selectColumns(in, sel); err != nil {
			return nil, argError(fn, "select", sel, err)
		}
	} else {
		for i := range in.Columns {
			t.cols = append(t.cols, i)
		}
	}
	for _, i := range t.cols {
		t.out.Columns = append(t.out.Columns, in.Columns[i])
	}
	if ren, ok := p.Args["rename"]; ok {
		if err := rename(t.out, ren); err != nil {
			return nil, argError(fn, "rename", ren, err)
		}
	}
	if w, ok := p.Args["where"]; ok {
		if t.where, err = expr.Compile(w, in); err != nil {
			return nil, argError(fn, "where", w, err)
		}
	}
	if len(t.cols) == len(in.Columns) {
		identity := true
		for i, c := range t.cols {
			identity = identity && i == c
		}
		if identity {
			t.cols = nil // write the input rows as they are
		}
	}
	return t, nil
}

// selectColumns returns the positions of the listed columns.
func selectColumns(in *functions.Schema, list string) ([]int, error) {
	var cols []int
	seen := map[string]bool{}
	names, err := functions.ParseNames(list)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if seen[name] {
			return nil, fmt.Errorf("column %q selected twice", name)
		}
		seen[name] = true
		i, err := columnIndex(in, name)
		if err != nil {
			return nil, err
		}
		cols = append(cols, i)
	}
	if len(cols) == 0 {
		return nil, errors.New("no columns")
	}
	return cols, nil
}

// rename applies "old:new,..." to the columns of s.
func rename(s *functions.Schema, spec string) error {
	for _, pair := range strings.Split(spec, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		old, new, ok := strings.Cut(pair, ":")
		old, new = strings.TrimSpace(old), strings.TrimSpace(new)
		if !ok || old == "" || new == "" {
			return fmt.Errorf("%q is not old:new", pair)
		}
		i, err := columnIndex(s, old)
		if err != nil {
			return fmt.Errorf("rename %q: %w", old, err)
		}
		if j := s.Index(new); j >= 0 && j != i {
			return fmt.Errorf("rename %q to %q: the output already has a column %q", old, new, new)
		}
		s.Columns[i].Name = new
	}
	return nil
}

type convertTask struct {
	out   *functions.Schema
	cols  []int // input positions of the output columns; nil for all
	where *expr.Expr
}

func (t *convertTask) Output() *functions.Schema { return t.out }

func (t *convertTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	row := make(functions.Row, len(t.cols))
	return eachBorrowed(ctx, in, func(rec *functions.Record) error {
		if t.where != nil && !t.where.Eval(rec.Row) {
			return nil
		}
		if t.cols == nil {
			return out.Write(rec.Row)
		}
		for i, c := range t.cols {
			row[i] = cell(rec.Row, c)
		}
		return out.Write(row)
	})
}
