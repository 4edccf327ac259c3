package fanout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
)

// TestProfileIsTheSameWhateverTheMergeShape runs the profile function over
// the same CSV objects cut into many small chunks twice: on three workers
// with a merge fan-in of 3 (multi-pass merges: the partial states merged in
// small groups, in the order chunks finished) and on one worker with the
// default fan-in. The committed profile.json files are byte-identical and
// count every record once: the reduce folds the chunks' summaries keyed by
// the chunk index the engine gives each map input (functions.ChunkInput),
// not by arrival.
func TestProfileIsTheSameWhateverTheMergeShape(t *testing.T) {
	t.Parallel()
	in := t.TempDir()
	files := map[string][]byte{}
	const objects, rows = 4, 1500
	for f := range objects {
		var b strings.Builder
		b.WriteString("id,amount,kind\n")
		for i := range rows {
			n := f*rows + i
			fmt.Fprintf(&b, "%d,%.2f,%s\n", n, float64(n%9973)/7, []string{"a", "b", "c", "dd"}[n%4])
		}
		files[fmt.Sprintf("s%d.csv", f)] = []byte(b.String())
	}
	writeFiles(t, in, files)
	run := func(workers int, tweak func(*fanout.Config)) (string, int) {
		out := filepath.Join(t.TempDir(), "out")
		e := newEngine(t, nil, tweak)
		res, err := e.Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "profile",
			Output: "file://" + out + "/", ChunkBytes: 4 << 10}.WithDefaults(), fanout.RunOptions{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, "profile.json") && !strings.Contains(p, "_fanout") {
				found = append(found, p)
			}
			return err
		})
		if len(found) != 1 {
			t.Fatalf("found %d profile.json files, want 1: %v", len(found), found)
		}
		b, err := os.ReadFile(found[0])
		if err != nil {
			t.Fatal(err)
		}
		return string(b), res.Chunks
	}
	a, chunks := run(3, func(c *fanout.Config) { c.MergeFanIn = 3 })
	b, _ := run(1, func(*fanout.Config) {})
	if chunks < 20 {
		t.Fatalf("the job has %d tasks, want many chunks", chunks)
	}
	if a != b {
		t.Errorf("profile.json differs between merge fan-in 3 on 3 workers and the default on 1:\n%s\n----\n%s", a, b)
	}
	var p struct {
		Rows    int64 `json:"rows"`
		Columns []struct {
			Name     string `json:"name"`
			Count    int64  `json:"count"`
			Distinct int64  `json:"distinct"`
		} `json:"columns"`
	}
	if err := json.Unmarshal([]byte(a), &p); err != nil {
		t.Fatal(err)
	}
	if p.Rows != objects*rows || len(p.Columns) != 3 || p.Columns[0].Count != objects*rows || p.Columns[2].Distinct != 4 {
		t.Errorf("profile: %d rows, columns %+v; want %d rows, every id counted, 4 kinds", p.Rows, p.Columns, objects*rows)
	}
}
