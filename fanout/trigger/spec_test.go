package trigger

import (
	"path"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

func TestExactInputMatchesOnlyItsObject(t *testing.T) {
	names := []string{"a.csv", "a b+c.csv", "*.csv", "x?y", "[1].csv", "]x", `back\slash`, "^caret", "-dash", "Zürich 日本.csv",
		"a*b[c]d?e", "\uFFFDreplacement", "%2e%2e", "x=y", "..", "trailing ", "1"}
	for _, name := range names {
		for _, dir := range []string{"", "in/", "in/[2024]/", "deep/a b/c+d/"} {
			key := dir + name
			u := ExactInput("data", key)
			base, pattern := splitGlob(u)
			if pattern == "" {
				t.Fatalf("ExactInput(%q) = %q: no glob, the planner would list it as a prefix", key, u)
			}
			loc, err := objstore.ParseURL(base)
			if err != nil || loc.Bucket != "data" || loc.Prefix != dir {
				t.Fatalf("ExactInput(%q) = %q: base parses to %+v, %v; want prefix %q", key, u, loc, err, dir)
			}
			if ok, err := path.Match(pattern, name); !ok || err != nil {
				t.Errorf("ExactInput(%q): pattern %q does not match the name (%v)", key, pattern, err)
			}
			for _, other := range []string{name + "x", "x" + name, "x" + name[1:], name + "/x", strings.ToUpper(name) + "!", ""} {
				if other == name {
					continue
				}
				if ok, _ := path.Match(pattern, other); ok {
					t.Errorf("ExactInput(%q): pattern %q also matches %q", key, pattern, other)
				}
			}
		}
	}
}

func TestBatchID(t *testing.T) {
	t1 := time.Date(2026, 11, 22, 3, 44, 5, 0, time.UTC)
	a := ObjectEvent{Bucket: "b", Key: "a", ETag: "1", Time: t1}
	b := ObjectEvent{Bucket: "b", Key: "b", ETag: "2", Time: t1.Add(time.Second)}
	bAgain := b
	bAgain.Sequencer = "x"
	id := BatchID([]ObjectEvent{a, b})
	if got := BatchID([]ObjectEvent{b, a, bAgain}); got != id {
		t.Errorf("BatchID depends on order or repeats: got %s, want %s", got, id)
	}
	if !strings.HasPrefix(id, "20261122T034406Z-") || !ValidBatchID(id) {
		t.Errorf("BatchID = %q, want the newest event's time and a valid ID", id)
	}
	c := a
	c.ETag = "3"
	if BatchID([]ObjectEvent{c, b}) == id {
		t.Errorf("a batch with another version of an object has the same ID")
	}
	for _, bad := range []string{"", "j0123", "20261122T034406Z-0123456789abcde", "20261122T034406Z-0123456789ABCDEF", "x20261122T034406Z-0123456789abcdef"} {
		if ValidBatchID(bad) {
			t.Errorf("ValidBatchID(%q) = true", bad)
		}
	}
}

func TestTemplateJobSpec(t *testing.T) {
	tmpl := Template{Spec: manifest.JobSpec{Function: "convert", Output: "s3://out/base", OutputFormat: "jsonl", PartitionBy: []string{"region"}}}
	if err := tmpl.Validate(); err != nil {
		t.Fatal(err)
	}
	objs := []ObjectEvent{{Bucket: "data", Key: "in/b.csv", ETag: "2"}, {Bucket: "data", Key: "in/a.csv", ETag: "1"}}
	id := BatchID(objs)
	spec := tmpl.JobSpec(id, objs)
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []string{"s3://data/in/[\\a].csv", "s3://data/in/[\\b].csv"}
	if strings.Join(spec.Inputs, " ") != strings.Join(want, " ") {
		t.Errorf("inputs: got %q, want %q", spec.Inputs, want)
	}
	if spec.Output != "s3://out/base/"+id+"/" || spec.Nonce != "trigger:"+id {
		t.Errorf("output %q nonce %q: want the batch's own prefix and the batch as nonce", spec.Output, spec.Nonce)
	}
	again := tmpl.JobSpec(id, []ObjectEvent{objs[1], objs[0]})
	if manifest.JobID(again, "") != manifest.JobID(spec, "") {
		t.Errorf("the same batch gives two job IDs")
	}
	other := tmpl.JobSpec(BatchID(objs[:1]), objs[:1])
	if manifest.JobID(other, "") == manifest.JobID(spec, "") {
		t.Errorf("two batches give one job ID")
	}
	if err := (Template{Spec: manifest.JobSpec{Function: "convert"}}).Validate(); err == nil {
		t.Errorf("a template without an output base validates")
	}
}

func TestFilter(t *testing.T) {
	created := func(bucket, key string) ObjectEvent {
		return ObjectEvent{Name: "ObjectCreated:Put", Bucket: bucket, Key: key, ETag: "e"}
	}
	tests := []struct {
		name   string
		out    string
		inputs []string
		ev     ObjectEvent
		want   string
	}{
		{"plain", "s3://data/out/", nil, created("data", "in/a.csv"), ""},
		{"removed", "s3://data/out/", nil, ObjectEvent{Name: "ObjectRemoved:Delete", Bucket: "data", Key: "in/a.csv"}, ReasonNotCreated},
		{"minio style name kept", "s3://data/out/", nil, ObjectEvent{Name: "ObjectAccessed:Get", Bucket: "data", Key: "in/a.csv"}, ReasonNotCreated},
		{"own output", "s3://data/out/", nil, created("data", "out/20261122T034405Z-0123456789abcdef/region=x/part-0.parquet"), ReasonOwnOutput},
		{"own output without slash", "s3://data/out", nil, created("data", "out/x.csv"), ReasonOwnOutput},
		{"sibling of the output", "s3://data/out", nil, created("data", "outgoing/x.csv"), ""},
		{"output in another bucket", "s3://results/", []string{"s3://data/"}, created("data", "20261122T034405Z-0123456789abcdef/x.csv"), ""},
		{"no inputs: the output's bucket only", "s3://results/out/", nil, created("data", "in/x.csv"), ReasonNotInput},
		{"no inputs: the output's bucket", "s3://results/out/", nil, created("results", "in/x.csv"), ""},
		{"root output: batch dir", "s3://data", nil, created("data", "20261122T034405Z-0123456789abcdef/x.csv"), ReasonOwnOutput},
		{"root output: other dir", "s3://data", nil, created("data", "in/x.csv"), ""},
		{"fanout bookkeeping", "s3://results/", nil, created("data", "in/_fanout/j1/manifest.json"), ReasonBookkeep},
		{"hidden", "s3://results/", nil, created("data", "in/.tmp/x.csv"), ReasonHidden},
		{"success marker", "s3://results/", nil, created("data", "in/_SUCCESS"), ReasonHidden},
		{"directory marker", "s3://results/", nil, created("data", "in/sub/"), ReasonDirectory},
		{"no key", "s3://results/", nil, created("data", ""), ReasonIncomplete},
		{"input prefix", "s3://results/", []string{"s3://data/in/"}, created("data", "in/a.csv"), ""},
		{"outside input prefix", "s3://results/", []string{"s3://data/in/"}, created("data", "other/a.csv"), ReasonNotInput},
		{"other bucket", "s3://results/", []string{"s3://data/in/"}, created("data2", "in/a.csv"), ReasonNotInput},
		{"input glob", "s3://results/", []string{"s3://data/in/*.csv"}, created("data", "in/a.csv"), ""},
		{"input glob miss", "s3://results/", []string{"s3://data/in/*.csv"}, created("data", "in/a.json"), ReasonNotInput},
		{"input glob deeper", "s3://results/", []string{"s3://data/in/*.csv"}, created("data", "in/sub/a.csv"), ReasonNotInput},
		{"second input", "s3://results/", []string{"s3://data/in/", "s3://data/more/"}, created("data", "more/a.csv"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter(tt.out, tt.inputs)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Check(tt.ev); got != tt.want {
				t.Errorf("Check(%q): got %q, want %q", tt.ev.Key, got, tt.want)
			}
		})
	}
	if _, err := NewFilter("s3://results/", []string{"file:///tmp/x/"}); err == nil {
		t.Errorf("a file input was accepted as a bucket event source")
	}
}
