package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
)

func newGCCommand(g *globalFlags) *cobra.Command {
	var (
		out     string
		opts    fanout.GCOptions
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:   "gc --out URL [--dry-run] [--job JOB] [--older-than DURATION]",
		Short: "Remove what failed, interrupted and abandoned jobs left under an output (staging, markers, open uploads), safely while another job runs there",
		Long: `gc removes the leftovers of jobs under <out>/_fanout/ that can never commit, and the open
multipart uploads (S3) of their final files. It reads the output's owner record
(<out>/_fanout/OWNER) and never touches the job that owns the output while it is
planning, running, failed (fanout redrive needs what it left) or committing:

  a job that lost the output (a --rerun took it over)  everything of it goes
  the owner, once cancelled                            everything but its _CANCELLED record
  the owner, once committed                            only its staging and open uploads
                                                       (under its commit lease)
  a job under an output without owner record           everything, if it wrote nothing
                                                       for --older-than (else kept)

Run it with --dry-run first to see what would go. It is safe beside a running job:
another job's workers never write where gc removes. Give it the jobs' --redis, so
that it leaves a committed job alone while a committer holds its commit lease.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("gc needs --out URL")
			}
			if opts.Job != "" && !manifest.ValidJobID(opts.Job) {
				return usagef("--job %q is not a job ID", opts.Job)
			}
			if opts.OlderThan <= 0 {
				return usagef("--older-than %s: want a positive duration", opts.OlderThan)
			}
			ctx := cmd.Context()
			a, err := newApp(ctx, g, false)
			if err != nil {
				return err
			}
			defer a.Close()
			info, err := a.engine.GC(ctx, out, opts)
			if jsonOut {
				if perr := printJSON(os.Stdout, info); perr != nil {
					return perr
				}
				return err
			}
			if err == nil || info.Objects > 0 || info.Uploads > 0 || len(info.Jobs) > 0 {
				printGC(info) // what it did before it failed, if anything
			}
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the output `URL` to clean")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list what would be removed and remove nothing")
	cmd.Flags().StringVar(&opts.Job, "job", "", "only this `JOB`")
	cmd.Flags().DurationVar(&opts.OlderThan, "older-than", fanout.DefaultGCOlderThan, "remove a job whose state is unknown (no owner record) only when it wrote nothing for this `DURATION`")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print what was found and done as JSON")
	return cmd
}

// printGC prints one line per job and a total.
func printGC(info fanout.GCInfo) {
	if info.Owner != "" {
		fmt.Printf("output %s: owned by job %s (%s)\n", info.Output, info.Owner, info.OwnerState)
	} else {
		fmt.Printf("output %s: no owner record\n", info.Output)
	}
	for _, j := range info.Jobs {
		if j.Action == fanout.GCKept {
			fmt.Printf("job %s: kept: %s\n", j.Job, j.Why)
			continue
		}
		fmt.Printf("job %s: %s %d object(s) under %s and %d open upload(s): %s\n", j.Job, j.Action, j.Objects, j.Prefix, j.Uploads, j.Why)
	}
	verb := "removed"
	if info.DryRun {
		verb = "would remove"
	}
	fmt.Printf("%s %d object(s) and %d open upload(s)\n", verb, info.Objects, info.Uploads)
}
