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
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/internal/s3compat"
	"golang.org/x/sync/errgroup"
)

var _ objstore.Bucket = (*Store)(nil)
var _ objstore.Describer = (*Store)(nil)

// DefaultPartSize is the part size of multipart uploads unless
// Config.PartSize says otherwise.
const DefaultPartSize = 16 << 20

// DefaultConcurrency is the number of parts uploaded at once.
const DefaultConcurrency = 4

// Config says how to reach one bucket. It has the shape of
// miniostore.Config.
type Config struct {
	// Endpoint is the service's URL (http:// or https://). Empty means
	// objstore.EndpointFromEnv(), and when that is empty too, AWS S3.
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
	// Encryption is the server-side encryption asked for on every write;
	// the zero value leaves it to the bucket's default.
	Encryption objstore.Encryption
}

// Store is one bucket reached through aws-sdk-go-v2.
type Store struct {
	client   *s3.Client
	api      *retryingClient
	uploader *manager.Uploader
	bucket   string
	partSize int64
	policy   objstore.RetryPolicy
	conc     int
	sse      objstore.Encryption
}

// New checks cfg, loads the AWS configuration, and checks that the bucket
// exists (ErrNotFound when it does not).
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3store: Config.Bucket is empty")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < s3compat.MinPartSize || cfg.PartSize > s3compat.MaxSinglePutSize {
		return nil, fmt.Errorf("s3store: Config.PartSize %d is outside S3's limits [5 MiB, 5 GiB]", cfg.PartSize)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency < 0 {
		return nil, fmt.Errorf("s3store: Config.Concurrency %d is negative", cfg.Concurrency)
	}
	if err := cfg.Encryption.Validate(); err != nil {
		return nil, fmt.Errorf("s3store: Config.Encryption: %w", err)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = objstore.EndpointFromEnv()
	}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3store: Config.Endpoint %q: want http(s)://host[:port]", endpoint)
		}
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
	policy := objstore.DefaultRetryPolicy(retryable)
	if awsCfg.Region == "" {
		if endpoint != "" {
			awsCfg.Region = "us-east-1"
		} else {
			probe := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.Region = "us-east-1" })
			err := objstore.Retry(ctx, func(ctx context.Context) error {
				awsCfg.Region, err = manager.GetBucketRegion(ctx, probe, cfg.Bucket)
				return err
			}, policy)
			if err != nil {
				return nil, fmt.Errorf("s3store: looking up the region of bucket %q: %w", cfg.Bucket, mapErr(err))
			}
		}
	}
	client := s3.NewFromConfig(awsCfg, clientOpts)
	api := &retryingClient{Client: client, policy: policy}
	s := &Store{
		client: client,
		api:    api,
		uploader: manager.NewUploader(api, func(u *manager.Uploader) {
			u.PartSize = cfg.PartSize
			u.Concurrency = cfg.Concurrency
		}),
		bucket:   cfg.Bucket,
		partSize: cfg.PartSize,
		policy:   policy,
		conc:     cfg.Concurrency,
		sse:      cfg.Encryption,
	}
	err = s.retry(ctx, func(ctx context.Context) error {
		_, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &cfg.Bucket})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: bucket %q: %w", cfg.Bucket, mapErr(err))
	}
	return s, nil
}

// Describe returns "s3://bucket".
func (s *Store) Describe() string { return "s3://" + s.bucket }

// Client returns the underlying SDK client, for what the objstore contract
// does not cover.
func (s *Store) Client() *s3.Client { return s.client }

func (s *Store) retry(ctx context.Context, op func(ctx context.Context) error) error {
	return objstore.Retry(ctx, op, s.policy)
}

// Stat implements objstore.Bucket.
func (s *Store) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if err := s3compat.CheckKey(key); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("s3store: stat %q: %w", key, err)
	}
	var out *s3.HeadObjectOutput
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("s3store: stat %q: %w", key, mapErr(err))
	}
	return objstore.ObjectInfo{
		Key:       key,
		Size:      aws.ToInt64(out.ContentLength),
		ETag:      s3compat.TrimETag(aws.ToString(out.ETag)),
		VersionID: aws.ToString(out.VersionId),
		ModTime:   aws.ToTime(out.LastModified),
	}, nil
}

