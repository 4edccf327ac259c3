package objstoretest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
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
	t.Run("DeleteMany", func(t *testing.T) {
		ft := NewFaultTransport()
		CheckDeleteMany(t, OpenS3(t, open, S3Options{Transport: ft}), ft)
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

// CheckDeleteMany checks an S3 backend's batched deletes, counting its
// requests with ft (b's transport): 2,500 keys go in 3 DeleteObjects
// requests and all of them go; a throttled batch is sent again; a key the
// server refuses (MinIO's invalid names) is reported with its error and
// does not keep the others.
func CheckDeleteMany(t *testing.T, b objstore.Bucket, ft *FaultTransport) {
	if _, ok := b.(objstore.BatchDeleter); !ok {
		t.Fatalf("%T is not an objstore.BatchDeleter", b)
	}
	ctx := ctxFor(t)
	keys := make([]string, 2500)
	for i := range keys {
		keys[i] = fmt.Sprintf("many/%02x/%05d", i%256, i)
	}
	putAll(t, b, keys)
	ft.Add()
	if err := objstore.DeleteKeys(ctx, b, keys); err != nil {
		t.Fatalf("DeleteKeys of 2,500 keys: %v", err)
	}
	if seen := ft.Seen(); len(seen) != 3 || slices.ContainsFunc(seen, func(s string) bool { return s != "POST deletes" }) {
		t.Fatalf("DeleteKeys of 2,500 keys sent %d requests %q, want 3 POST deletes", len(seen), seen)
	}
	equalKeys(t, "List after DeleteKeys", listKeys(t, b, "many/", nil), nil)

	putAll(t, b, keys[:1200])
	ft.Add(Fault{Match: IsKind("POST deletes", ""), Kind: Throttle, Times: 1})
	if err := objstore.DeleteKeys(ctx, b, keys[:1200]); err != nil {
		t.Fatalf("DeleteKeys with a throttled batch: %v", err)
	}
	if seen := ft.Seen(); len(seen) != 3 || ft.Hits(0) != 1 {
		t.Fatalf("DeleteKeys with a throttled batch sent %q (fault hit %d), want 3 POST deletes", seen, ft.Hits(0))
	}
	equalKeys(t, "List after the throttled DeleteKeys", listKeys(t, b, "many/", nil), nil)

	putAll(t, b, []string{"few/a", "few/b"})
	refused := "few//c" // an empty segment: MinIO refuses the name
	err := objstore.DeleteKeys(ctx, b, []string{"few/a", refused, "few/b"})
	var de *objstore.DeleteError
	if !errors.As(err, &de) || len(de.Failed) != 1 || de.Failed[0].Key != refused {
		t.Fatalf("DeleteKeys with a name the server refuses: got %v, want a *DeleteError naming only %q", err, refused)
	}
	equalKeys(t, "List after DeleteKeys with a refused name", listKeys(t, b, "few/", nil), nil)
}
