package manifest_test

import (
	"testing"

	"github.com/fanout-dev/fanout/manifest"
)

// TestSignVerify signs a manifest, sends it through Encode and
// DecodeManifest, and checks that only the same key and an unchanged
// manifest verify.
func TestSignVerify(t *testing.T) {
	key := []byte("spec-key-for-tests")
	m := &manifest.Manifest{Version: manifest.Version, Job: "j0123456789abcdef0123", Chunks: 1, Shards: 1, ShardSize: manifest.DefaultShardSize,
		Spec: manifest.JobSpec{Inputs: []string{"s3://in/p/"}, Function: "exec", Args: map[string]string{"cmd": "tr a-z A-Z"},
			Output: "s3://out/base/job/", OutputFormat: "jsonl", Lease: manifest.Duration(6e10), BackupAfter: 4.5}.WithDefaults(),
		Schema: "line:string", Format: "lines"}
	m.Signature = manifest.Sign(key, m)
	body, err := manifest.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := manifest.DecodeManifest(body)
	if err != nil {
		t.Fatal(err)
	}
	if !manifest.Verify(key, decoded) {
		t.Fatalf("the decoded manifest does not verify:\n%s", body)
	}
	tests := []struct {
		name   string
		key    []byte
		change func(*manifest.Manifest)
	}{
		{"other key", []byte("other-key"), func(*manifest.Manifest) {}},
		{"command", key, func(m *manifest.Manifest) { m.Spec.Args["cmd"] = "sh -c 'id > PWNED'" }},
		{"function", key, func(m *manifest.Manifest) { m.Spec.Function = "grep" }},
		{"output", key, func(m *manifest.Manifest) { m.Spec.Output = "s3://other/" }},
		{"job", key, func(m *manifest.Manifest) { m.Job = "jfedcba9876543210fedc" }},
		{"schema", key, func(m *manifest.Manifest) { m.Schema = "a:int64" }},
		{"no signature", key, func(m *manifest.Manifest) { m.Signature = "" }},
		{"not hex", key, func(m *manifest.Manifest) { m.Signature = "zz" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := manifest.DecodeManifest(body)
			tt.change(c)
			if manifest.Verify(tt.key, c) {
				t.Errorf("got a valid signature, want none")
			}
		})
	}
}