// Get implements objstore.Bucket.
func (s *Store) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	if opts == nil {
		opts = &objstore.GetOptions{}
	}
	if err := s3compat.CheckKey(key); err != nil {
		return nil, objstore.ObjectInfo{}, fmt.Errorf("s3store: get %q: %w", key, err)
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if r := s3compat.RangeHeader(opts.Offset, opts.Length); r != "" {
		in.Range = &r
	}
	if opts.IfMatch != "" {
		in.IfMatch = aws.String(s3compat.QuoteETag(opts.IfMatch))
	}
	var out *s3.GetObjectOutput
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.client.GetObject(ctx, in)
		return err
	})
	if err != nil {
		if errorCode(err) == "InvalidRange" || httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			// The offset is at or past the end (see GetOptions).
			info, err := s.Stat(ctx, key)
			if err != nil {
				return nil, objstore.ObjectInfo{}, err
			}
			if opts.IfMatch != "" && opts.IfMatch != info.ETag {
				return nil, objstore.ObjectInfo{}, fmt.Errorf("s3store: get %q: ETag is %s, not %s: %w", key, info.ETag, opts.IfMatch, objstore.ErrPrecondition)
			}
			return s3compat.EmptyBody(), info, nil
		}
		return nil, objstore.ObjectInfo{}, fmt.Errorf("s3store: get %q: %w", key, mapErr(err))
	}
	info := objstore.ObjectInfo{
		Key:       key,
		Size:      aws.ToInt64(out.ContentLength),
		ETag:      s3compat.TrimETag(aws.ToString(out.ETag)),
		VersionID: aws.ToString(out.VersionId),
		ModTime:   aws.ToTime(out.LastModified),
	}
	if total, ok := s3compat.TotalFromContentRange(aws.ToString(out.ContentRange)); ok {
		info.Size = total
	}
	return out.Body, info, nil
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
				yield(objstore.ObjectInfo{}, fmt.Errorf("s3store: list %q: %w", prefix, mapErr(err)))
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
	if err := s3compat.CheckKey(key); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("s3store: put %q: %w", key, err)
	}
	if r == nil {
		r = bytes.NewReader(nil)
	}
	r = s3compat.ContextReader(ctx, r)
	first, eof, err := s3compat.ReadUpTo(r, int(s.partSize), opts.Size)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("s3store: put %q: reading body: %w", key, err)
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
	var (
		etag, versionID string
		size            int64
	)
	if eof {
		if opts.Size > 0 && int64(len(first)) != opts.Size {
			return objstore.ObjectInfo{}, fmt.Errorf("s3store: put %q: body has %d bytes, PutOptions.Size says %d", key, len(first), opts.Size)
		}
		in.ContentLength = aws.Int64(int64(len(first)))
		attempts := 0
		var out *s3.PutObjectOutput
		err := s.retry(ctx, func(ctx context.Context) error {
			attempts++
			in.Body = bytes.NewReader(first)
			var err error
			out, err = s.client.PutObject(ctx, in)
			return err
		})
		if err != nil {
			err = mapErr(err)
			if ok, info := s.ownEarlierWrite(ctx, key, err, attempts, in.IfNoneMatch, in.IfMatch, s3compat.MD5Hex(first)); ok {
				return info, nil
			}
			return objstore.ObjectInfo{}, fmt.Errorf("s3store: put %q: %w", key, err)
		}
		etag, versionID, size = aws.ToString(out.ETag), aws.ToString(out.VersionId), int64(len(first))
	} else {
		counter := &countingReader{r: io.MultiReader(bytes.NewReader(first), r)}
		first = nil
		in.Body = counter
		if opts.Size > 0 {
			// The transfer manager fails the upload when the part count
			// does not match the announced length.
			in.ContentLength = aws.Int64(opts.Size)
		}
		out, err := s.uploader.Upload(ctx, in)
		if err != nil {
			return objstore.ObjectInfo{}, fmt.Errorf("s3store: put %q: %w", key, mapErr(err))
		}
		if opts.Size > 0 && counter.n != opts.Size {
			// Too late to refuse: the object is written. Cannot happen
			// unless the manager's part count check changes.
			return objstore.ObjectInfo{}, fmt.Errorf("s3store: put %q: body had %d bytes, PutOptions.Size says %d", key, counter.n, opts.Size)
		}
		etag, versionID, size = aws.ToString(out.ETag), aws.ToString(out.VersionID), counter.n
	}
	return s.uploaded(ctx, key, s3compat.TrimETag(etag), versionID, size)
}

