// Package bucketurl opens the objstore.Bucket that a storage URL names:
// s3://bucket/prefix/ through an S3 backend, file:///dir/ or a plain path
// through filestore. It is the one place that knows every backend, so that
// the engine and the CLI stay free of them.
//
// # Which S3 backend
//
// Two backends speak S3: miniostore (minio-go) and s3store (aws-sdk-go-v2).
// Both pass the same conformance suite against MinIO, including multipart
// create-only races and lost-response retries. The default is miniostore.
// Measured on the project's 2-core machine against MinIO on loopback
// (objstoretest.RunBenchmarks, medians of 3 alternating runs, 2026-11-22),
// speed is a wash, within the machine's noise:
//
//	                      miniostore     s3store
//	PUT 1 KiB             3.05 ms        3.69 ms
//	PUT 1 KiB create-only 3.76 ms        3.74 ms
//	GET 1 KiB             0.68 ms        0.90 ms
//	PUT 64 MiB streamed   208 MB/s       225 MB/s
//	GET 64 MiB            1,442 MB/s     1,442 MB/s
//	LIST (2,000 keys)     24,700 keys/s  28,200 keys/s
//	peak heap, 200 MiB up ~96 MiB        ~97 MiB
//
// so the choice rests on cost: a program that links miniostore is 7.8 MB
// stripped against 10.2 MB for s3store (64 packages against 133), which
// counts for the Lambda bootstrap's size and cold start, and a small GET
// allocates 14 KB in 192 allocations against 34 KB in 516. minio-go is
// also what MinIO's own tools use, and the local stack is MinIO.
//
// Choose "aws" (Options.S3Backend; the commands' FANOUT_S3_BACKEND=aws) when
// credentials come from sources only the AWS SDK resolves: IAM Identity
// Center (SSO) profiles, web identity tokens (EKS pod identity, GitHub
// OIDC), credential_process, or role chaining in ~/.aws/config. minio-go's
// chain covers environment variables, the shared credentials file and
// EC2/ECS roles.
//
// Every setting comes in Options: this package reads no environment
// variable (fanout's commands read AWS_ENDPOINT_URL_S3, AWS_REGION,
// FANOUT_SSE and the others into Options, see the README). Credentials
// come from the backends' default chains (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, the shared credentials file, the instance or task
// role). An endpoint at a link-local or cloud metadata address is refused
// (CheckEndpoint) unless Options.AllowMetadataEndpoint is set.
package bucketurl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/filestore"
	"github.com/fanout-dev/fanout/objstore/internal/s3compat"
	"github.com/fanout-dev/fanout/objstore/miniostore"
	"github.com/fanout-dev/fanout/objstore/s3store"
)

// The S3 backends Options.S3Backend names.
const (
	// BackendMinIO is miniostore (minio-go), the default.
	BackendMinIO = "minio"
	// BackendAWS is s3store (aws-sdk-go-v2).
	BackendAWS = "aws"
)

// Options are settings for Open.
type Options struct {
	// S3Backend picks the S3 backend: BackendMinIO or BackendAWS (case
	// does not matter). Empty means BackendMinIO.
	S3Backend string
	// Endpoint is the URL of the S3 service (http(s)://host[:port]), with
	// path-style addressing, as MinIO wants. Empty means AWS S3 (see
	// miniostore.Config.Endpoint and s3store.Config.Endpoint).
	Endpoint string
	// Region is the bucket's region; empty means the backend's default
	// (us-east-1 with an Endpoint; on AWS, the bucket's own region, or
	// the AWS SDK's configuration with s3store).
	Region string
	// AllowMetadataEndpoint lets Open use an Endpoint at a link-local or
	// cloud metadata address, which it refuses otherwise (CheckEndpoint).
	AllowMetadataEndpoint bool
	// PartSize is the multipart part size of the S3 backends; zero means
	// their default (16 MiB).
	PartSize int64
	// Concurrency is the number of parts an S3 upload sends at once; zero
	// means the backend's default (4).
	Concurrency int
	// Encryption is the server-side encryption S3 backends ask for on
	// every write. The zero value leaves it to the bucket's default
	// encryption. Every process that writes a job's
	// output (drivers, which commit, and workers) needs the same setting;
	// default encryption on the bucket needs none.
	Encryption objstore.Encryption
}

