// Package s3store is the objstore backend for AWS S3 (and S3-compatible
// stores) built on aws-sdk-go-v2. Use it rather than miniostore when the
// credentials come from sources only the AWS SDK knows: IAM Identity Center
// (SSO) profiles, web identity tokens (EKS), credential_process, or role
// chaining in ~/.aws/config.
//
// # Configuration
//
// Credentials and region come from config.LoadDefaultConfig (environment,
// shared files, SSO, web identity, ECS/EC2 roles) unless given in Config.
// A custom endpoint (Config.Endpoint, else AWS_ENDPOINT_URL_S3, else
// AWS_ENDPOINT_URL) is used with path-style addressing, as MinIO expects.
//
// # Uploads
//
// A Put buffers at most one part (Config.PartSize, 16 MiB by default): a
// body that fits goes up in one PutObject, a larger one through the SDK's
// transfer manager with Config.Concurrency parts in flight, which copies
// PutObjectInput's IfNoneMatch and IfMatch onto CompleteMultipartUpload,
// where S3 and MinIO check them atomically with the commit (the conformance
// suite races multipart create-only writers to keep it that way). Memory is
// about (Concurrency + 2) × PartSize per upload.
//
// # Retries and checksums
//
// The SDK's retryer is replaced by a no-op and every request goes through
// objstore.Retry, so that there is one retry policy and a conditional
// write retried after a lost response can recognise its own earlier
// success.
//
// The SDK's default request checksums (CRC32 on every PutObject and
// UploadPart, checked by the server) are kept: the MinIO release the
// project pins accepts them, and they protect parts end to end. For a
// server that rejects them, set AWS_REQUEST_CHECKSUM_CALCULATION=when_required
// and AWS_RESPONSE_CHECKSUM_VALIDATION=when_required in the environment
// (config.LoadDefaultConfig reads both).
package s3store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/internal/s3compat"
)

var _ objstore.Bucket = (*Store)(nil)
var _ objstore.Describer = (*Store)(nil)
var _ objstore.BatchDeleter = (*Store)(nil)
var _ objstore.Uploader = (*Store)(nil)
var _ objstore.DirLister = (*Store)(nil)

// DefaultPartSize is the part size of multipart uploads unless
// Config.PartSize says otherwise.
const DefaultPartSize = s3compat.DefaultPartSize

// DefaultConcurrency is the number of parts uploaded at once.
const DefaultConcurrency = s3compat.DefaultConcurrency

// Config says how to reach one bucket. It has the shape of
// miniostore.Config.
type Config struct {
	// Endpoint is the service's URL (http:// or https://, no path),
	// addressed path-style. Empty means AWS S3, or whatever endpoint the
	// AWS SDK's own configuration names (virtual-host addressing).
	Endpoint string
	// Bucket is the bucket's name. Required.
	Bucket string
	// Region is the bucket's region. Empty means the SDK's default
	// (AWS_REGION, the shared config), else "us-east-1" for custom
	// endpoints and the bucket's own region (looked up) for AWS.
	Region string
	// AccessKey, SecretKey and SessionToken are explicit credentials;
	// when AccessKey is empty the SDK's default chain is used.
	AccessKey, SecretKey, SessionToken string
	// PartSize is the size of multipart upload parts, at least 5 MiB; zero
	// means DefaultPartSize.
	PartSize int64
	// Concurrency is the number of parts uploaded at once; zero means
	// DefaultConcurrency.
	Concurrency int
	// HTTPClient, when set, replaces the SDK's HTTP client (tests inject
	// faults with it).
	HTTPClient *http.Client
	// DialControl, when set (and HTTPClient is not), is the Control
	// function of every connection the S3 client makes (for example
	// objstore.RefuseMetadataDial), to whatever endpoint it resolved,
	// one from the SDK's shared configuration included. The credential
	// chain's own requests do not go through it.
	DialControl func(network, address string, c syscall.RawConn) error
	// Encryption is the server-side encryption asked for on every write;
	// the zero value leaves it to the bucket's default.
	Encryption objstore.Encryption
	// CheckPrefix is the key prefix New lists (one key at most) to check
	// that the bucket exists and the credentials reach it. Empty means
	// HeadBucket, which S3 authorizes as a listing of the whole bucket: a
	// least-privilege policy that lets the credentials list only their
	// prefixes (localstack/iam-worker-policy.json) refuses it.
	CheckPrefix string
}

