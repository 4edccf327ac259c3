package bucketurl_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

func TestMetadataEndpointsAreRefused(t *testing.T) {
	tests := []struct {
		endpoint string
		refused  bool
	}{
		{"http://169.254.169.254", true},
		{"http://169.254.169.254:80/", true},
		{"https://169.254.170.2", true}, // ECS task credentials
		{"http://[fd00:ec2::254]", true},
		{"http://[fe80::1]:9000", true},
		{"http://[::ffff:169.254.169.254]", true},
		{"http://100.100.100.200", true},
		{"http://localhost:9000", false}, // resolves to loopback
		{"http://127.0.0.1:19000", false},
		{"https://s3.eu-west-1.amazonaws.com", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.endpoint, func(t *testing.T) {
			t.Setenv(bucketurl.EnvAllowMetadataEndpoint, "")
			err := bucketurl.CheckEndpoint(context.Background(), tc.endpoint)
			if got := errors.Is(err, bucketurl.ErrMetadataEndpoint); got != tc.refused {
				t.Fatalf("CheckEndpoint(%q) = %v, want refused %v", tc.endpoint, err, tc.refused)
			}
			if tc.refused && !strings.Contains(err.Error(), bucketurl.EnvAllowMetadataEndpoint) {
				t.Errorf("error %q does not say how to allow it", err)
			}
			t.Setenv(bucketurl.EnvAllowMetadataEndpoint, "1")
			if err := bucketurl.CheckEndpoint(context.Background(), tc.endpoint); err != nil {
				t.Errorf("with %s=1: %v", bucketurl.EnvAllowMetadataEndpoint, err)
			}
		})
	}
}

// TestOpenRefusesAMetadataEndpoint goes through Open with the endpoint in
// the environment, as a worker would get it, for both S3 backends.
func TestOpenRefusesAMetadataEndpoint(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://169.254.169.254")
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv(bucketurl.EnvAllowMetadataEndpoint, "")
	for _, backend := range []string{bucketurl.BackendMinIO, bucketurl.BackendAWS} {
		_, _, err := bucketurl.Open(context.Background(), "s3://bucket/prefix/", bucketurl.Options{S3Backend: backend})
		if !errors.Is(err, bucketurl.ErrMetadataEndpoint) {
			t.Errorf("backend %s: got %v, want ErrMetadataEndpoint", backend, err)
		}
	}
}