// Open parses raw (see objstore.ParseURL) and opens its store. The key
// prefix is not applied: it is returned in the Location for the caller to
// use in List and in the keys it builds. The file store and others may
// hold resources: release them by calling Close when the Bucket implements
// objstore.Closer.
func Open(ctx context.Context, raw string, opts Options) (objstore.Bucket, objstore.Location, error) {
	loc, err := objstore.ParseURL(raw)
	if err != nil {
		return nil, objstore.Location{}, err
	}
	switch loc.Scheme {
	case "file":
		s, err := filestore.New(loc.Root)
		if err != nil {
			return nil, objstore.Location{}, err
		}
		return s, loc, nil
	case "s3":
		// The endpoint is checked up front for a clear error, and every
		// connection at dial time (DialControl) for what that check
		// cannot see: a name that resolves elsewhere later, an endpoint
		// from the SDK's own configuration.
		var guard func(network, address string, c syscall.RawConn) error
		if !opts.AllowMetadataEndpoint {
			if err := CheckEndpoint(ctx, opts.Endpoint); err != nil {
				return nil, objstore.Location{}, err
			}
			guard = objstore.RefuseMetadataDial
		}
		switch strings.ToLower(opts.S3Backend) {
		case "", BackendMinIO:
			s, err := miniostore.New(ctx, miniostore.Config{Endpoint: opts.Endpoint, Region: opts.Region, Bucket: loc.Bucket,
				PartSize: opts.PartSize, Concurrency: opts.Concurrency, Encryption: opts.Encryption, CheckPrefix: loc.Prefix,
				DialControl: guard})
			if err != nil {
				return nil, objstore.Location{}, bucketError(loc.Bucket, opts.Endpoint, err)
			}
			return s, loc, nil
		case BackendAWS:
			s, err := s3store.New(ctx, s3store.Config{Endpoint: opts.Endpoint, Region: opts.Region, Bucket: loc.Bucket,
				PartSize: opts.PartSize, Concurrency: opts.Concurrency, Encryption: opts.Encryption, CheckPrefix: loc.Prefix,
				DialControl: guard})
			if err != nil {
				return nil, objstore.Location{}, bucketError(loc.Bucket, opts.Endpoint, err)
			}
			return s, loc, nil
		default:
			return nil, objstore.Location{}, fmt.Errorf("bucketurl: Options.S3Backend: unknown S3 backend %q: want %q or %q",
				opts.S3Backend, BackendMinIO, BackendAWS)
		}
	}
	return nil, objstore.Location{}, fmt.Errorf("bucketurl: %q: unsupported scheme %q", raw, loc.Scheme)
}

// BucketNotFoundError reports that the bucket of an s3:// URL does not
// exist at the endpoint. It wraps the backend's error, which wraps
// objstore.ErrNotFound; its message is only what a person needs.
type BucketNotFoundError struct {
	Bucket   string
	Endpoint string // empty: AWS S3
	Err      error
}

func (e *BucketNotFoundError) Error() string {
	at := e.Endpoint
	if at == "" {
		at = "AWS S3"
	}
	return fmt.Sprintf("bucket %q does not exist at %s: create it, or check the bucket name and the S3 endpoint", e.Bucket, at)
}

func (e *BucketNotFoundError) Unwrap() error { return e.Err }

// AccessDeniedError reports that S3 refused the credentials a bucket was
// opened with (a wrong or unknown key, an expired token, a policy that
// does not allow listing the prefix). It wraps the backend's error, which
// wraps objstore.ErrAccessDenied; its message is only what a person needs.
type AccessDeniedError struct {
	Bucket   string
	Endpoint string // empty: AWS S3
	// Reason is S3's error code and message.
	Reason string
	Err    error
}

func (e *AccessDeniedError) Error() string {
	return fmt.Sprintf("%s refused access to bucket %q (%s): check the credentials and that they may use the bucket",
		where(e.Endpoint), e.Bucket, e.Reason)
}

func (e *AccessDeniedError) Unwrap() error { return e.Err }

// UnreachableError reports that the S3 endpoint could not be reached (no
// server listening, a name that does not resolve) past the backend's
// retries. It wraps the backend's error.
type UnreachableError struct {
	Endpoint string // empty: AWS S3
	// Cause is the network's error (dial tcp ...: connection refused).
	Cause error
	Err   error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s (%v): start it, or check the S3 endpoint", where(e.Endpoint), e.Cause)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// where names an endpoint in messages.
func where(endpoint string) string {
	if endpoint == "" {
		return "AWS S3"
	}
	return "S3 at " + endpoint
}

// bucketError turns a backend's refusal of a missing bucket into a
// *BucketNotFoundError, of its credentials into an *AccessDeniedError and
// an endpoint it cannot reach into an *UnreachableError; other errors pass
// unchanged.
func bucketError(bucket, endpoint string, err error) error {
	var denied *s3compat.DeniedError
	var op *net.OpError
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		return &BucketNotFoundError{Bucket: bucket, Endpoint: endpoint, Err: err}
	case errors.As(err, &denied):
		return &AccessDeniedError{Bucket: bucket, Endpoint: endpoint, Reason: denied.Error(), Err: err}
	case errors.As(err, &op) && op.Op == "dial":
		return &UnreachableError{Endpoint: endpoint, Cause: op, Err: err}
	}
	return err
}
