package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func newRedriveCommand(g *globalFlags) *cobra.Command {
	var out string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "redrive JOB [--out URL]",
		Short: "Run only the failed chunks of a failed job again (after fixing their cause); then `fanout wait JOB` commits it",
		Long: `redrive removes the failed markers of a job that did not commit, moves its dead-lettered
chunks back to the queue with their attempts reset, and enqueues every chunk without a
marker. Chunks that finished are not run again. Workers (fanout work, or fanout wait
--workers N) then run the chunks, and fanout wait commits the job. A committed job
cannot be redriven.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, o, err := openJobApp(ctx, g, args[0], out, out == "")
			if err != nil {
				return err
			}
			defer a.Close()
			info, err := a.engine.Redrive(ctx, o, args[0])
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(os.Stdout, info)
			}
			fmt.Printf("job %s: %d failed chunk(s) to run again", info.Job, len(info.Chunks))
			if len(info.Chunks) > 0 {
				fmt.Printf(" (%s)", strings.Join(info.Chunks[:min(len(info.Chunks), 10)], ", "))
				if len(info.Chunks) > 10 {
					fmt.Printf(" and %d more", len(info.Chunks)-10)
				}
			}
			fmt.Printf("; %d chunk(s) enqueued\n", info.Enqueued)
			if info.Enqueued > 0 && a.embedded {
				fmt.Printf("finish it with: %s wait %s --out %s\n", g.prog, info.Job, o)
			} else if info.Enqueued > 0 {
				fmt.Printf("finish it with: %s wait %s\n", g.prog, info.Job)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the job's output `URL` (needed when Redis does not know the job)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print what was redriven as JSON")
	return cmd
}