// guardDials gives the client's connections cfg.DialControl, keeping the
// SDK's buildable client (and what the shared configuration set on it,
// such as AWS_CA_BUNDLE's roots) when it has one.
func guardDials(o *s3.Options, cfg Config) {
	if cfg.DialControl == nil || cfg.HTTPClient != nil {
		return
	}
	control := func(d *net.Dialer) { d.Control = cfg.DialControl }
	if bc, ok := o.HTTPClient.(*awshttp.BuildableClient); ok {
		o.HTTPClient = bc.WithDialerOptions(control)
		return
	}
	o.HTTPClient = awshttp.NewBuildableClient().WithDialerOptions(control)
}

// Store is one bucket reached through aws-sdk-go-v2. The S3 algorithms it
// shares with miniostore (retries, error mapping, Copy, conditional
// writes) run in s3compat over sdk, its SDK calls.
type Store struct {
	client   *s3.Client
	api      *retryingClient
	uploader *manager.Uploader
	compat   *s3compat.Backend
	bucket   string
	partSize int64
	sse      objstore.Encryption
}

// New checks cfg, loads the AWS configuration, and checks that the bucket
// exists (ErrNotFound when it does not).
func New(ctx context.Context, cfg Config) (*Store, error) {
	return newStore(ctx, cfg, s3compat.DefaultCopyLimits)
}

func newStore(ctx context.Context, cfg Config, copyLimits s3compat.CopyLimits) (*Store, error) {
	endpoint := cfg.Endpoint
	shared := s3compat.Config{Endpoint: endpoint, Bucket: cfg.Bucket, PartSize: cfg.PartSize, Concurrency: cfg.Concurrency, Encryption: cfg.Encryption}
	if err := shared.Check(); err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	loadOpts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if cfg.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3store: loading AWS configuration: %w", err)
	}
	clientOpts := func(o *s3.Options) {
		// Whole-object GETs of multipart objects cannot be checked against
		// a full-object checksum; the SDK would log that on every such GET.
		o.DisableLogOutputChecksumValidationSkipped = true
		guardDials(o, cfg)
		if cfg.HTTPClient != nil {
			// Set on the client, not with config.WithHTTPClient, which
			// fails when AWS_CA_BUNDLE is set and the client is not the
			// SDK's buildable one.
			o.HTTPClient = cfg.HTTPClient
		}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	}
	s := &Store{bucket: cfg.Bucket, partSize: shared.PartSize, sse: cfg.Encryption}
	s.compat = &s3compat.Backend{
		Name:        "s3store",
		API:         sdk{s},
		Errors:      readError,
		Concurrency: shared.Concurrency,
		CopyLimits:  copyLimits,
		Retryable:   sdkRetryable,
		OpaqueETags: cfg.Encryption.Mode != "",
		// MinIO lists open uploads by exact key or for the whole bucket.
		UploadsByKeyOnly: endpoint != "",
	}
	if awsCfg.Region == "" {
		if endpoint != "" {
			awsCfg.Region = "us-east-1"
		} else {
			probe := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.Region = "us-east-1"; guardDials(o, cfg) })
			err := s.compat.Retry(ctx, func(ctx context.Context) error {
				awsCfg.Region, err = manager.GetBucketRegion(ctx, probe, cfg.Bucket)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("s3store: looking up the region of bucket %q: %w", cfg.Bucket, s.compat.MapErr(err))
			}
		}
	}
	s.client = s3.NewFromConfig(awsCfg, clientOpts)
	s.api = &retryingClient{Client: s.client, compat: s.compat}
	s.uploader = manager.NewUploader(s.api, func(u *manager.Uploader) {
		u.PartSize = shared.PartSize
		u.Concurrency = shared.Concurrency
	})
	err = s.retry(ctx, func(ctx context.Context) error {
		if cfg.CheckPrefix != "" {
			_, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &cfg.Bucket, Prefix: &cfg.CheckPrefix, MaxKeys: aws.Int32(1)})
			return err
		}
		_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &cfg.Bucket})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: bucket %q: %w", cfg.Bucket, s.compat.MapErr(err))
	}
	return s, nil
}

// Describe returns "s3://bucket".
func (s *Store) Describe() string { return "s3://" + s.bucket }

// Client returns the underlying SDK client, for what the objstore contract
// does not cover.
func (s *Store) Client() *s3.Client { return s.client }

func (s *Store) retry(ctx context.Context, op func(ctx context.Context) error) error {
	return s.compat.Retry(ctx, op)
}

// Stat implements objstore.Bucket.
func (s *Store) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	return s.compat.Stat(ctx, key)
}

