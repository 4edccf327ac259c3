package miniostore_test

import (
	"context"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/miniostore"
	"github.com/fanout-dev/fanout/objstore/objstoretest"
)

func open(s localstack.S3Config, bucket string, o objstoretest.S3Options) (objstore.Bucket, error) {
	cfg := miniostore.Config{Endpoint: s.Endpoint, Bucket: bucket, Region: s.Region, AccessKey: s.AccessKey, SecretKey: s.SecretKey,
		Transport: o.Transport, CheckPrefix: o.CheckPrefix}
	if o.SmallCopies {
		return miniostore.NewWithCopyLimits(context.Background(), cfg, 5<<20, 5<<20)
	}
	return miniostore.New(context.Background(), cfg)
}

func TestBackend(t *testing.T) { objstoretest.RunS3Backend(t, open) }

func BenchmarkStore(b *testing.B) {
	objstoretest.RunBenchmarks(b, func(tb testing.TB) objstore.Bucket { return objstoretest.OpenS3(tb, open, objstoretest.S3Options{}) })
}
