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
			t.Parallel()
			err := bucketurl.CheckEndpoint(context.Background(), tc.endpoint)
			if got := errors.Is(err, bucketurl.ErrMetadataEndpoint); got != tc.refused {
				t.Fatalf("CheckEndpoint(%q) = %v, want refused %v", tc.endpoint, err, tc.refused)
			}
			if tc.refused && !strings.Contains(err.Error(), "AllowMetadataEndpoint") {
				t.Errorf("error %q does not say how to allow it", err)
			}
		})
	}
}

// TestOpenRefusesAMetadataEndpoint goes through Open with a metadata
// endpoint, as a worker would get it from its environment, for both S3
// backends, and with AllowMetadataEndpoint, which lets Open try it.
func TestOpenRefusesAMetadataEndpoint(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	for _, backend := range []string{bucketurl.BackendMinIO, bucketurl.BackendAWS} {
		opts := bucketurl.Options{S3Backend: backend, Endpoint: "http://169.254.169.254"}
		_, _, err := bucketurl.Open(context.Background(), "s3://bucket/prefix/", opts)
		if !errors.Is(err, bucketurl.ErrMetadataEndpoint) {
			t.Errorf("backend %s: got %v, want ErrMetadataEndpoint", backend, err)
		}
		// Allowed, Open goes on to the store, which finds the context
		// cancelled before it sends anything.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		opts.AllowMetadataEndpoint = true
		if _, _, err := bucketurl.Open(ctx, "s3://bucket/prefix/", opts); err == nil || errors.Is(err, bucketurl.ErrMetadataEndpoint) {
			t.Errorf("backend %s with AllowMetadataEndpoint: got %v, want the store's error", backend, err)
		}
	}
}
