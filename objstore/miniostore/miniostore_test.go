package miniostore_test

import (
	"context"
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
