package miniostore_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/miniostore"
	"github.com/fanout-dev/fanout/objstore/objstoretest"
)

func newStore(tb testing.TB) objstore.Bucket {
	tb.Helper()
	return newStoreWith(tb, miniostore.New)
}

func newStoreWith(tb testing.TB, newFn func(context.Context, miniostore.Config) (*miniostore.Store, error)) objstore.Bucket {
	tb.Helper()
	bucket, cfg := localstack.Bucket(tb)
	s, err := newFn(context.Background(), miniostore.Config{
		Endpoint:  cfg.Endpoint,
		Bucket:    bucket,
		Region:    cfg.Region,
		AccessKey: cfg.AccessKey,
		SecretKey: cfg.SecretKey,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	objstoretest.RunConformance(t, func(t *testing.T) objstore.Bucket { return newStore(t) }, objstoretest.MinIOKeys())
}

func BenchmarkStore(b *testing.B) { objstoretest.RunBenchmarks(b, newStore) }

func TestHTTPFaults(t *testing.T) {
	objstoretest.RunHTTPFaults(t, func(t *testing.T, rt http.RoundTripper) objstore.Bucket {
		bucket, cfg := localstack.Bucket(t)
		s, err := miniostore.New(context.Background(), miniostore.Config{
			Endpoint: cfg.Endpoint, Bucket: bucket, Region: cfg.Region,
			AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Transport: rt,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMultipartCopy(t *testing.T) {
	store := newStoreWith(t, func(ctx context.Context, cfg miniostore.Config) (*miniostore.Store, error) {
		return miniostore.NewWithCopyLimits(ctx, cfg, 5<<20, 5<<20)
	})
	objstoretest.CheckMultipartCopy(t, store, 12<<20)
}

// TestNewChecksTheBucket opens an existing and a missing bucket, checked
// with HeadBucket and, as bucketurl.Open does for a URL with a prefix, by
// listing under the prefix: the missing one is objstore.ErrNotFound.
func TestNewChecksTheBucket(t *testing.T) {
	bucket, cfg := localstack.Bucket(t)
	for _, prefix := range []string{"", "in/"} {
		for _, name := range []string{bucket, localstack.UniqueName(t)} {
			_, err := miniostore.New(context.Background(), miniostore.Config{Endpoint: cfg.Endpoint, Bucket: name, Region: cfg.Region,
				AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, CheckPrefix: prefix})
			switch {
			case name == bucket && err != nil:
				t.Errorf("CheckPrefix %q: existing bucket: %v", prefix, err)
			case name != bucket && !errors.Is(err, objstore.ErrNotFound):
				t.Errorf("CheckPrefix %q: missing bucket: got %v, want objstore.ErrNotFound", prefix, err)
			}
		}
	}
}
