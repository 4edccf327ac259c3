package cli

// This file holds what decides which queued jobs a worker runs (work,
// serve, watch): output bases, the spec key, and exec's allow-list.

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// specKey returns the key that signs and verifies job specs:
// --spec-key-file's contents, else $FANOUT_SPEC_KEY; nil when neither is
// set.
func (g *globalFlags) specKey() ([]byte, error) {
	if g.specKeyFile != "" {
		b, err := os.ReadFile(g.specKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--spec-key-file: %w", err)
		}
		key := strings.TrimSpace(string(b))
		if len(key) < 16 {
			return nil, fmt.Errorf("--spec-key-file %s: the key is shorter than 16 characters", g.specKeyFile)
		}
		return []byte(key), nil
	}
	if key := os.Getenv("FANOUT_SPEC_KEY"); key != "" {
		if len(key) < 16 {
			return nil, errors.New("FANOUT_SPEC_KEY is shorter than 16 characters")
		}
		return []byte(key), nil
	}
	return nil, nil
}

// admitFlags say which queued jobs a worker runs.
type admitFlags struct {
	outBases  []string
	allowExec []string
	anyExec   bool
}

func (f *admitFlags) register(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.outBases, "out-base", nil, "run only jobs whose output lies under this `URL` (s3://bucket/prefix/); repeatable; default $FANOUT_OUT_BASES (comma-separated)")
	fl.StringSliceVar(&f.allowExec, "allow-exec", nil, "let exec jobs run only these programs, `PROGRAM[,PROGRAM]`, matched against the command's first word as written (exec is refused otherwise)")
	fl.BoolVar(&f.anyExec, "allow-exec-any", false, "let exec jobs run any command, shell=true included: whoever can write to Redis (or sign specs) then runs commands on this host")
}

// admission builds the worker's Admission. defaultBases are the bases
// the command serves anyway (serve's and watch's --out); a worker with
// neither a base nor a spec key would run whatever Redis names, and is
// refused.
func (f *admitFlags) admission(g *globalFlags, defaultBases ...string) (*fanout.Admission, error) {
	key, err := g.specKey()
	if err != nil {
		return nil, err
	}
	bases := append(append([]string{}, defaultBases...), f.outBases...)
	if len(f.outBases) == 0 {
		bases = append(bases, splitComma(os.Getenv("FANOUT_OUT_BASES"))...)
	}
	for i, b := range bases {
		bases[i] = absURL(b)
		if _, err := objstore.ParseURL(bases[i]); err != nil {
			return nil, fmt.Errorf("--out-base %q: %w", b, err)
		}
	}
	if len(bases) == 0 && key == nil {
		return nil, errors.New("say which jobs this worker runs: --out-base s3://bucket/prefix/ (repeatable, or $FANOUT_OUT_BASES), " +
			"or a spec key shared with the submitters (--spec-key-file or $FANOUT_SPEC_KEY); whoever can write to Redis chooses what a worker runs")
	}
	allow := builtin.ExecAllow{Programs: f.allowExec, Any: f.anyExec}
	return &fanout.Admission{Outputs: bases, SpecKey: key, Function: func(spec manifest.JobSpec) error {
		err := allow.Check(spec.Function, spec.Args)
		if err != nil {
			err = fmt.Errorf("%w (see --allow-exec and --allow-exec-any)", err)
		}
		return err
	}}, nil
}

// splitComma splits a comma-separated list, dropping empty items.
func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
