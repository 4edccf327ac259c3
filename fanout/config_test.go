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
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

func TestNewRefusesBadConfigNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(*fanout.Config)
		field string
	}{
		{"negative memory", func(c *fanout.Config) { c.MemoryMB = -1 }, "Config.MemoryMB"},
		{"negative combine budget", func(c *fanout.Config) { c.CombineBudget = -1 }, "Config.CombineBudget"},
		{"fan-in of one", func(c *fanout.Config) { c.MergeFanIn = 1 }, "Config.MergeFanIn"},
		{"negative fan-in", func(c *fanout.Config) { c.MergeFanIn = -3 }, "Config.MergeFanIn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := memqueue.New(memqueue.Config{})
			cfg := fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
				Open: func(context.Context, string) (objstore.Bucket, error) { return nil, fmt.Errorf("not used") }}
			tc.tweak(&cfg)
			e, err := fanout.New(cfg)
			if err == nil {
				e.Close()
				t.Fatalf("New accepted %s", tc.name)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("New: %v, want an error naming %s", err, tc.field)
			}
		})
	}
}

// TestMemoryMBIsRecordedInEveryMarker runs a job with Config.MemoryMB set
// (as fanout-lambda sets it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE) and
// reads the chunk markers back from disk.
func TestMemoryMBIsRecordedInEveryMarker(t *testing.T) {
	t.Parallel()
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"a.txt": []byte("x\ny\n"), "b.txt": []byte("z\n")})
	e := newEngine(t, nil, func(c *fanout.Config) { c.MemoryMB = 1769 })
	res, err := e.Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "count",
		Output: "file://" + out + "/", OutputFormat: "jsonl", MaxObjectsPerChunk: 1}.WithDefaults(), fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, filepath.FromSlash(manifest.NewLayout("").MarkerPrefix(res.Job)))
	entries, err := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("got %d chunk markers in %s, want 2 (one per object)", len(entries), dir)
	}
	for _, ent := range entries {
		b, err := os.ReadFile(ent)
		if err != nil {
			t.Fatal(err)
		}
		var m manifest.ChunkMarker
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.MemoryMB != 1769 {
			t.Errorf("marker %s records memory_mb %d, want 1769", ent, m.MemoryMB)
		}
	}
}
