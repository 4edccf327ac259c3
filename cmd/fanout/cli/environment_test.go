package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// TestBucketOptionsFromEnvironmentAndFlags checks what reaches the stores
// from the environment and the global flags: --s3-backend and --sse win
// over $FANOUT_S3_BACKEND and $FANOUT_SSE (a bad $FANOUT_SSE is then not
// even read), the AWS variables fill the endpoint and region.
func TestBucketOptionsFromEnvironmentAndFlags(t *testing.T) {
	kms := objstore.Encryption{Mode: objstore.EncryptionKMS, KMSKeyID: "k"}
	tests := []struct {
		name    string
		env     map[string]string
		flags   globalFlags
		want    bucketurl.Options
		wantErr string
	}{
		{"nothing", nil, globalFlags{}, bucketurl.Options{}, ""},
		{"environment", map[string]string{"FANOUT_SSE": "kms:k", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
			"AWS_DEFAULT_REGION": "eu-west-1", "FANOUT_ALLOW_METADATA_ENDPOINT": "1"}, globalFlags{s3Backend: "aws"},
			bucketurl.Options{S3Backend: "aws", Endpoint: "http://127.0.0.1:9000", Region: "eu-west-1", Encryption: kms, AllowMetadataEndpoint: true}, ""},
		{"--sse none wins", map[string]string{"FANOUT_SSE": "kms:k"}, globalFlags{sse: "none"}, bucketurl.Options{}, ""},
		{"--sse wins over a bad variable", map[string]string{"FANOUT_SSE": "rot13"}, globalFlags{sse: "kms:k"},
			bucketurl.Options{Encryption: kms}, ""},
		{"bad variable", map[string]string{"FANOUT_SSE": "rot13"}, globalFlags{}, bucketurl.Options{}, "FANOUT_SSE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"FANOUT_SSE", "FANOUT_S3_BACKEND", "FANOUT_ALLOW_METADATA_ENDPOINT",
				"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"} {
				t.Setenv(name, tc.env[name])
			}
			got, err := tc.flags.bucketOptions()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("bucketOptions: %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("bucketOptions = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestMetadataEndpointRefusedByTheCLI runs the binary with its S3 endpoint
// at the instance metadata address: the run is refused before any request.
func TestMetadataEndpointRefusedByTheCLI(t *testing.T) {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AWS_ENDPOINT_URL_S3=http://169.254.169.254",
		"AWS_ACCESS_KEY_ID=k", "AWS_SECRET_ACCESS_KEY=s"}
	out := filepath.Join(t.TempDir(), "out")
	_, stderr, err := localstack.Run(context.Background(), env, fanoutBinary(t),
		"run", "--in", "s3://bucket/in/", "--fn", "grep", "--arg", "pattern=x", "--out", out, "--quiet")
	if err == nil || !strings.Contains(stderr, "metadata") || !strings.Contains(stderr, "FANOUT_ALLOW_METADATA_ENDPOINT") {
		t.Fatalf("run against a metadata endpoint: %v\n%s\nwant a refusal naming FANOUT_ALLOW_METADATA_ENDPOINT", err, stderr)
	}
}
