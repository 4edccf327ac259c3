package objstoretest

import (
	"errors"
	"net/http"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore"
)

// S3Options are the settings RunS3Backend opens an S3 backend with.
type S3Options struct {
	// Transport, when not nil, carries the backend's HTTP requests.
	Transport http.RoundTripper
	// SmallCopies lowers the size above which Copy goes part by part to
	// 5 MiB, in parts of 5 MiB, so that the multipart copy runs without
	// 5 GiB objects.
	SmallCopies bool
	// CheckPrefix is the backend Config's CheckPrefix.
	CheckPrefix string
}

// S3Open opens an S3 backend on bucket of the local MinIO s.
type S3Open func(s localstack.S3Config, bucket string, o S3Options) (objstore.Bucket, error)

// OpenS3 opens a backend with open on a fresh bucket of the local MinIO
// (removed when the test ends).
func OpenS3(tb testing.TB, open S3Open, o S3Options) objstore.Bucket {
	tb.Helper()
	bucket, s := localstack.Bucket(tb)
	b, err := open(s, bucket, o)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// RunS3Backend runs what every S3 backend must pass against the local
// MinIO: the conformance suite, the HTTP fault suite, the multipart copy,
// and New's check of the bucket.
func RunS3Backend(t *testing.T, open S3Open) {
	t.Run("Conformance", func(t *testing.T) {
		RunConformance(t, func(t *testing.T) objstore.Bucket { return OpenS3(t, open, S3Options{}) }, MinIOKeys())
	})
	t.Run("HTTPFaults", func(t *testing.T) {
		RunHTTPFaults(t, func(t *testing.T, rt http.RoundTripper) objstore.Bucket {
			return OpenS3(t, open, S3Options{Transport: rt})
		})
	})
	t.Run("MultipartCopy", func(t *testing.T) {
		CheckMultipartCopy(t, OpenS3(t, open, S3Options{SmallCopies: true}), 12<<20)
	})
	// New checks an existing and a missing bucket with HeadBucket and, as
	// bucketurl.Open does for a URL with a prefix, by listing under the
	// prefix: the missing one is objstore.ErrNotFound.
	t.Run("NewChecksTheBucket", func(t *testing.T) {
		bucket, s := localstack.Bucket(t)
		for _, prefix := range []string{"", "in/"} {
			for _, name := range []string{bucket, localstack.UniqueName(t)} {
				_, err := open(s, name, S3Options{CheckPrefix: prefix})
				switch {
				case name == bucket && err != nil:
					t.Errorf("CheckPrefix %q: existing bucket: %v", prefix, err)
				case name != bucket && !errors.Is(err, objstore.ErrNotFound):
					t.Errorf("CheckPrefix %q: missing bucket: got %v, want objstore.ErrNotFound", prefix, err)
				}
			}
		}
	})
}
