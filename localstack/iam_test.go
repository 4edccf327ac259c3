package localstack_test

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
)

// policy is the subset of the IAM policy grammar the worker policy may
// use; decoding refuses anything else.
type policy struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Action    []string
		Resource  []string
		Condition map[string]map[string][]string `json:",omitempty"`
	}
}

// TestWorkerPolicyIsLeastPrivilege checks localstack/iam-worker-policy.json,
// the IAM policy for fanout's workers and drivers: it parses, allows only
// the S3 actions fanout makes (reading the input prefix; reading, writing
// and deleting under the output prefix, whose staging files, markers and
// commit record live there; listing only those prefixes), and nothing on
// any other resource.
func TestWorkerPolicyIsLeastPrivilege(t *testing.T) {
	body, err := os.ReadFile("iam-worker-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p policy
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("iam-worker-policy.json: %v", err)
	}
	if p.Version != "2012-10-17" {
		t.Errorf("Version %q, want 2012-10-17", p.Version)
	}
	// What each resource may be done with, and nothing more.
	want := map[string][]string{
		"arn:aws:s3:::INPUT_BUCKET":                  {"s3:GetBucketLocation", "s3:ListBucket"},
		"arn:aws:s3:::OUTPUT_BUCKET":                 {"s3:GetBucketLocation", "s3:ListBucket"},
		"arn:aws:s3:::INPUT_BUCKET/INPUT_PREFIX/*":   {"s3:GetObject"},
		"arn:aws:s3:::OUTPUT_BUCKET/OUTPUT_PREFIX/*": {"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"},
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
		for _, r := range s.Resource {
			got[r] = append(got[r], s.Action...)
		}
		if slices.Contains(s.Action, "s3:ListBucket") {
			prefixes := s.Condition["StringLikeIfExists"]["s3:prefix"]
			if !slices.Equal(prefixes, []string{"INPUT_PREFIX/*", "OUTPUT_PREFIX/*"}) {
				t.Errorf("statement %s lists %v, want listing limited to the input and output prefixes", s.Sid, prefixes)
			}
		}
	}
	for r := range got {
		sort.Strings(got[r])
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
