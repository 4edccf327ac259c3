package cli

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
)

// demoRegions are the partition values of the demo data, hostile ones
// included, to show that they stay inside the output prefix.
var demoRegions = []string{"eu-west", "us-east", "ap-south", "sa/east", "../escape", "Zürich"}

func newDemoCommand(g *globalFlags) *cobra.Command {
	var dir string
	var rows int
	cmd := &cobra.Command{
		Use:   "demo [--dir ./fanout-demo]",
		Short: "Generate sample sales CSV and convert it to Parquet partitioned by region, on the embedded default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			in, out := filepath.Join(abs, "input"), filepath.Join(abs, fmt.Sprintf("output-%d", time.Now().Unix()))
			if err := writeDemoData(in, rows); err != nil {
				return err
			}
			fmt.Printf("wrote %d sample rows under %s\n", rows, in)
			fmt.Printf("running: %s run --in %s/ --fn convert --arg 'where=amount > 0' --out %s/ --partition-by region --chunk-size 1MiB\n\n", g.prog, in, out)
			demo := *g
			demo.redisURL = "" // the demo runs on the embedded default
			a, err := newApp(ctx, &demo, false)
			if err != nil {
				return err
			}
			defer a.Close()
			spec := manifest.JobSpec{
				Inputs: []string{"file://" + in + "/"}, Function: "convert", Args: map[string]string{"where": "amount > 0"},
				Output: "file://" + out + "/", OutputFormat: "parquet", PartitionBy: []string{"region"}, ChunkBytes: 1 << 20,
			}.WithDefaults()
			resume := func(string) []string { return nil } // a new demo writes a new output
			err = runJob(ctx, g, a, jobRun{out: spec.Output, workers: runtime.NumCPU(), grace: defaultGrace, resume: resume},
				func(ctx context.Context, opts fanout.RunOptions) (fanout.Result, error) {
					return a.engine.Run(ctx, spec, opts)
				})
			if err != nil {
				return err
			}
			return listPartitions(out)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "fanout-demo", "`DIR` to write the sample input and the output in")
	cmd.Flags().IntVar(&rows, "rows", 200000, "`N` sample rows to generate")
	return cmd
}

// writeDemoData writes rows of sales-like CSV over four objects.
func writeDemoData(dir string, rows int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	const files = 4
	for f := range files {
		name := filepath.Join(dir, fmt.Sprintf("sales-%02d.csv", f))
		fh, err := os.Create(name)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(fh)
		fmt.Fprintln(w, "order_id,region,product,quantity,amount,ordered_at")
		for i := f; i < rows; i += files {
			region := demoRegions[r.IntN(len(demoRegions))]
			fmt.Fprintf(w, "%d,%q,p%03d,%d,%.2f,%s\n", i, region, r.IntN(200), 1+r.IntN(9),
				float64(r.IntN(100000))/100-5, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
		}
		if err := w.Flush(); err != nil {
			fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
	}
	return nil
}

// listPartitions prints each partition directory of a local output with
// its file count and size.
func listPartitions(out string) error {
	type agg struct {
		files int
		bytes int64
	}
	parts := map[string]*agg{}
	var names []string
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		if d.IsDir() && (strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".")) && rel != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), "_") {
			return nil
		}
		dir := filepath.Dir(rel)
		if parts[dir] == nil {
			parts[dir] = &agg{}
			names = append(names, dir)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		parts[dir].files++
		parts[dir].bytes += info.Size()
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	fmt.Printf("\ncommitted under %s:\n", out)
	for _, n := range names {
		fmt.Printf("  %-28s %3d files, %s\n", n+"/", parts[n].files, humanBytes(parts[n].bytes))
	}
	fmt.Printf("  _SUCCESS\n\nread it back, e.g. with DuckDB:\n  SELECT region, count(*), sum(amount) FROM read_parquet('%s/**/*.parquet', hive_partitioning=true) GROUP BY region;\n", out)
	return nil
}
