package trigger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// batchTimeLayout is the time part of a batch ID.
const batchTimeLayout = "20060102T150405Z"

var batchIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{16}$`)

// ValidBatchID reports whether s has the form of a batch ID.
func ValidBatchID(s string) bool { return batchIDPattern.MatchString(s) }

// BatchID names a batch of object events: the time of its newest event
// (UTC, so that IDs sort roughly by arrival) and 16 hex digits of a
// SHA-256 over the sorted identities of its objects. The same events give
// the same ID, whatever their order or how often each was delivered.
func BatchID(events []ObjectEvent) string {
	ids := make([]string, 0, len(events))
	var newest time.Time
	for _, ev := range events {
		ids = append(ids, ev.Identity())
		if ev.Time.After(newest) {
			newest = ev.Time
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{'\n'})
	}
	return newest.UTC().Format(batchTimeLayout) + "-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// OutputFor is the output URL of batch's job under the output base:
// "<base>/<batch>/". Each batch gets a prefix of its own because an output
// prefix holds exactly one committed job.
func OutputFor(base, batch string) string {
	return strings.TrimSuffix(base, "/") + "/" + batch + "/"
}

// ExactInput returns an input URL that selects exactly one object: the
// object's directory as the listing prefix and its name, escaped, as a
// glob that matches nothing else (the first character in a bracket class
// so that the planner treats the name as a pattern, metacharacters
// escaped). The planner lists the directory to find the object.
func ExactInput(bucket, key string) string {
	dir, name := "", key
	if i := strings.LastIndex(key, "/"); i >= 0 {
		dir, name = key[:i+1], key[i+1:]
	}
	var b strings.Builder
	for i := 0; i < len(name); {
		_, size := utf8.DecodeRuneInString(name[i:])
		c := name[i : i+size]
		first := i == 0
		i += size
		switch {
		case first:
			b.WriteString(`[\` + c + `]`)
		case strings.ContainsAny(c, `*?[\`):
			b.WriteString(`\` + c)
		default:
			b.WriteString(c)
		}
	}
	return "s3://" + bucket + "/" + dir + b.String()
}

// Template is the configured part of every triggered job: function,
// arguments, formats, partitioning, chunking. Spec fills in the rest.
type Template struct {
	// Spec is the job spec without Inputs and Nonce; its Output is the
	// output base under which each batch gets its own prefix.
	Spec manifest.JobSpec
}

// Validate checks the template by building a spec for a made-up object.
func (t Template) Validate() error {
	if _, err := objstore.ParseURL(t.Spec.Output); err != nil || t.Spec.Output == "" {
		return fmt.Errorf("trigger: output base %q: want s3://bucket/prefix/ (%v)", t.Spec.Output, err)
	}
	spec := t.JobSpec(BatchID(nil), []ObjectEvent{{Bucket: "example-bucket", Key: "in/x.csv"}})
	return spec.Validate()
}

// JobSpec returns the job spec of a batch: one exact input per object, the
// batch's own output prefix, and the batch ID as the nonce, so that the
// job ID (derived from the spec) is the same for the same batch however
// often it is submitted.
func (t Template) JobSpec(batch string, objects []ObjectEvent) manifest.JobSpec {
	spec := t.Spec.WithDefaults()
	spec.Inputs = make([]string, 0, len(objects))
	for _, o := range objects {
		spec.Inputs = append(spec.Inputs, ExactInput(o.Bucket, o.Key))
	}
	slices.Sort(spec.Inputs)
	spec.Inputs = slices.Compact(spec.Inputs)
	spec.Output = OutputFor(t.Spec.Output, batch)
	spec.Nonce = "trigger:" + batch
	return spec
}
