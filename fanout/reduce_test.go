package fanout_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
)

// countWords is a minimal aggregating function for the engine's tests:
// the first whitespace-separated field of each line, counted.
type countWords struct{}

func (countWords) Name() string     { return "testcount" }
func (countWords) Describe() string { return "counts first fields" }
func (countWords) Prepare(functions.Params) (functions.Task, error) {
	return countTask{}, nil
}

type countTask struct{}

var countSchema = &functions.Schema{Columns: []functions.Column{{Name: "word", Type: functions.String}, {Name: "n", Type: functions.Int64}}}

func (countTask) Output() *functions.Schema { return countSchema }
func (countTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	row := make(functions.Row, 2)
	for {
		rec, err := in.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		w, _, _ := strings.Cut(string(rec.Raw), " ")
		row[0], row[1] = functions.StringValue(w), functions.IntValue(1)
		if err := out.Write(row); err != nil {
			return err
		}
	}
}
func (countTask) KeyColumns() int          { return 1 }
func (countTask) Final() *functions.Schema { return countSchema }
func (countTask) Merge(acc, in functions.Row) error {
	acc[1].I += in[1].I
	return nil
}
func (countTask) Finish(p functions.Row, out functions.Output) error { return out.Write(p) }

func TestAggregationShufflesExactlyWithSpillsAndMultiPassMerge(t *testing.T) {
	t.Parallel() // its small budgets are its own engine's Config
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	r := rand.New(rand.NewPCG(3, 4))
	want := map[string]int64{}
	files := map[string][]byte{}
	for f := range 6 {
		var b strings.Builder
		for range 3000 {
			w := fmt.Sprintf("w%d", int(r.ExpFloat64()*300))
			if r.IntN(50) == 0 {
				w = "Zürich"
			}
			want[w]++
			fmt.Fprintf(&b, "%s rest of line %d\n", w, r.IntN(1000))
		}
		files[fmt.Sprintf("t%d.txt", f)] = []byte(b.String())
	}
	writeFiles(t, in, files)
	reg := builtin.Registry()
	reg.Register(countWords{})
	// A small combine budget and fan-in force spills and multi-pass merges.
	e := newEngine(t, reg, func(c *fanout.Config) { c.CombineBudget, c.MergeFanIn = 2<<10, 3 })
	res, err := e.Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "testcount",
		Output: "file://" + out + "/", OutputFormat: "jsonl", ChunkBytes: 16 << 10, Reducers: 3}.WithDefaults(), fanout.RunOptions{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsIn != 18000 || res.RecordsOut != int64(len(want)) {
		t.Fatalf("got %d records in, %d out; want 18000 in, %d out", res.RecordsIn, res.RecordsOut, len(want))
	}
	got := map[string]int64{}
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".jsonl") || strings.Contains(p, "_fanout") {
			return err
		}
		f, _ := os.Open(p)
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var row struct {
				Word string `json:"word"`
				N    int64  `json:"n"`
			}
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatal(err)
			}
			if _, dup := got[row.Word]; dup {
				t.Errorf("word %q appears twice in the output", row.Word)
			}
			got[row.Word] = row.N
		}
		return nil
	})
	if len(got) != len(want) {
		t.Fatalf("got %d words, want %d", len(got), len(want))
	}
	for w, n := range want {
		if got[w] != n {
			t.Errorf("%q: got %d, want %d", w, got[w], n)
		}
	}
	// No shuffle or staging file survives the commit.
	filepath.WalkDir(filepath.Join(out, "_fanout"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "/staging/") {
			t.Errorf("left after commit: %s", p)
		}
		return nil
	})
}

// poisonCount is countWords failing (permanently) on a line "poison" while
// poisoned is set.
type poisonCount struct{ countWords }

var poisoned atomic.Bool

func (poisonCount) Name() string { return "poisoncount" }
func (poisonCount) Prepare(functions.Params) (functions.Task, error) {
	return poisonTask{}, nil
}

type poisonTask struct{ countTask }

func (poisonTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	row := make(functions.Row, 2)
	for {
		rec, err := in.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if poisoned.Load() && string(rec.Raw) == "poison" {
			return functions.Permanent(fmt.Errorf("poison at offset %d", rec.Offset))
		}
		row[0], row[1] = functions.StringValue(string(rec.Raw)), functions.IntValue(1)
		if err := out.Write(row); err != nil {
			return err
		}
	}
}

// TestRedriveRestartsTheReduceStage fails a map chunk of an aggregating
// job, redrives it once the cause is gone, and checks that the rerun
// chunk's records are merged and counted exactly once.
func TestRedriveRestartsTheReduceStage(t *testing.T) {
	poisoned.Store(true)
	defer poisoned.Store(false)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"a.txt": []byte("x\ny\nx\n"), "b.txt": []byte("x\npoison\n")})
	reg := builtin.Registry()
	reg.Register(poisonCount{})
	e := newEngine(t, reg)
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "poisoncount", Output: "file://" + out + "/",
		OutputFormat: "jsonl", MaxObjectsPerChunk: 1, Reducers: 2, MaxAttempts: 1}.WithDefaults()
	res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	if err == nil || res.State != fanout.StateFailed {
		t.Fatalf("got %+v, %v; want the poisoned job to fail", res, err)
	}
	poisoned.Store(false)
	if _, err := e.Redrive(context.Background(), spec.Output, res.Job); err != nil {
		t.Fatal(err)
	}
	res, err = e.Wait(context.Background(), spec.Output, res.Job, fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsIn != 5 || res.RecordsOut != 3 {
		t.Fatalf("got %d in, %d out; want 5 in (both chunks), 3 distinct lines out", res.RecordsIn, res.RecordsOut)
	}
}
