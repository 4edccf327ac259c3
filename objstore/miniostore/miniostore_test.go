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
	bucket, cfg := localstack.Bucket(tb)
	s, err := miniostore.New(context.Background(), miniostore.Config{
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
	defer miniostore.SetCopyLimits(5<<20, 5<<20)()
	objstoretest.CheckMultipartCopy(t, newStore(t), 12<<20)
}
