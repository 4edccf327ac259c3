package builtin

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/profile"
)

// Profile is the profile function: a data profile of every record of the
// input (functions/profile), one row per column, and beside the rows
// three files committed with them: profile.json (the whole profile),
// report.html (a self-contained report) and contract.yaml (a proposed
// contract that every profiled record passes).
//
// Arguments:
//
//	ranges=true   propose min/max for identifier-like and timestamp columns too
//	name=NAME     the proposed contract's name
//	source=TEXT   what the report calls the input (default: the input)
//
// Each chunk's Map writes its summary tagged with the chunk's first
// record (object and offset); partial rows merge by keeping the tagged
// summaries sorted, and Finish folds them in that order, so that the
// profile does not depend on the order chunks ran or were merged in.
type Profile struct{}

// Name returns "profile".
func (Profile) Name() string { return "profile" }

// Describe returns one line of help.
func (Profile) Describe() string {
	return "a data profile of every record per column, a report and a proposed contract: [ranges=true] [name=N] [source=TEXT]"
}

// TextInput reads CSV and JSONL columns as text, so that a value of
// another type is profiled (counted in the parse shares), not refused by
// the reader; the planner still finds every object's columns.
func (Profile) TextInput() bool { return true }

// Prepare checks the arguments.
func (Profile) Prepare(p functions.Params) (functions.Task, error) {
	const fn = "profile"
	if err := checkArgs(fn, p.Args, "name", "ranges", "source"); err != nil {
		return nil, err
	}
	in, err := inputSchema(fn, p)
	if err != nil {
		return nil, err
	}
	ranges, err := boolArg(fn, p, "ranges")
	if err != nil {
		return nil, err
	}
	return &profileTask{in: in, ranges: ranges, name: p.Arg("name", ""), source: p.Arg("source", "the input")}, nil
}

type profileTask struct {
	in     *functions.Schema
	ranges bool
	name   string
	source string
}

var _ functions.Reducer = (*profileTask)(nil)

var (
	profilePartial = &functions.Schema{Columns: []functions.Column{{Name: "__profile", Type: functions.String}}}
	profileFinal   = &functions.Schema{Columns: []functions.Column{
		{Name: "column", Type: functions.String},
		{Name: "type", Type: functions.String},
		{Name: "count", Type: functions.Int64},
		{Name: "nulls", Type: functions.Int64},
		{Name: "distinct", Type: functions.Int64},
		{Name: "min", Type: functions.String},
		{Name: "max", Type: functions.String},
		{Name: "mean", Type: functions.Float64},
	}}
)

func (t *profileTask) Output() *functions.Schema { return profilePartial }
func (t *profileTask) KeyColumns() int           { return 0 }
func (t *profileTask) Final() *functions.Schema  { return profileFinal }

// Map summarises the chunk and writes it as a list of one element:
//
//	uvarint(len(elem)) elem
//	elem := object 0x00 offset(8 bytes, big-endian) summary(JSON)
//
// where object and offset are the chunk's first record's.
func (t *profileTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	acc := profile.NewAccumulator(t.in)
	var tag []byte
	err := each(ctx, in, func(rec *functions.Record) error {
		if tag == nil {
			tag = append([]byte(rec.Object), 0)
			tag = binary.BigEndian.AppendUint64(tag, uint64(rec.Offset))
		}
		acc.Add(rec.Object, rec.Row)
		return nil
	})
	if err != nil {
		return err
	}
	if tag == nil {
		// No records: an empty summary still, so that a job of none
		// commits a profile of 0 records (its columns, nothing counted).
		// The tag sorts first; empty summaries fold to nothing.
		tag = make([]byte, 9)
	}
	data, err := json.Marshal(acc.Summary())
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	elem := append(tag, data...)
	list := binary.AppendUvarint(nil, uint64(len(elem)))
	list = append(list, elem...)
	return out.Write(functions.Row{functions.StringValue(string(list))})
}

// elemTag is the object and offset an element starts with.
func elemTag(e string) string {
	if i := strings.IndexByte(e, 0); i >= 0 && len(e) >= i+9 {
		return e[:i+9]
	}
	return e
}

// Merge merges the two lists, sorted by element, keeping one element of
// each chunk.
func (t *profileTask) Merge(acc, in functions.Row) error {
	if len(acc) != 1 || len(in) != 1 {
		return functions.Permanent(fmt.Errorf("profile: merge rows of %d and %d columns, want 1", len(acc), len(in)))
	}
	a, b := acc[0].S, in[0].S
	var out []byte
	ea, a, okA := nextElem(a)
	eb, b, okB := nextElem(b)
	last := "\xff" // no tag yet
	for okA || okB {
		var e string
		if okA && (!okB || ea <= eb) {
			e = ea
			ea, a, okA = nextElem(a)
		} else {
			e = eb
			eb, b, okB = nextElem(b)
		}
		if tag := elemTag(e); tag != last {
			last = tag
			out = binary.AppendUvarint(out, uint64(len(e)))
			out = append(out, e...)
		}
	}
	if a != "" || b != "" {
		return functions.Permanent(fmt.Errorf("profile: %w", errCorruptState))
	}
	acc[0] = functions.StringValue(string(out))
	return nil
}

// Finish folds the chunks' summaries in order and writes the profile.
func (t *profileTask) Finish(partial functions.Row, out functions.Output) error {
	if len(partial) != 1 {
		return functions.Permanent(fmt.Errorf("profile: finish a row of %d columns, want 1", len(partial)))
	}
	var parts []*profile.Summary
	for list := partial[0].S; list != ""; {
		e, rest, ok := nextElem(list)
		if !ok {
			return functions.Permanent(fmt.Errorf("profile: %w", errCorruptState))
		}
		list = rest
		tag := elemTag(e)
		s := new(profile.Summary)
		if err := json.Unmarshal([]byte(e[len(tag):]), s); err != nil {
			return functions.Permanent(fmt.Errorf("profile: %w: %v", errCorruptState, err))
		}
		parts = append(parts, s)
	}
	sum, err := profile.Fold(parts)
	if err != nil {
		return functions.Permanent(err)
	}
	p, err := profile.Build(sum, t.in)
	if err != nil {
		return functions.Permanent(err)
	}
	for _, c := range p.Columns {
		mean := functions.Null(functions.Float64)
		if c.Mean != nil {
			mean = functions.FloatValue(*c.Mean)
		}
		row := functions.Row{functions.StringValue(c.Name), functions.StringValue(c.InferredType),
			functions.IntValue(c.Count), functions.IntValue(c.Nulls), functions.IntValue(c.Distinct),
			functions.StringValue(c.Min), functions.StringValue(c.Max), mean}
		if err := out.Write(row); err != nil {
			return err
		}
	}
	files, ok := out.(functions.FileOutput)
	if !ok {
		return nil
	}
	contractYAML, err := p.Propose(profile.ProposeOptions{Name: t.name, Source: t.source, Ranges: t.ranges}).YAML(p.Rows, t.source)
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	html, err := profile.Report(p, t.source, contractYAML)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name, ctype string
		data        []byte
	}{
		{"profile.json", "application/json", append(js, '\n')},
		{"contract.yaml", "application/yaml", contractYAML},
		{"report.html", "text/html; charset=utf-8", html},
	} {
		if err := files.WriteFile(f.name, f.ctype, f.data); err != nil {
			return err
		}
	}
	return nil
}
