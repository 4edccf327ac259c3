package localstack_test

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// policy is the subset of the IAM policy grammar the worker policy may
// use; decoding refuses anything else.
type policy struct {
	Version   string
	Statement []statement
}

type statement struct {
	Sid       string
	Effect    string
	Action    []string
	Resource  []string
	Condition map[string]map[string][]string `json:",omitempty"`
}

// readWorkerPolicy decodes iam-worker-policy.json, after replacing its
// placeholders as r says (nil: as they are).
func readWorkerPolicy(t *testing.T, r *strings.Replacer) policy {
	t.Helper()
	body, err := os.ReadFile("iam-worker-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		body = []byte(r.Replace(string(body)))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p policy
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("iam-worker-policy.json: %v", err)
	}
	return p
}

// TestWorkerPolicyIsLeastPrivilege checks localstack/iam-worker-policy.json,
// the IAM policy for fanout's workers and drivers: it parses, allows only
// the S3 actions fanout makes (listing and reading the input prefix;
// listing, reading, writing and deleting under the output prefix, whose
// staging files, markers and commit record live there), one bucket per
// statement, and each listing limited to its bucket's prefix by a
// StringLike condition that a request without a prefix (a listing of the
// whole bucket) does not meet. cmd/fanout/cli's TestJobUnderTheWorkerPolicy
// runs a job under it on MinIO.
func TestWorkerPolicyIsLeastPrivilege(t *testing.T) {
	p := readWorkerPolicy(t, nil)
	if p.Version != "2012-10-17" {
		t.Errorf("Version %q, want 2012-10-17", p.Version)
	}
	// What each resource may be done with, and nothing more.
	want := map[string][]string{
		"arn:aws:s3:::INPUT_BUCKET":                  {"s3:ListBucket"},
		"arn:aws:s3:::OUTPUT_BUCKET":                 {"s3:ListBucket"},
		"arn:aws:s3:::INPUT_BUCKET/INPUT_PREFIX/*":   {"s3:GetObject"},
		"arn:aws:s3:::OUTPUT_BUCKET/OUTPUT_PREFIX/*": {"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"},
	}
	// The only condition: a listing's prefix, the bucket's own.
	wantCondition := map[string]map[string]map[string][]string{
		"arn:aws:s3:::INPUT_BUCKET":  {"StringLike": {"s3:prefix": {"INPUT_PREFIX/*"}}},
		"arn:aws:s3:::OUTPUT_BUCKET": {"StringLike": {"s3:prefix": {"OUTPUT_PREFIX/*"}}},
	}
	got := map[string][]string{}
	for _, s := range p.Statement {
		if s.Effect != "Allow" || s.Sid == "" {
			t.Errorf("statement %q: effect %q; want Allow statements with a Sid that says why", s.Sid, s.Effect)
		}
		for _, a := range s.Action {
			if strings.Contains(a, "*") || !strings.HasPrefix(a, "s3:") {
				t.Errorf("statement %s: action %q: want named S3 actions only", s.Sid, a)
			}
		}
		if len(s.Resource) != 1 {
			t.Errorf("statement %s: resources %v, want one (one bucket or prefix per statement)", s.Sid, s.Resource)
			continue
		}
		r := s.Resource[0]
		got[r] = append(got[r], s.Action...)
		wantCond := wantCondition[r]
		if !equalConditions(s.Condition, wantCond) {
			t.Errorf("statement %s: condition %v, want %v", s.Sid, s.Condition, wantCond)
		}
	}
	for r := range got {
		slices.Sort(got[r])
		got[r] = slices.Compact(got[r])
	}
	for r, actions := range want {
		if !slices.Equal(got[r], actions) {
			t.Errorf("resource %s: actions %v, want %v", r, got[r], actions)
		}
	}
	for r := range got {
		if _, ok := want[r]; !ok {
			t.Errorf("resource %s is not one fanout needs", r)
		}
	}
}

func equalConditions(a, b map[string]map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for op, keys := range a {
		if len(keys) != len(b[op]) {
			return false
		}
		for k, v := range keys {
			if !slices.Equal(v, b[op][k]) {
				return false
			}
		}
	}
	return true
}

// TestSAMTemplateGrantsTheWorkerPolicy checks that every function of
// template.yaml gets, in S3, exactly iam-worker-policy.json rendered for
// the stack (both buckets the stack's DataBucketName, the prefixes its
// InputPrefix and OutputPrefix, which end in "/"): same statements, Sids,
// actions, resources and conditions.
func TestSAMTemplateGrantsTheWorkerPolicy(t *testing.T) {
	want := readWorkerPolicy(t, strings.NewReplacer("INPUT_BUCKET", "${DataBucketName}", "OUTPUT_BUCKET", "${DataBucketName}",
		"INPUT_PREFIX/", "${InputPrefix}", "OUTPUT_PREFIX/", "${OutputPrefix}")).Statement
	normalize(want)
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				Policies []struct {
					Statement []yaml.Node `yaml:"Statement"`
				} `yaml:"Policies"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	functions := 0
	for id, r := range doc.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		functions++
		var got []statement
		for _, pol := range r.Properties.Policies {
			for _, n := range pol.Statement {
				s := yamlStatement(t, &n)
				if slices.ContainsFunc(s.Action, func(a string) bool { return strings.HasPrefix(a, "s3:") }) {
					got = append(got, s)
				}
			}
		}
		normalize(got)
		if !slices.EqualFunc(got, want, equalStatements) {
			t.Errorf("%s's S3 statements:\n%+v\nwant iam-worker-policy.json's:\n%+v", id, got, want)
		}
	}
	if functions < 2 {
		t.Errorf("%d functions in template.yaml, want the trigger and the worker", functions)
	}
}

// yamlStatement reads a statement of the template: CloudFormation's !Sub
// strings are taken as written; a scalar stands for a list of one.
func yamlStatement(t *testing.T, n *yaml.Node) statement {
	t.Helper()
	var s statement
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		switch k {
		case "Sid":
			s.Sid = v.Value
		case "Effect":
			s.Effect = v.Value
		case "Action":
			s.Action = yamlStrings(v)
		case "Resource":
			s.Resource = yamlStrings(v)
		case "Condition":
			s.Condition = map[string]map[string][]string{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				op, keys := v.Content[j].Value, v.Content[j+1]
				s.Condition[op] = map[string][]string{}
				for l := 0; l+1 < len(keys.Content); l += 2 {
					s.Condition[op][keys.Content[l].Value] = yamlStrings(keys.Content[l+1])
				}
			}
		default:
			t.Errorf("statement %s: field %s, which the worker policy does not use", s.Sid, k)
		}
	}
	return s
}

func yamlStrings(n *yaml.Node) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, yamlStrings(c)...)
	}
	return out
}

// normalize sorts statements by Sid and each statement's lists.
func normalize(ss []statement) {
	for _, s := range ss {
		slices.Sort(s.Action)
		slices.Sort(s.Resource)
		for _, keys := range s.Condition {
			for _, v := range keys {
				slices.Sort(v)
			}
		}
	}
	slices.SortFunc(ss, func(a, b statement) int { return strings.Compare(a.Sid, b.Sid) })
}

func equalStatements(a, b statement) bool {
	return a.Sid == b.Sid && a.Effect == b.Effect && slices.Equal(a.Action, b.Action) && slices.Equal(a.Resource, b.Resource) &&
		equalConditions(a.Condition, b.Condition)
}