// Get implements objstore.Bucket.
func (s *Store) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	return s.compat.Get(ctx, key, opts, func(ctx context.Context, rangeHeader, ifMatch string) (io.ReadCloser, objstore.ObjectInfo, string, error) {
		in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
		if rangeHeader != "" {
			in.Range = &rangeHeader
		}
		if ifMatch != "" {
			in.IfMatch = &ifMatch
		}
		out, err := s.client.GetObject(ctx, in)
		if err != nil {
			return nil, objstore.ObjectInfo{}, "", err
		}
		info := objstore.ObjectInfo{
			Size:      aws.ToInt64(out.ContentLength),
			ETag:      aws.ToString(out.ETag),
			VersionID: aws.ToString(out.VersionId),
			ModTime:   aws.ToTime(out.LastModified),
		}
		return out.Body, info, aws.ToString(out.ContentRange), nil
	})
}

// List implements objstore.Bucket, one ListObjectsV2 page at a time.
func (s *Store) List(ctx context.Context, prefix string, opts *objstore.ListOptions) iter.Seq2[objstore.ObjectInfo, error] {
	var lo objstore.ListOptions
	if opts != nil {
		lo = *opts
	}
	return func(yield func(objstore.ObjectInfo, error) bool) {
		// Keys come URL-encoded: XML 1.0 cannot carry every character a
		// key may hold (control characters).
		in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix, EncodingType: types.EncodingTypeUrl}
		if lo.StartAfter != "" {
			in.StartAfter = &lo.StartAfter
		}
		if lo.PageSize > 0 {
			in.MaxKeys = aws.Int32(int32(min(lo.PageSize, 1000)))
		}
		for {
			var out *s3.ListObjectsV2Output
			err := s.retry(ctx, func(ctx context.Context) error {
				var err error
				out, err = s.client.ListObjectsV2(ctx, in)
				return err
			})
			if err != nil {
				yield(objstore.ObjectInfo{}, fmt.Errorf("s3store: list %q: %w", prefix, s.compat.MapErr(err)))
				return
			}
			for _, o := range out.Contents {
				key, err := decodeKey(out.EncodingType, aws.ToString(o.Key))
				if err != nil {
					yield(objstore.ObjectInfo{}, fmt.Errorf("s3store: list %q: %w", prefix, err))
					return
				}
				info := objstore.ObjectInfo{
					Key:     key,
					Size:    aws.ToInt64(o.Size),
					ETag:    s3compat.TrimETag(aws.ToString(o.ETag)),
					ModTime: aws.ToTime(o.LastModified),
				}
				if !yield(info, nil) {
					return
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				return
			}
			if aws.ToString(out.NextContinuationToken) == "" {
				yield(objstore.ObjectInfo{}, fmt.Errorf("s3store: list %q: truncated page without a continuation token", prefix))
				return
			}
			in.ContinuationToken = out.NextContinuationToken
		}
	}
}

// ListDirs implements objstore.DirLister: ListObjectsV2 with the
// delimiter "/", a page of up to 1,000 common prefixes per request.
func (s *Store) ListDirs(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix, Delimiter: aws.String("/"), EncodingType: types.EncodingTypeUrl}
		for {
			var out *s3.ListObjectsV2Output
			err := s.retry(ctx, func(ctx context.Context) error {
				var err error
				out, err = s.client.ListObjectsV2(ctx, in)
				return err
			})
			if err != nil {
				yield("", fmt.Errorf("s3store: list dirs %q: %w", prefix, s.compat.MapErr(err)))
				return
			}
			for _, p := range out.CommonPrefixes {
				dir, err := decodeKey(out.EncodingType, aws.ToString(p.Prefix))
				if err != nil {
					yield("", fmt.Errorf("s3store: list dirs %q: %w", prefix, err))
					return
				}
				if !yield(dir, nil) {
					return
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				return
			}
			if aws.ToString(out.NextContinuationToken) == "" {
				yield("", fmt.Errorf("s3store: list dirs %q: truncated page without a continuation token", prefix))
				return
			}
			in.ContinuationToken = out.NextContinuationToken
		}
	}
}

// decodeKey undoes encoding-type=url, which S3 applies like a query
// string ('+' for a space).
func decodeKey(enc types.EncodingType, key string) (string, error) {
	if enc != types.EncodingTypeUrl {
		return key, nil
	}
	k, err := url.QueryUnescape(key)
	if err != nil {
		return "", fmt.Errorf("decoding listed key %q: %w", key, err)
	}
	return k, nil
}

