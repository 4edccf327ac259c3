package builtin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/contract"
	"github.com/fanout-dev/fanout/functions/expr"
)

// Validate is the validate function: it checks every record against a
// data contract (package functions/contract), cleanses it as the contract
// says, writes the valid records, typed as the contract declares, to the
// output, and sends every other record to the engine's rejected side
// output (<out>/_rejected/) with the object, the offset, the record as it
// was read and every rule it broke. Records the reader cannot parse (not
// valid UTF-8, a wrong number of CSV fields, bad quoting, invalid JSON)
// are rejected too, under the rules encoding and malformed, instead of
// failing the chunk.
//
// Arguments:
//
//	contract=TEXT      required: the contract, YAML or JSON (the CLI's
//	                   --contract FILE puts a file's text here)
//	select=col,...     the output columns (default: every contract column)
//	where=EXPR         keep only the valid rows for which EXPR is true,
//	                   over the contract's typed columns
//	rename=old:new,... rename output columns
//
// The planner reads the input with every contract column as a string
// (Validate implements functions.InputSchemer), so that a value of the
// wrong type is a rejected record, not a failed chunk. Cleansing that
// changed a written record is counted per action and column (trim.region,
// coerce.amount, ...) in the job's report.
//
// convert with a contract argument is validate.
type Validate struct{}

// Name returns "validate".
func (Validate) Name() string { return "validate" }

// Describe returns one line of help.
func (Validate) Describe() string {
	return "check records against a data contract; invalid ones go to <out>/_rejected/: contract=TEXT (--contract FILE) [select= where= rename=]"
}

// InputSchema reads every contract column as a string (nil for the lines
// format, which has one column).
func (Validate) InputSchema(args map[string]string, format string) (*functions.Schema, error) {
	return contractReadSchema(args, format)
}

// InputSchema of convert is validate's when a contract is given.
func (Convert) InputSchema(args map[string]string, format string) (*functions.Schema, error) {
	return contractReadSchema(args, format)
}

func contractReadSchema(args map[string]string, format string) (*functions.Schema, error) {
	text, ok := args["contract"]
	if !ok || format == "lines" {
		return nil, nil
	}
	c, err := contract.Parse([]byte(text))
	if err != nil {
		return nil, functions.Permanent(err)
	}
	return c.ReadSchema(), nil
}

// Prepare parses and compiles the contract against the input schema.
func (Validate) Prepare(p functions.Params) (functions.Task, error) {
	return prepareValidate("validate", p)
}

// prepareValidate is validate's Prepare, also used by convert when it is
// given a contract; fn names the function in errors.
func prepareValidate(fn string, p functions.Params) (functions.Task, error) {
	if err := checkArgs(fn, p.Args, "contract", "select", "where", "rename"); err != nil {
		return nil, err
	}
	in, err := inputSchema(fn, p)
	if err != nil {
		return nil, err
	}
	v, err := compileContract(fn, p, in)
	if err != nil {
		return nil, err
	}
	valid := v.Schema()
	t := &validateTask{v: v, out: &functions.Schema{}}
	if sel, ok := p.Args["select"]; ok {
		if t.cols, err = selectColumns(valid, sel); err != nil {
			return nil, argError(fn, "select", sel, err)
		}
	} else {
		for i := range valid.Columns {
			t.cols = append(t.cols, i)
		}
	}
	for _, i := range t.cols {
		t.out.Columns = append(t.out.Columns, valid.Columns[i])
	}
	if ren, ok := p.Args["rename"]; ok {
		if err := rename(t.out, ren); err != nil {
			return nil, argError(fn, "rename", ren, err)
		}
	}
	if w, ok := p.Args["where"]; ok {
		if t.where, err = expr.Compile(w, valid); err != nil {
			return nil, argError(fn, "where", w, err)
		}
	}
	return t, nil
}

// compileContract parses the contract argument and compiles it for in.
func compileContract(fn string, p functions.Params, in *functions.Schema) (*contract.Validator, error) {
	text, ok := p.Args["contract"]
	if !ok {
		return nil, functions.Permanent(fmt.Errorf("%s: missing argument contract (the contract's YAML or JSON; the CLI reads it from --contract FILE)", fn))
	}
	c, err := contract.Parse([]byte(text))
	if err != nil {
		return nil, functions.Permanent(fmt.Errorf("%s: %w", fn, err))
	}
	v, err := c.Compile(in)
	if err != nil {
		return nil, functions.Permanent(fmt.Errorf("%s: %w", fn, err))
	}
	return v, nil
}

type validateTask struct {
	v     *contract.Validator
	out   *functions.Schema
	cols  []int // valid-row positions of the output columns
	where *expr.Expr
}

func (t *validateTask) Output() *functions.Schema { return t.out }

func (t *validateTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	rej, _ := out.(functions.Rejecter)
	row := make(functions.Row, len(t.cols))
	err := eachChecked(ctx, in, t.v, rej, func(rec *functions.Record, valid functions.Row) error {
		if t.where != nil && !t.where.Eval(valid) {
			return nil
		}
		t.v.Accept()
		for i, c := range t.cols {
			row[i] = valid[c]
		}
		return out.Write(row)
	})
	if err != nil {
		return err
	}
	reportCounters(out, t.v.Counters())
	return nil
}

// reportCounters hands the cleansing counts to the engine's output.
func reportCounters(out functions.Output, counts map[string]int64) {
	c, ok := out.(functions.Counter)
	if !ok {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		c.Count(name, counts[name])
	}
}

// errNoRejecter is returned when a record must be rejected but the output
// has no side output for it.
var errNoRejecter = errors.New("this output cannot take rejected records (it does not implement functions.Rejecter)")

// eachChecked reads every record of in, checks it with v and calls valid
// for the records that pass; the others, and the records the reader could
// not parse but could skip (a RecordError with Raw), go to rej. It notices
// ctx's cancellation within a few hundred records.
func eachChecked(ctx context.Context, in functions.Input, v *contract.Validator, rej functions.Rejecter,
	valid func(rec *functions.Record, row functions.Row) error) error {
	reject := func(rec *functions.Record, viol []functions.Violation) error {
		if rej == nil {
			return functions.Permanent(fmt.Errorf("%s at offset %d: %s: %w", rec.Object, rec.Offset, viol[0].Message, errNoRejecter))
		}
		return rej.Reject(rec, viol)
	}
	var last *functions.RecordError
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := in.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			re, bad, viol, ok := functions.Malformed(err)
			if !ok {
				return err
			}
			if last != nil && last.Object == re.Object && last.Offset == re.Offset {
				return err // the reader did not move on: it cannot skip this one
			}
			last = re
			if err := reject(&bad, []functions.Violation{viol}); err != nil {
				return err
			}
			continue
		}
		row, viol := v.Check(rec.Row)
		if len(viol) > 0 {
			if err := reject(rec, viol); err != nil {
				return err
			}
			continue
		}
		if err := valid(rec, row); err != nil {
			return err
		}
	}
}
