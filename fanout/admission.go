package fanout

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// ErrNotAdmitted reports a queued job that this engine's Admission does
// not let its workers run, or whose manifest this engine cannot read with
// its store configuration (another endpoint, credentials or network than
// the job's workers have). Workers release such a job's chunks (they are
// not failed: a worker allowed to run them, or able to, may), and say why
// once.
var ErrNotAdmitted = errors.New("fanout: job not admitted")

// Admission decides which queued jobs an engine's workers run. Whoever can
// write to the queue (Redis) names the manifest a job's chunks come from,
// and the manifest names the function the workers run and its arguments
// (exec's are programs): a worker serving a queue that others can write
// to must not take either on trust. Jobs the engine planned itself (Run,
// Submit) or opened by their output (Wait, Resume) are admitted without
// asking; the checks apply to what its workers find in the queue.
type Admission struct {
	// Outputs are output URL prefixes (s3://bucket/prefix/, file:///dir/):
	// a job is run only when its manifest, and so its output, lies under
	// one. Empty admits any output: set SpecKey then.
	Outputs []string
	// SpecKey, when set, admits only jobs whose manifest carries a valid
	// signature under it (manifest.Verify), as an engine whose
	// Config.SpecKey is the same key writes them.
	SpecKey []byte
	// Function, when set, says whether a job's function may run with the
	// job's arguments; nil admits every function of Config.Functions.
	Function func(spec manifest.JobSpec) error
}

// notAdmitted wraps a refusal's reason in ErrNotAdmitted.
func notAdmitted(job, format string, args ...any) error {
	return fmt.Errorf("%w: job %s: %s", ErrNotAdmitted, job, fmt.Sprintf(format, args...))
}

// unreadable wraps in ErrNotAdmitted the error of a worker that cannot
// open a job's store or read its manifest.
func unreadable(job, manifestURL string, err error) error {
	return fmt.Errorf("%w: job %s: this worker cannot read its manifest %s with its store configuration (endpoint, credentials, network): %w",
		ErrNotAdmitted, job, manifestURL, err)
}

// normalOutput returns an output URL in Location's form with a final '/',
// refusing a path with "." or ".." segments (under a file root they
// would climb out of a prefix that seems to hold them).
func normalOutput(u string) (string, error) {
	loc, err := objstore.ParseURL(u)
	if err != nil {
		return "", err
	}
	if slices.ContainsFunc(strings.Split(loc.Prefix, "/"), func(s string) bool { return s == "." || s == ".." }) {
		return "", fmt.Errorf("%q holds a . or .. segment", u)
	}
	return strings.TrimSuffix(loc.String(), "/") + "/", nil
}

// checkOutput admits a job's output URL (before its manifest is read).
func (a *Admission) checkOutput(job, outURL string) error {
	if len(a.Outputs) == 0 {
		return nil
	}
	out, err := normalOutput(outURL)
	if err != nil {
		return notAdmitted(job, "output: %v", err)
	}
	for _, base := range a.Outputs {
		b, err := normalOutput(base)
		if err == nil && strings.HasPrefix(out, b) {
			return nil
		}
	}
	return notAdmitted(job, "its output %s lies under no output base this worker serves (%s)", outURL, strings.Join(a.Outputs, ", "))
}

// checkManifest admits a job's manifest, read from outURL.
func (a *Admission) checkManifest(outURL string, m *manifest.Manifest) error {
	if a.SpecKey != nil && !manifest.Verify(a.SpecKey, m) {
		if m.Signature == "" {
			return notAdmitted(m.Job, "its manifest is not signed, and this worker runs only jobs signed with its spec key")
		}
		return notAdmitted(m.Job, "its manifest's signature is not valid under this worker's spec key")
	}
	out, err1 := normalOutput(outURL)
	spec, err2 := normalOutput(m.Spec.Output)
	if err1 != nil || err2 != nil || out != spec {
		return notAdmitted(m.Job, "its manifest lies under %s but names the output %s", outURL, m.Spec.Output)
	}
	if a.Function != nil {
		if err := a.Function(m.Spec); err != nil {
			return notAdmitted(m.Job, "function %s: %v", m.Spec.Function, err)
		}
	}
	return nil
}
