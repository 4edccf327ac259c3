package builtin_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

// fileOutput is a sliceOutput that also takes files (functions.FileOutput).
type fileOutput struct {
	sliceOutput
	files map[string]string
}

func (o *fileOutput) WriteFile(name, _ string, data []byte) error {
	if o.files == nil {
		o.files = map[string]string{}
	}
	o.files[name] = string(data)
	return nil
}

// numberedInput is a sliceInput that is chunk i of its job
// (functions.ChunkInput), as the engine's map inputs are.
type numberedInput struct {
	*sliceInput
	i int
}

func (in numberedInput) Chunk() int { return in.i }

func chunkOf(in *sliceInput, i int) functions.Input { return numberedInput{in, i} }

// TestProfileMergeOrderDoesNotMatter maps chunks, merges their partial
// rows in different orders and groupings (and one twice, as a retried
// chunk's would be), and gets the same rows and byte-identical files.
func TestProfileMergeOrderDoesNotMatter(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "id", Type: functions.String}, {Name: "x", Type: functions.String}, {Name: "kind", Type: functions.String}}}
	task, err := builtin.Profile{}.Prepare(functions.Params{Input: schema, Args: map[string]string{"source": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	red := task.(functions.Reducer)
	var partials []functions.Row
	for c := range 6 {
		in := &sliceInput{schema: schema}
		for i := range 1000 {
			n := c*1000 + i
			in.recs = append(in.recs, functions.Record{Object: fmt.Sprintf("o%d", c/2), Offset: int64(c*100_000 + i*10), Row: functions.Row{
				functions.StringValue(fmt.Sprint(n)), functions.StringValue(fmt.Sprintf("%.3f", float64(n%977)/7)),
				functions.StringValue([]string{"a", "b", "c"}[n%3])}})
		}
		out := &sliceOutput{}
		if err := task.Map(context.Background(), chunkOf(in, c), out); err != nil {
			t.Fatal(err)
		}
		if len(out.rows) != 1 {
			t.Fatalf("chunk %d: got %d partial rows, want 1", c, len(out.rows))
		}
		partials = append(partials, out.rows[0])
	}
	finish := func(order []int) *fileOutput {
		acc := slices.Clone(partials[order[0]])
		for _, i := range order[1:] {
			if err := red.Merge(acc, slices.Clone(partials[i])); err != nil {
				t.Fatal(err)
			}
		}
		out := &fileOutput{}
		if err := red.Finish(acc, out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := finish([]int{0, 1, 2, 3, 4, 5})
	if got := strings.Join(want.texts(), "\n"); !strings.Contains(got, "id,int64,6000,0,") || !strings.Contains(got, "kind,string,6000,0,3,a,c,") {
		t.Errorf("rows:\n%s", got)
	}
	for _, f := range []string{"profile.json", "report.html", "contract.yaml"} {
		if want.files[f] == "" {
			t.Errorf("no %s written", f)
		}
	}
	if !strings.Contains(want.files["contract.yaml"], "allowed: [a, b, c]") {
		t.Errorf("contract:\n%s", want.files["contract.yaml"])
	}
	for _, order := range [][]int{{5, 4, 3, 2, 1, 0}, {2, 0, 5, 1, 3, 4, 2}} {
		got := finish(order)
		if !slices.Equal(got.texts(), want.texts()) {
			t.Errorf("merged in order %v: rows\n%v\nwant\n%v", order, got.texts(), want.texts())
		}
		for name, data := range want.files {
			if got.files[name] != data {
				t.Errorf("merged in order %v: %s differs", order, name)
			}
		}
	}
	// Merging grouped: (0+1+2) then (3+4+5).
	a, b := slices.Clone(partials[0]), slices.Clone(partials[3])
	for _, i := range []int{1, 2} {
		red.Merge(a, partials[i])
	}
	for _, i := range []int{4, 5} {
		red.Merge(b, partials[i])
	}
	if err := red.Merge(b, a); err != nil {
		t.Fatal(err)
	}
	out := &fileOutput{}
	if err := red.Finish(b, out); err != nil {
		t.Fatal(err)
	}
	if out.files["profile.json"] != want.files["profile.json"] {
		t.Error("merged in groups: profile.json differs")
	}
}
