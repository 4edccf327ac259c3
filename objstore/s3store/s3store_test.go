package s3store_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/objstoretest"
	"github.com/fanout-dev/fanout/objstore/s3store"
)

func open(s localstack.S3Config, bucket string, o objstoretest.S3Options) (objstore.Bucket, error) {
	cfg := s3store.Config{Endpoint: s.Endpoint, Bucket: bucket, Region: s.Region, AccessKey: s.AccessKey, SecretKey: s.SecretKey,
		CheckPrefix: o.CheckPrefix}
	if o.Transport != nil {
		cfg.HTTPClient = &http.Client{Transport: o.Transport}
	}
	if o.SmallCopies {
		return s3store.NewWithCopyLimits(context.Background(), cfg, 5<<20, 5<<20)
	}
	return s3store.New(context.Background(), cfg)
}

func TestBackend(t *testing.T) { objstoretest.RunS3Backend(t, open) }

func BenchmarkStore(b *testing.B) {
	objstoretest.RunBenchmarks(b, func(tb testing.TB) objstore.Bucket { return objstoretest.OpenS3(tb, open, objstoretest.S3Options{}) })
}
