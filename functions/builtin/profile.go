package builtin

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

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
// Each chunk's Map writes its summary tagged with the chunk's index
// (functions.ChunkInput); a partial row holds the summaries of the
// maximal aligned blocks of the chunks merged into it (profile.Block),
// siblings folded into their parent as soon as both are there, and
// Finish folds the few blocks left in chunk order. So the profile does
// not depend on the order chunks ran or were merged in, and a partial
// row of a contiguous range of n chunks holds at most 2·log2(n)
// summaries, not n.
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

// Map summarises the chunk and writes it as a list of one block:
//
//	uvarint(len(elem)) elem
//	elem := start(8 bytes, big-endian) level(1 byte) summary(JSON)
//
// with start the chunk's index and level 0.
func (t *profileTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	ci, ok := in.(functions.ChunkInput)
	if !ok || ci.Chunk() < 0 {
		return functions.Permanent(errors.New("profile: the input does not say which chunk it is (run profile as a fanout job)"))
	}
	acc := profile.NewAccumulator(t.in)
	err := each(ctx, in, func(rec *functions.Record) error {
		acc.Add(rec.Object, rec.Row)
		return nil
	})
	if err != nil {
		return err
	}
	// A chunk of no records still writes its (empty) summary, so that a
	// job of none commits a profile of 0 records (its columns, nothing
	// counted), and so that its block completes its siblings'.
	data, err := json.Marshal(acc.Summary())
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	list := appendBlock(nil, profile.Block{Start: uint64(ci.Chunk()), Summary: string(data)})
	return out.Write(functions.Row{functions.StringValue(string(list))})
}

// appendBlock appends b to a list of blocks.
func appendBlock(list []byte, b profile.Block) []byte {
	list = binary.AppendUvarint(list, uint64(9+len(b.Summary)))
	list = binary.BigEndian.AppendUint64(list, b.Start)
	list = append(list, b.Level)
	return append(list, b.Summary...)
}

// decodeBlocks decodes a list of blocks; their summaries share list's
// memory (no copy: a state holds a few large summaries).
func decodeBlocks(list string) ([]profile.Block, error) {
	var blocks []profile.Block
	for list != "" {
		e, rest, ok := nextElem(list)
		if !ok || len(e) < 9 {
			return nil, functions.Permanent(fmt.Errorf("profile: %w", errCorruptState))
		}
		list = rest
		blocks = append(blocks, profile.Block{Start: binary.BigEndian.Uint64([]byte(e[:8])), Level: e[8], Summary: e[9:]})
	}
	return blocks, nil
}

// Merge merges the two lists of blocks into the maximal blocks of their
// union (profile.MergeBlocks), sorted by start; a retried chunk's block
// is kept once.
func (t *profileTask) Merge(acc, in functions.Row) error {
	if len(acc) != 1 || len(in) != 1 {
		return functions.Permanent(fmt.Errorf("profile: merge rows of %d and %d columns, want 1", len(acc), len(in)))
	}
	a, err := decodeBlocks(acc[0].S)
	if err != nil {
		return err
	}
	b, err := decodeBlocks(in[0].S)
	if err != nil {
		return err
	}
	merged, err := profile.MergeBlocks(a, b)
	if err != nil {
		return functions.Permanent(fmt.Errorf("%w: %v", errCorruptState, err))
	}
	var out []byte
	for _, blk := range merged {
		out = appendBlock(out, blk)
	}
	acc[0] = functions.StringValue(string(out))
	return nil
}

// Finish folds the blocks left, in chunk order, and writes the profile.
func (t *profileTask) Finish(partial functions.Row, out functions.Output) error {
	if len(partial) != 1 {
		return functions.Permanent(fmt.Errorf("profile: finish a row of %d columns, want 1", len(partial)))
	}
	blocks, err := decodeBlocks(partial[0].S)
	if err != nil {
		return err
	}
	sum, err := profile.FoldBlocks(blocks)
	if err != nil {
		return functions.Permanent(fmt.Errorf("%w: %v", errCorruptState, err))
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
