package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions/profile"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// profileFiles are the files the profile function commits beside its rows
// (functions/builtin.Profile), by the suffix of their final names.
var profileFiles = []string{"profile.json", "report.html", "contract.yaml"}

// profileOptions are the flags of fanout profile beside the job's.
type profileOptions struct {
	jf       jobFlags
	workers  int
	ranges   bool
	name     string
	contract string // write the proposed contract to this file
	jsonOut  bool
	compare  string // an earlier profile.json: print the drift
}

func newProfileCommand(g *globalFlags) *cobra.Command {
	o := profileOptions{jf: jobFlags{functions: g.functions, prog: g.prog}}
	cmd := &cobra.Command{
		Use:   "profile --in URL --out URL [flags]",
		Short: "Profile every record of the input as a job: per-column statistics, an HTML report and a proposed contract",
		Long: `profile runs the profile function over every record under --in and commits, under
--out, one row per column (count, nulls, distinct, min, max, mean) and beside them
three files of the same commit: part-<job>-r000000-profile.json (the whole profile:
exact counts, nulls, ranges and sums, mean and standard deviation, a HyperLogLog
distinct count, top values, t-digest quantiles and histogram, string lengths,
detected patterns, the inferred type with the share of values that parse),
part-<job>-r000000-report.html (a self-contained report) and
part-<job>-r000000-contract.yaml (a contract every profiled record passes). CSV and
JSONL columns are read as text, so that a value of another type is counted, not
rejected. The errors of the estimates are stated in the profile.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The earlier profile is read first: a wrong path fails before
			// the job reads every record.
			var before *profile.Profile
			if o.compare != "" {
				var err error
				if before, err = readEarlierProfile(cmd.Context(), g, o.compare); err != nil {
					return err
				}
			}
			files, err := runProfile(cmd.Context(), g, &o)
			if err != nil {
				return err
			}
			if o.contract != "" {
				if err := copyProfileFile(cmd.Context(), g, files["contract.yaml"], o.contract); err != nil {
					return err
				}
			}
			if !o.jsonOut {
				for _, f := range profileFiles {
					fmt.Fprintf(os.Stderr, "  %s\t%s\n", f, files[f])
				}
			}
			if before != nil {
				return printDrift(cmd.Context(), g, before, files["profile.json"])
			}
			return nil
		},
	}
	o.register(cmd)
	cmd.Flags().StringVarP(&o.contract, "contract-out", "o", "", "also write the proposed contract to this local `FILE`")
	cmd.Flags().StringVar(&o.compare, "compare", "", "an earlier profile.json (a local `FILE` or a URL): print what drifted since (new values, null shares, ranges, distributions)")
	return cmd
}

func (o *profileOptions) register(cmd *cobra.Command) {
	o.jf.register(cmd)
	fl := cmd.Flags()
	fl.Lookup("out-format").DefValue = manifest.FormatJSONL
	o.jf.outFormat = manifest.FormatJSONL
	fl.IntVar(&o.workers, "workers", runtime.NumCPU(), "`N` chunks this process works on at once")
	fl.BoolVar(&o.ranges, "ranges", false, "propose min/max for identifier-like and timestamp columns too")
	fl.StringVar(&o.name, "name", "", "the proposed contract's `NAME` (default: the input's last path element)")
	fl.BoolVar(&o.jsonOut, "json", false, "print one JSON object describing the job at the end")
	_ = fl.MarkHidden("fn")
}

// runProfile runs the profile job and returns the committed files' URLs by
// name (profileFiles).
func runProfile(ctx context.Context, g *globalFlags, o *profileOptions) (map[string]string, error) {
	if o.jf.fn != "" && o.jf.fn != "profile" {
		return nil, usagef("profile runs the profile function; use %s run for --fn %s", o.jf.prog, o.jf.fn)
	}
	o.jf.fn = "profile"
	spec, err := o.jf.spec()
	if err != nil {
		return nil, err
	}
	if spec.Args["source"] == "" {
		spec.Args["source"] = strings.Join(o.jf.inputs, ", ")
	}
	if o.ranges {
		spec.Args["ranges"] = "true"
	}
	name := o.name
	if name == "" {
		name = path.Base(strings.TrimSuffix(strings.TrimRight(o.jf.inputs[0], "*"), "/"))
	}
	spec.Args["name"] = name
	a, err := newApp(ctx, g, false)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	setMemoryLimit(o.workers)
	var job string
	err = runJob(ctx, g, a, jobRun{out: spec.Output, workers: o.workers, grace: defaultGrace, jsonOut: o.jsonOut, rerunnable: true,
		resume: func(string) []string { return nil }},
		func(ctx context.Context, opts fanout.RunOptions) (fanout.Result, error) {
			res, err := a.engine.Run(ctx, spec, opts)
			job = res.Job
			return res, err
		})
	if err != nil {
		return nil, err
	}
	return findProfileFiles(ctx, g, spec.Output, job)
}

// findProfileFiles lists the committed output for the job's profile files.
func findProfileFiles(ctx context.Context, g *globalFlags, out, job string) (map[string]string, error) {
	opts, err := g.bucketOptions()
	if err != nil {
		return nil, err
	}
	b, loc, err := bucketurl.Open(ctx, out, opts)
	if err != nil {
		return nil, s3Hint(err)
	}
	if c, ok := b.(io.Closer); ok {
		defer c.Close()
	}
	files := map[string]string{}
	for info, err := range b.List(ctx, loc.Prefix, nil) {
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", out, err)
		}
		base := path.Base(info.Key)
		if !strings.HasPrefix(base, "part-"+job+"-") {
			continue
		}
		for _, f := range profileFiles {
			if strings.HasSuffix(base, "-"+f) {
				files[f] = strings.TrimSuffix(out, "/") + "/" + strings.TrimPrefix(info.Key, loc.Prefix)
			}
		}
	}
	for _, f := range profileFiles {
		if files[f] == "" {
			return nil, fmt.Errorf("job %s committed no %s under %s", job, f, out)
		}
	}
	return files, nil
}

// readProfileFile reads one committed file by URL.
func readProfileFile(ctx context.Context, g *globalFlags, url string) ([]byte, error) {
	opts, err := g.bucketOptions()
	if err != nil {
		return nil, err
	}
	dir, file := path.Split(url)
	b, loc, err := bucketurl.Open(ctx, dir, opts)
	if err != nil {
		return nil, s3Hint(err)
	}
	if c, ok := b.(io.Closer); ok {
		defer c.Close()
	}
	rc, _, err := b.Get(ctx, loc.Prefix+file, &objstore.GetOptions{Length: -1})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func copyProfileFile(ctx context.Context, g *globalFlags, url, to string) error {
	data, err := readProfileFile(ctx, g, url)
	if err != nil {
		return err
	}
	if to == "-" {
		_, err = os.Stdout.Write(data)
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// readEarlierProfile reads the profile.json given to --compare (a local
// file or a URL).
func readEarlierProfile(ctx context.Context, g *globalFlags, from string) (*profile.Profile, error) {
	var data []byte
	var err error
	if strings.Contains(from, "://") {
		data, err = readProfileFile(ctx, g, from)
	} else {
		data, err = os.ReadFile(from)
	}
	if err != nil {
		return nil, fmt.Errorf("--compare: %w", err)
	}
	var p profile.Profile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("--compare %s: not a profile.json: %w", from, err)
	}
	if len(p.Columns) == 0 {
		return nil, fmt.Errorf("--compare %s: not a profile.json: no columns", from)
	}
	return &p, nil
}

// printDrift compares the earlier profile with the job's profile.json (a
// URL) and prints the drift on stdout.
func printDrift(ctx context.Context, g *globalFlags, before *profile.Profile, after string) error {
	data, err := readProfileFile(ctx, g, after)
	if err != nil {
		return err
	}
	var a profile.Profile
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("%s: %w", after, err)
	}
	return profile.Compare(before, &a).WriteText(os.Stdout)
}