// uploaded returns the ObjectInfo of a written object. S3 does not return
// the modification time on PUT; rather than a HEAD per write, ModTime is
// the local clock (see objstore.ObjectInfo).
func (s *Store) uploaded(ctx context.Context, key, etag, versionID string, size int64) (objstore.ObjectInfo, error) {
	return objstore.ObjectInfo{Key: key, Size: size, ETag: etag, VersionID: versionID, ModTime: time.Now()}, nil
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

// Copy implements objstore.Bucket. Sources up to 5 GiB are copied with one
// CopyObject; larger ones part by part (UploadPartCopy), pinned to the
// source's ETag.
func (s *Store) Copy(ctx context.Context, dst, src string, opts *objstore.CopyOptions) (objstore.ObjectInfo, error) {
	if opts == nil {
		opts = &objstore.CopyOptions{}
	}
	for _, k := range []string{dst, src} {
		if err := s3compat.CheckKey(k); err != nil {
			return objstore.ObjectInfo{}, fmt.Errorf("s3store: copy %q to %q: %w", src, dst, err)
		}
	}
	srcInfo, err := s.Stat(ctx, src)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("s3store: copy to %q: %w", dst, err)
	}
	if opts.IfMatch != "" && opts.IfMatch != srcInfo.ETag {
		return objstore.ObjectInfo{}, fmt.Errorf("s3store: copy %q to %q: source ETag is %s, not %s: %w", src, dst, srcInfo.ETag, opts.IfMatch, objstore.ErrPrecondition)
	}
	source := s3compat.EscapeCopySource(s.bucket, src)
	pin := aws.String(s3compat.QuoteETag(srcInfo.ETag))
	if srcInfo.Size > copyPartThreshold {
		return s.copyMultipart(ctx, dst, source, pin, srcInfo.Size)
	}
	var out *s3.CopyObjectOutput
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		in := &s3.CopyObjectInput{Bucket: &s.bucket, Key: &dst, CopySource: &source, CopySourceIfMatch: pin}
		in.ServerSideEncryption, in.SSEKMSKeyId = s.encryption()
		out, err = s.client.CopyObject(ctx, in)
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("s3store: copy %q to %q: %w", src, dst, mapErr(err))
	}
	info := objstore.ObjectInfo{Key: dst, Size: srcInfo.Size, VersionID: aws.ToString(out.VersionId)}
	if r := out.CopyObjectResult; r != nil {
		info.ETag, info.ModTime = s3compat.TrimETag(aws.ToString(r.ETag)), aws.ToTime(r.LastModified)
	}
	return info, nil
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

// copyPartThreshold is the largest source copied with one CopyObject (S3's
// limit); a variable so that tests can exercise the multipart copy.
var copyPartThreshold int64 = s3compat.MaxSinglePutSize

// copyPartSize is the size of the parts of a multipart copy.
var copyPartSize int64 = 512 << 20

func (s *Store) copyMultipart(ctx context.Context, dst, source string, pin *string, size int64) (_ objstore.ObjectInfo, err error) {
	var created *s3.CreateMultipartUploadOutput
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		in := &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &dst}
		in.ServerSideEncryption, in.SSEKMSKeyId = s.encryption()
		created, err = s.client.CreateMultipartUpload(ctx, in)
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("s3store: copy to %q: %w", dst, mapErr(err))
	}
	uploadID := created.UploadId
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &dst, UploadId: uploadID})
		}
	}()
	n := int((size + copyPartSize - 1) / copyPartSize)
	parts := make([]types.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.conc)
	for i := range n {
		g.Go(func() error {
			off := int64(i) * copyPartSize
			end := min(off+copyPartSize, size) - 1
			return s.retry(gctx, func(ctx context.Context) error {
				out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
					Bucket: &s.bucket, Key: &dst, UploadId: uploadID, PartNumber: aws.Int32(int32(i + 1)),
					CopySource: &source, CopySourceIfMatch: pin, CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end)),
				})
				if err != nil {
					return err
				}
				parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
				return nil
			})
		})
	}
	if err = g.Wait(); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("s3store: copy to %q: %w", dst, mapErr(err))
	}
	var out *s3.CompleteMultipartUploadOutput
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &s.bucket, Key: &dst, UploadId: uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("s3store: copy to %q: %w", dst, mapErr(err))
	}
	return s.uploaded(ctx, dst, s3compat.TrimETag(aws.ToString(out.ETag)), aws.ToString(out.VersionId), size)
}

// Delete implements objstore.Bucket.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s3compat.CheckKey(key); err != nil {
		return fmt.Errorf("s3store: delete %q: %w", key, err)
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
		return err
	})
	if err != nil && !errors.Is(mapErr(err), objstore.ErrNotFound) {
		return fmt.Errorf("s3store: delete %q: %w", key, mapErr(err))
	}
	return nil
}

// ownEarlierWrite reports whether a conditional write that failed its
// condition after being retried was refused because of its own first
// attempt, which succeeded though its response was lost.
func (s *Store) ownEarlierWrite(ctx context.Context, key string, err error, attempts int, ifNoneMatch, ifMatch *string, wantETag string) (bool, objstore.ObjectInfo) {
	if attempts < 2 || wantETag == "" || !errors.Is(err, objstore.ErrPrecondition) ||
		aws.ToString(ifNoneMatch) == "" && aws.ToString(ifMatch) == "" {
		return false, objstore.ObjectInfo{}
	}
	info, serr := s.Stat(ctx, key)
	return serr == nil && info.ETag == wantETag, info
}
