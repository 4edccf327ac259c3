package fanout_test

import (
	"context"
	"errors"
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
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// TestPlanUnionInListingOrder plans 300 small CSV and JSONL objects whose
// columns appear at different places (beyond the first batch the planner
// reads concurrently, and beside a split object read in line): the job's
// schema is the union in the order the listing first shows each column,
// typed from the object that brought it, whatever read finished first; and
// --schema-mode fixed names the first object that differs.
func TestPlanUnionInListingOrder(t *testing.T) {
	for _, format := range []string{"csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in")
			if err := os.MkdirAll(in, 0o755); err != nil {
				t.Fatal(err)
			}
			cols := func(i int) []string {
				c := []string{"id", "a"}
				switch {
				case i == 70:
					c = append(c, "c")
				case i == 150:
					c = append(c, "big") // the split object
				case i >= 200:
					c = append(c, "b")
				}
				return c
			}
			for i := range 300 {
				var body strings.Builder
				rows := 3
				if i == 150 {
					rows = 2000 // bigger than a chunk: split, its header read in line
				}
				names := cols(i)
				if format == "csv" {
					body.WriteString(strings.Join(names, ",") + "\n")
				}
				for r := range rows {
					var vals []string
					for _, n := range names {
						v := fmt.Sprint(r)
						if n == "c" {
							v = fmt.Sprintf("%d.5", r)
						}
						if format == "csv" {
							vals = append(vals, v)
						} else {
							vals = append(vals, fmt.Sprintf("%q: %s", n, v))
						}
					}
					if format == "csv" {
						body.WriteString(strings.Join(vals, ",") + "\n")
					} else {
						body.WriteString("{" + strings.Join(vals, ", ") + "}\n")
					}
				}
				name := filepath.Join(in, fmt.Sprintf("o%03d.%s", i, format))
				if err := os.WriteFile(name, []byte(body.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			q := memqueue.New(memqueue.Config{})
			e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
				Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
					b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
					return b, err
				}})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
				Output: "file://" + filepath.Join(dir, "out") + "/", OutputFormat: "jsonl", ChunkBytes: 4 << 10}
			for range 3 {
				plan, err := e.PlanWith(t.Context(), spec, fanout.PlanOptions{DryRun: true})
				if err != nil {
					t.Fatal(err)
				}
				if want := "id:int64,a:int64,c:float64,big:int64,b:int64"; plan.Manifest.Schema != want {
					t.Fatalf("union: got schema %s, want %s", plan.Manifest.Schema, want)
				}
			}
			fixed := spec
			fixed.SchemaMode = manifest.SchemaFixed
			_, err = e.PlanWith(t.Context(), fixed, fanout.PlanOptions{DryRun: true})
			var me *fanout.SchemaMismatchError
			if !errors.As(err, &me) || !strings.HasSuffix(me.Object, fmt.Sprintf("o070.%s", format)) || len(me.Extra) != 1 || me.Extra[0] != "c" {
				t.Fatalf("fixed: got %v, want o070.%s named with the extra column c", err, format)
			}
		})
	}
}
