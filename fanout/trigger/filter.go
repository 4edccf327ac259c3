package trigger

import (
	"fmt"
	"path"
	"strings"

	"github.com/fanout-dev/fanout/objstore"
)

// Reasons Filter.Check gives for leaving an event out.
const (
	ReasonNotCreated = "not an ObjectCreated event"
	ReasonOwnOutput  = "under the triggered jobs' output prefix"
	ReasonBookkeep   = "fanout bookkeeping (_fanout/)"
	ReasonHidden     = "hidden (a path segment starts with '_' or '.')"
	ReasonDirectory  = "a directory marker (key ends in '/')"
	ReasonNotInput   = "outside the configured inputs"
	ReasonIncomplete = "no bucket or key"
	// Reasons Process gives for an event whose object cannot be read:
	// permanent for that event, so it is left out rather than failing the
	// events batched with it.
	ReasonNoBucket     = "its bucket does not exist"
	ReasonAccessDenied = "access to its object is denied"
)

// Filter decides which object events may start a job. The rules never
// let a job trigger on its own output: everything under the output base
// (every triggered job writes below it), anything under a _fanout/
// segment, and hidden keys (which the planner would skip anyway) are left
// out, whatever the inputs say.
type Filter struct {
	out    objstore.Location
	inputs []inputPattern
}

type inputPattern struct {
	bucket, prefix, glob string
}

// NewFilter returns the filter for triggered jobs writing under outputBase
// (an s3:// or file URL) and reading only objects that one of the input
// URLs (s3://bucket/prefix/, with an optional glob in the last element as
// in JobSpec.Inputs) selects. Without inputs, an s3:// output base's
// bucket is the input: an event naming another bucket would have the
// jobs read, with the process's credentials, whatever bucket its sender
// chose.
func NewFilter(outputBase string, inputs []string) (*Filter, error) {
	out, err := objstore.ParseURL(outputBase)
	if err != nil {
		return nil, fmt.Errorf("trigger: output %q: %w", outputBase, err)
	}
	if out.Prefix != "" && !strings.HasSuffix(out.Prefix, "/") {
		out.Prefix += "/"
	}
	f := &Filter{out: out}
	for _, in := range inputs {
		base, glob := splitGlob(in)
		loc, err := objstore.ParseURL(base)
		if err != nil {
			return nil, fmt.Errorf("trigger: input %q: %w", in, err)
		}
		if loc.Scheme != "s3" {
			return nil, fmt.Errorf("trigger: input %q: bucket events come from s3:// locations only", in)
		}
		if glob != "" {
			if _, err := path.Match(glob, ""); err != nil {
				return nil, fmt.Errorf("trigger: input %q: bad glob: %w", in, err)
			}
		}
		f.inputs = append(f.inputs, inputPattern{bucket: loc.Bucket, prefix: loc.Prefix, glob: glob})
	}
	if len(inputs) == 0 && out.Scheme == "s3" {
		f.inputs = []inputPattern{{bucket: out.Bucket}}
	}
	return f, nil
}

// Check returns "" when ev may start a job, and otherwise the reason
// (one of the Reason constants) it may not.
func (f *Filter) Check(ev ObjectEvent) string {
	switch {
	case !ev.Created():
		return ReasonNotCreated
	case ev.Bucket == "" || ev.Key == "":
		return ReasonIncomplete
	case strings.HasSuffix(ev.Key, "/"):
		return ReasonDirectory
	case f.underOutput(ev.Bucket, ev.Key):
		return ReasonOwnOutput
	}
	for _, seg := range strings.Split(ev.Key, "/") {
		if seg == "_fanout" {
			return ReasonBookkeep
		}
	}
	for _, seg := range strings.Split(ev.Key, "/") {
		if strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, ".") {
			return ReasonHidden
		}
	}
	if len(f.inputs) == 0 {
		return ""
	}
	for _, in := range f.inputs {
		if in.bucket != ev.Bucket || !strings.HasPrefix(ev.Key, in.prefix) {
			continue
		}
		if in.glob == "" {
			return ""
		}
		if ok, _ := path.Match(in.glob, strings.TrimPrefix(ev.Key, in.prefix)); ok {
			return ""
		}
	}
	return ReasonNotInput
}

// underOutput reports whether a key lies where triggered jobs write: under
// the output base, or, when the base is a whole bucket, in a batch
// directory or the bookkeeping at its root.
func (f *Filter) underOutput(bucket, key string) bool {
	if f.out.Scheme != "s3" || f.out.Bucket != bucket {
		return false
	}
	if f.out.Prefix != "" {
		return strings.HasPrefix(key, f.out.Prefix)
	}
	first, _, _ := strings.Cut(key, "/")
	return ValidBatchID(first)
}

// splitGlob separates a final path element holding glob characters from a
// URL, as the planner does: "s3://b/logs/*.gz" -> "s3://b/logs/", "*.gz".
func splitGlob(in string) (base, pattern string) {
	i := strings.LastIndex(in, "/")
	if i < 0 || !strings.ContainsAny(in[i+1:], "*?[") {
		return in, ""
	}
	return in[:i+1], in[i+1:]
}
