package bucketurl_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
	"github.com/fanout-dev/fanout/objstore/filestore"
	"github.com/fanout-dev/fanout/objstore/miniostore"
	"github.com/fanout-dev/fanout/objstore/s3store"
)

func roundTrip(t *testing.T, b objstore.Bucket, key string) {
	t.Helper()
	ctx := context.Background()
	if _, err := b.Put(ctx, key, strings.NewReader("hello"), nil); err != nil {
		t.Fatal(err)
	}
	rc, _, err := b.Get(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); string(got) != "hello" {
		t.Fatalf("read back %q", got)
	}
}

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	for _, raw := range []string{"file://" + dir + "/", dir, filepath.Join(dir, "sub") + "/"} {
		b, loc, err := bucketurl.Open(context.Background(), raw, bucketurl.Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", raw, err)
		}
		if _, ok := b.(*filestore.Store); !ok || loc.Scheme != "file" || loc.Prefix != "" {
			t.Fatalf("Open(%q) = %T, %+v", raw, b, loc)
		}
		roundTrip(t, b, "x/y.txt")
		b.(objstore.Closer).Close()
	}
}

// TestOpenS3 opens the local MinIO through Options alone: the endpoint
// and region are fields, the credentials come from the default chain.
func TestOpenS3(t *testing.T) {
	bucket, cfg := localstack.Bucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", cfg.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", cfg.SecretKey)
	// The environment's endpoint must not win over Options.Endpoint.
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
	tests := []struct {
		backend string
		want    any
	}{
		{"", &miniostore.Store{}},
		{"minio", &miniostore.Store{}},
		{"aws", &s3store.Store{}},
		{"AWS", &s3store.Store{}},
	}
	for _, tc := range tests {
		b, loc, err := bucketurl.Open(context.Background(), "s3://"+bucket+"/in/",
			bucketurl.Options{S3Backend: tc.backend, Endpoint: cfg.Endpoint, Region: cfg.Region, PartSize: 5 << 20})
		if err != nil {
			t.Fatalf("backend %q: %v", tc.backend, err)
		}
		if got, want := typeName(b), typeName(tc.want); got != want || loc.Bucket != bucket || loc.Prefix != "in/" {
			t.Fatalf("backend %q: got %s %+v, want %s", tc.backend, got, loc, want)
		}
		roundTrip(t, b, loc.Prefix+"k")
	}
	_, _, err := bucketurl.Open(context.Background(), "s3://"+bucket, bucketurl.Options{S3Backend: "gcs", Endpoint: cfg.Endpoint})
	if err == nil || !strings.Contains(err.Error(), "Options.S3Backend") {
		t.Fatalf("Open with an unknown backend: %v, want an error naming Options.S3Backend", err)
	}
	for _, backend := range []string{"minio", "aws"} {
		_, _, err := bucketurl.Open(context.Background(), "s3://no-such-bucket-fanout-test",
			bucketurl.Options{S3Backend: backend, Endpoint: cfg.Endpoint, Region: cfg.Region})
		if !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("Open of a missing bucket with %s: got error %v, want ErrNotFound", backend, err)
		}
		// Said as a person needs it: which bucket, where, what to do; no
		// backend prefix or S3 error text.
		var missing *bucketurl.BucketNotFoundError
		want := `bucket "no-such-bucket-fanout-test" does not exist at ` + cfg.Endpoint + `: create it, or check the bucket name and the S3 endpoint`
		if !errors.As(err, &missing) || err.Error() != want {
			t.Errorf("Open of a missing bucket with %s: got error %q, want a *BucketNotFoundError saying %q", backend, err, want)
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *miniostore.Store:
		return "miniostore"
	case *s3store.Store:
		return "s3store"
	}
	return "other"
}

func TestOpenErrors(t *testing.T) {
	for _, raw := range []string{"", "gs://bucket/x", "s3://", "s3://UPPER", "file://host/dir"} {
		if _, _, err := bucketurl.Open(context.Background(), raw, bucketurl.Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", raw)
		}
	}
}
