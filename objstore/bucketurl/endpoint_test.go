package bucketurl_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
	"github.com/fanout-dev/fanout/objstore/miniostore"
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

// TestDialGuardRefusesMetadataAddresses reproduces finding 8 of issue 21:
// endpoints the up-front check cannot see reach the metadata address
// only to be refused when dialled. The aws backend takes an endpoint_url
// from the shared AWS config file (Options.Endpoint is empty, so the
// check passes); miniostore is given DialControl with an endpoint the
// check never saw, as after a DNS answer that changed. Both fail at once
// with ErrMetadataEndpoint (no retries), and AllowMetadataEndpoint turns
// the guard off.
func TestDialGuardRefusesMetadataAddresses(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[default]\nendpoint_url = http://169.254.169.254:9\nregion = us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err := bucketurl.Open(ctx, "s3://bucket/prefix/", bucketurl.Options{S3Backend: bucketurl.BackendAWS})
	if !errors.Is(err, bucketurl.ErrMetadataEndpoint) {
		t.Errorf("aws backend with endpoint_url in the shared config: got %v, want ErrMetadataEndpoint", err)
	}
	_, err = miniostore.New(ctx, miniostore.Config{Endpoint: "http://169.254.169.254:9", Bucket: "bucket", AccessKey: "k", SecretKey: "s",
		DialControl: objstore.RefuseMetadataDial})
	if !errors.Is(err, bucketurl.ErrMetadataEndpoint) {
		t.Errorf("miniostore with DialControl: got %v, want ErrMetadataEndpoint", err)
	}
	// Allowed, the aws backend dials the address (and fails otherwise:
	// nothing listens there, or the context ends first).
	short, cancelShort := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancelShort()
	_, _, err = bucketurl.Open(short, "s3://bucket/prefix/", bucketurl.Options{S3Backend: bucketurl.BackendAWS, AllowMetadataEndpoint: true})
	if err == nil || errors.Is(err, bucketurl.ErrMetadataEndpoint) {
		t.Errorf("aws backend with AllowMetadataEndpoint: got %v, want an error that is not the guard's", err)
	}
}
