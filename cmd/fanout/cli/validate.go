package cli

import (
	"github.com/spf13/cobra"
)

// newValidateCommand is run with --fn validate: the command a user of a
// data contract reaches for (fanout profile proposes one, fanout validate
// checks the data against it). It takes every flag of run.
func newValidateCommand(g *globalFlags) *cobra.Command {
	cmd := withLambdaInvoke(g, newRunCommand(g, false))
	cmd.Use = "validate --in URL --contract FILE --out URL [flags]"
	cmd.Short = "Check every record against a data contract: the valid ones committed under --out, the rest with their reasons under <out>/_rejected/"
	cmd.Long = `validate is "run --fn validate": every record under --in is checked against the
contract of --contract FILE (YAML or JSON; "infer" and "profile" propose one), the
records that pass are committed under --out and the others, each with the rules it
broke, under <out>/_rejected/, by the same commit. --max-rejected N|P% fails the job
past that many. Every flag of run applies.`
	fl := cmd.Flags()
	fn := fl.Lookup("fn")
	_ = fn.Value.Set("validate")
	fn.DefValue = "validate"
	_ = fl.MarkHidden("fn")
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if v := fn.Value.String(); v != "validate" {
			return usagef("validate runs the validate function; for --fn %s use %s run", v, g.prog)
		}
		if contract, _ := fl.GetString("contract"); contract == "" {
			return usagef("validate needs --contract FILE: a data contract (YAML or JSON); %s profile --in URL --out URL -o contract.yaml proposes one that the profiled data passes", g.prog)
		}
		return run(c, args)
	}
	return cmd
}