// Put implements objstore.Bucket.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	if opts == nil {
		opts = &objstore.PutOptions{}
	}
	first, rest, eof, err := s.compat.FirstPart(ctx, key, r, opts, s.partSize)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key}
	in.ServerSideEncryption, in.SSEKMSKeyId = s.encryption()
	if opts.ContentType != "" {
		in.ContentType = &opts.ContentType
	}
	if opts.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if opts.IfMatch != "" {
		in.IfMatch = aws.String(s3compat.QuoteETag(opts.IfMatch))
	}
	if eof {
		in.ContentLength = aws.Int64(int64(len(first)))
		var out *s3.PutObjectOutput
		own, ok, err := s.compat.ConditionalWrite(ctx, key, opts, s3compat.MD5Hex(first), func(ctx context.Context) error {
			in.Body = bytes.NewReader(first)
			var err error
			out, err = s.client.PutObject(ctx, in)
			return err
		})
		switch {
		case ok:
			return own, nil
		case err != nil:
			return objstore.ObjectInfo{}, fmt.Errorf("s3store: put %q: %w", key, err)
		}
		return s3compat.Written(key, aws.ToString(out.ETag), aws.ToString(out.VersionId), int64(len(first)), time.Time{}), nil
	}
	counter := &countingReader{r: io.MultiReader(bytes.NewReader(first), rest)}
	first = nil
	in.Body = counter
	if opts.Size > 0 {
		// The transfer manager fails the upload when the part count
		// does not match the announced length.
		in.ContentLength = aws.Int64(opts.Size)
	}
	out, err := s.uploader.Upload(ctx, in)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("s3store: put %q: %w", key, s.compat.MapErr(err))
	}
	if opts.Size > 0 && counter.n != opts.Size {
		// Too late to refuse: the object is written. Cannot happen
		// unless the manager's part count check changes.
		return objstore.ObjectInfo{}, s.compat.SizeMismatch(key, counter.n, opts.Size)
	}
	return s3compat.Written(key, aws.ToString(out.ETag), aws.ToString(out.VersionID), counter.n, time.Time{}), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// PutUpload implements objstore.Uploader.
func (s *Store) PutUpload(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.Upload, error) {
	return s.compat.PutUpload(ctx, key, r, opts, s.partSize)
}

// CompleteUpload implements objstore.Uploader.
func (s *Store) CompleteUpload(ctx context.Context, u objstore.Upload) (objstore.ObjectInfo, error) {
	return s.compat.CompleteUpload(ctx, u)
}

// AbortUpload implements objstore.Uploader.
func (s *Store) AbortUpload(ctx context.Context, key, id string) error {
	return s.compat.AbortUpload(ctx, key, id)
}

// ListUploads implements objstore.Uploader. Against a custom endpoint it
// lists the whole bucket's open uploads and keeps those under prefix:
// MinIO answers a prefix shorter than a whole key with none.
func (s *Store) ListUploads(ctx context.Context, prefix string) iter.Seq2[objstore.Upload, error] {
	return s.compat.ListUploads(ctx, prefix)
}

// Copy implements objstore.Bucket. Sources up to 5 GiB are copied with one
// CopyObject; larger ones part by part (UploadPartCopy), pinned to the
// source's ETag.
func (s *Store) Copy(ctx context.Context, dst, src string, opts *objstore.CopyOptions) (objstore.ObjectInfo, error) {
	return s.compat.Copy(ctx, dst, src, opts)
}

// encryption returns the request fields of the store's server-side
// encryption (zero values: the bucket's default).
func (s *Store) encryption() (types.ServerSideEncryption, *string) {
	if s.sse.Mode == "" {
		return "", nil
	}
	var key *string
	if s.sse.KMSKeyID != "" {
		key = aws.String(s.sse.KMSKeyID)
	}
	return types.ServerSideEncryption(s.sse.Mode), key
}

// Delete implements objstore.Bucket.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.compat.Delete(ctx, key, func(ctx context.Context) error {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
		return err
	})
}

// DeleteMany implements objstore.BatchDeleter with DeleteObjects (quiet
// mode): one request per 1,000 keys.
func (s *Store) DeleteMany(ctx context.Context, keys []string) error {
	return s.compat.DeleteMany(ctx, keys, func(ctx context.Context, keys []string) ([]objstore.KeyError, error) {
		ids := make([]types.ObjectIdentifier, len(keys))
		for i := range keys {
			ids[i] = types.ObjectIdentifier{Key: &keys[i]}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &s.bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return nil, err
		}
		failed := make([]objstore.KeyError, 0, len(out.Errors))
		for _, e := range out.Errors {
			failed = append(failed, objstore.KeyError{Key: aws.ToString(e.Key),
				Err: &smithy.GenericAPIError{Code: aws.ToString(e.Code), Message: aws.ToString(e.Message)}})
		}
		return failed, nil
	})
}
