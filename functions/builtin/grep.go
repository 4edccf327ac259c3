package builtin

import (
	"context"
	"errors"
	"regexp"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/dfa"
)

// Grep is the grep function: it keeps the records that match a regular
// expression, unchanged. For the lines format that is the matching lines.
//
// Arguments:
//
//	pattern=REGEXP  required; Go syntax (https://pkg.go.dev/regexp/syntax)
//	invert=true     keep the records that do not match
//	column=NAME     match this column's text (null is empty) instead of the
//	                record as it appears in the input
//
// Without column, a record matches on its input bytes (a line, a CSV
// record, a JSON object) or, for Parquet, on the text of its columns
// joined by commas.
type Grep struct{}

// Name returns "grep".
func (Grep) Name() string { return "grep" }

// Describe returns one line of help.
func (Grep) Describe() string {
	return "keep records matching a regular expression: pattern=REGEXP [invert=true] [column=NAME]"
}

// Prepare compiles the pattern and finds the column.
func (Grep) Prepare(p functions.Params) (functions.Task, error) {
	const fn = "grep"
	if err := checkArgs(fn, p.Args, "pattern", "invert", "column"); err != nil {
		return nil, err
	}
	in, err := inputSchema(fn, p)
	if err != nil {
		return nil, err
	}
	pat, ok := p.Args["pattern"]
	if !ok {
		return nil, functions.Permanent(errors.New("grep: missing argument pattern (a regular expression)"))
	}
	t := &grepTask{schema: in, col: -1}
	if t.re, err = regexp.Compile(pat); err != nil {
		return nil, argError(fn, "pattern", pat, err)
	}
	if t.invert, err = boolArg(fn, p, "invert"); err != nil {
		return nil, err
	}
	if name, ok := p.Args["column"]; ok {
		if t.col, err = columnIndex(in, name); err != nil {
			return nil, argError(fn, "column", name, err)
		}
	}
	return t, nil
}

type grepTask struct {
	schema *functions.Schema
	re     *regexp.Regexp
	invert bool
	col    int // -1: the whole record
}

func (t *grepTask) Output() *functions.Schema { return t.schema }

func (t *grepTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	var buf []byte
	// One automaton per call: it is built as it reads, and Map may run
	// on several goroutines at once.
	m := dfa.New(t.re)
	return eachBorrowed(ctx, in, func(rec *functions.Record) error {
		var match bool
		switch {
		case t.col >= 0:
			if v := cell(rec.Row, t.col); v.Type == functions.String {
				match = t.re.MatchString(v.S)
			} else {
				buf = appendText(buf[:0], v)
				match = m.Match(buf)
			}
		case rec.Raw != nil:
			match = m.Match(rec.Raw)
		default:
			buf = buf[:0]
			for i, v := range rec.Row {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = appendText(buf, v)
			}
			match = m.Match(buf)
		}
		if match == t.invert {
			return nil
		}
		return out.Write(rec.Row)
	})
}
