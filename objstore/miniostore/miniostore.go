// Package miniostore is the objstore backend for S3 and S3-compatible
// stores (MinIO first) built on minio-go.
//
// # Conditional multipart writes
//
// minio-go's PutObject sends If-None-Match / If-Match only when it starts a
// multipart upload, not on CompleteMultipartUpload (it deliberately drops
// the caller's headers there). MinIO then checks the condition at the start
// only: measured against MinIO, 8 concurrent create-only uploads of 40 MiB
// all succeeded. This package therefore drives multipart uploads itself
// through minio.Core, sending the condition on CompleteMultipartUpload,
// which MinIO (and S3) evaluate atomically with the commit; the conformance
// suite races multipart create-only writers to keep it that way.
//
// # Memory
//
// A Put buffers at most one part (Config.PartSize, 16 MiB by default) to
// choose between a single PUT and a multipart upload, and a multipart
// upload keeps at most Concurrency+1 part buffers: about 80 MiB with the
// defaults, whatever the body's size. Bodies of unknown size are limited to
// 10,000 parts (156 GiB with 16 MiB parts).
//
// # Retries
//
// minio-go's own retries are switched off (MaxRetries 1) and every request
// goes through objstore.Retry, so that there is one retry policy, and so
// that a conditional write retried after a lost response can recognise its
// own earlier success (see objstore.PutOptions).
package miniostore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/internal/s3compat"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

var _ objstore.Bucket = (*Store)(nil)
var _ objstore.Describer = (*Store)(nil)

// DefaultPartSize is the part size of multipart uploads unless
// Config.PartSize says otherwise. minio-go's own default for bodies of
// unknown size is over 500 MiB per part, too much memory per upload.
const DefaultPartSize = 16 << 20

// DefaultConcurrency is the number of parts uploaded at once.
const DefaultConcurrency = 4

// Config says how to reach one bucket.
type Config struct {
	// Endpoint is the service's URL (http:// or https://, no path). Empty
	// means objstore.EndpointFromEnv(), and when that is empty too, AWS S3
	// (https://s3.amazonaws.com, virtual-host addressing). Other endpoints
	// use path-style addressing, as MinIO expects.
	Endpoint string
	// Bucket is the bucket's name. Required.
	Bucket string
	// Region is the bucket's region. Empty means AWS_REGION or
	// AWS_DEFAULT_REGION, else "us-east-1" for custom endpoints and the
	// bucket's region looked up by minio-go for AWS.
	Region string
	// AccessKey, SecretKey and SessionToken are explicit credentials. When
	// AccessKey is empty the default chain is used: the AWS_* environment
	// variables, the shared credentials file (~/.aws/credentials,
	// AWS_PROFILE), then the instance or task role (IAM).
	AccessKey, SecretKey, SessionToken string
	// PartSize is the size of multipart upload parts, at least 5 MiB; zero
	// means DefaultPartSize. Bodies up to one part go up in a single PUT.
	PartSize int64
	// Concurrency is the number of parts uploaded at once; zero means
	// DefaultConcurrency.
	Concurrency int
	// Transport, when set, replaces minio-go's HTTP transport (tests
	// inject faults with it).
	Transport http.RoundTripper
	// Encryption is the server-side encryption asked for on every write;
	// the zero value leaves it to the bucket's default.
	Encryption objstore.Encryption
}

// Store is one bucket reached through minio-go.
type Store struct {
	client   *minio.Client
	core     minio.Core
	bucket   string
	endpoint string
	partSize int64
	conc     int
	policy   objstore.RetryPolicy
	sse      encrypt.ServerSide // nil: the bucket's default
}

// New checks cfg, connects and checks that the bucket exists (ErrNotFound
// when it does not).
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("miniostore: Config.Bucket is empty")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < s3compat.MinPartSize || cfg.PartSize > s3compat.MaxSinglePutSize {
		return nil, fmt.Errorf("miniostore: Config.PartSize %d is outside S3's limits [5 MiB, 5 GiB]", cfg.PartSize)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency < 0 {
		return nil, fmt.Errorf("miniostore: Config.Concurrency %d is negative", cfg.Concurrency)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = objstore.EndpointFromEnv()
	}
	aws := endpoint == ""
	if aws {
		endpoint = "https://s3.amazonaws.com"
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("miniostore: Config.Endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("miniostore: Config.Endpoint %q: want http(s)://host[:port] without a path", endpoint)
	}
	region := cfg.Region
	if region == "" {
		region = cmp(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"))
	}
	if region == "" && !aws {
		region = "us-east-1"
	}
	if err := cfg.Encryption.Validate(); err != nil {
		return nil, fmt.Errorf("miniostore: Config.Encryption: %w", err)
	}
	var sse encrypt.ServerSide
	switch cfg.Encryption.Mode {
	case objstore.EncryptionS3:
		sse = encrypt.NewSSE()
	case objstore.EncryptionKMS:
		if sse, err = encrypt.NewSSEKMS(cfg.Encryption.KMSKeyID, nil); err != nil {
			return nil, fmt.Errorf("miniostore: Config.Encryption: %w", err)
		}
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport}},
		})
	}
	lookup := minio.BucketLookupPath
	if aws {
		lookup = minio.BucketLookupAuto
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Region:       region,
		BucketLookup: lookup,
		Transport:    cfg.Transport,
		MaxRetries:   1, // objstore.Retry retries
	})
	if err != nil {
		return nil, fmt.Errorf("miniostore: %w", err)
	}
	s := &Store{
		client:   client,
		core:     minio.Core{Client: client},
		bucket:   cfg.Bucket,
		endpoint: endpoint,
		partSize: cfg.PartSize,
		conc:     cfg.Concurrency,
		policy:   objstore.DefaultRetryPolicy(retryable),
		sse:      sse,
	}
	var exists bool
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		exists, err = client.BucketExists(ctx, cfg.Bucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("miniostore: bucket %q at %s: %w", cfg.Bucket, endpoint, mapErr(err))
	}
	if !exists {
		return nil, fmt.Errorf("miniostore: bucket %q at %s: %w", cfg.Bucket, endpoint, objstore.ErrNotFound)
	}
	return s, nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Describe returns "s3://bucket".
func (s *Store) Describe() string { return "s3://" + s.bucket }

// Client returns the underlying minio-go client, for what the objstore
// contract does not cover (bucket notifications).
func (s *Store) Client() *minio.Client { return s.client }

func (s *Store) retry(ctx context.Context, op func(ctx context.Context) error) error {
	return objstore.Retry(ctx, op, s.policy)
}

// Stat implements objstore.Bucket.
func (s *Store) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if err := s3compat.CheckKey(key); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: stat %q: %w", key, err)
	}
	var oi minio.ObjectInfo
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		oi, err = s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: stat %q: %w", key, mapErr(err))
	}
	return info(oi), nil
}

// Get implements objstore.Bucket.
func (s *Store) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	if opts == nil {
		opts = &objstore.GetOptions{}
	}
	if err := s3compat.CheckKey(key); err != nil {
		return nil, objstore.ObjectInfo{}, fmt.Errorf("miniostore: get %q: %w", key, err)
	}
	var gopts minio.GetObjectOptions
	if r := s3compat.RangeHeader(opts.Offset, opts.Length); r != "" {
		gopts.Set("Range", r)
	}
	if opts.IfMatch != "" {
		gopts.Set("If-Match", s3compat.QuoteETag(opts.IfMatch))
	}
	var (
		body   io.ReadCloser
		oi     minio.ObjectInfo
		header http.Header
	)
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		body, oi, header, err = s.core.GetObject(ctx, s.bucket, key, gopts)
		return err
	})
	if err != nil {
		if isInvalidRange(err) {
			// The offset is at or past the end: check existence and
			// IfMatch, then return an empty body (see GetOptions).
			info, err := s.Stat(ctx, key)
			if err != nil {
				return nil, objstore.ObjectInfo{}, err
			}
			if opts.IfMatch != "" && opts.IfMatch != info.ETag {
				return nil, objstore.ObjectInfo{}, fmt.Errorf("miniostore: get %q: ETag is %s, not %s: %w", key, info.ETag, opts.IfMatch, objstore.ErrPrecondition)
			}
			return s3compat.EmptyBody(), info, nil
		}
		return nil, objstore.ObjectInfo{}, fmt.Errorf("miniostore: get %q: %w", key, mapErr(err))
	}
	info := info(oi)
	if total, ok := s3compat.TotalFromContentRange(header.Get("Content-Range")); ok {
		info.Size = total
	}
	return body, info, nil
}

// List implements objstore.Bucket. A page that fails with a transient
// error is retried by resuming the listing after the last key yielded.
func (s *Store) List(ctx context.Context, prefix string, opts *objstore.ListOptions) iter.Seq2[objstore.ObjectInfo, error] {
	var lo objstore.ListOptions
	if opts != nil {
		lo = *opts
	}
	return func(yield func(objstore.ObjectInfo, error) bool) {
		after := lo.StartAfter
		fetchOwner := false
		err := s.retry(ctx, func(ctx context.Context) error {
			for oi := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{
				Prefix:     prefix,
				Recursive:  true,
				StartAfter: after,
				MaxKeys:    lo.PageSize,
				FetchOwner: &fetchOwner,
			}) {
				if oi.Err != nil {
					return oi.Err
				}
				if oi.Key <= after {
					continue // a server that repeats StartAfter
				}
				after = oi.Key
				if !yield(info(oi), nil) {
					return errStop
				}
			}
			// minio-go ends the listing silently when ctx is done.
			return ctx.Err()
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(objstore.ObjectInfo{}, fmt.Errorf("miniostore: list %q: %w", prefix, mapErr(err)))
		}
	}
}

var errStop = errors.New("stop")

// Put implements objstore.Bucket.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	if opts == nil {
		opts = &objstore.PutOptions{}
	}
	if err := s3compat.CheckKey(key); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: %w", key, err)
	}
	if r == nil {
		r = bytes.NewReader(nil)
	}
	r = s3compat.ContextReader(ctx, r)
	first, eof, err := s3compat.ReadUpTo(r, int(s.partSize), opts.Size)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: reading body: %w", key, err)
	}
	if eof {
		if opts.Size > 0 && int64(len(first)) != opts.Size {
			return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: body has %d bytes, PutOptions.Size says %d", key, len(first), opts.Size)
		}
		return s.putSingle(ctx, key, first, opts)
	}
	return s.putMultipart(ctx, key, first, r, opts)
}

// putOptions returns minio-go's options with opts' conditions.
func putOptions(opts *objstore.PutOptions) minio.PutObjectOptions {
	po := minio.PutObjectOptions{ContentType: opts.ContentType, DisableContentSha256: true}
	if opts.IfNoneMatch {
		po.SetMatchETagExcept("*")
	}
	if opts.IfMatch != "" {
		po.SetMatchETag(opts.IfMatch)
	}
	return po
}

func (s *Store) putSingle(ctx context.Context, key string, data []byte, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	po := putOptions(opts)
	po.ServerSideEncryption = s.sse
	attempts := 0
	var ui minio.UploadInfo
	err := s.retry(ctx, func(ctx context.Context) error {
		attempts++
		var err error
		ui, err = s.core.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), "", "", po)
		return err
	})
	if err != nil {
		err = mapErr(err)
		if ok, info := s.ownEarlierWrite(ctx, key, err, attempts, opts, s3compat.MD5Hex(data)); ok {
			return info, nil
		}
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: %w", key, err)
	}
	return s.uploaded(ctx, key, ui, int64(len(data)))
}

// ownEarlierWrite reports whether a conditional write that failed its
// condition after being retried was refused because of its own first
// attempt, which succeeded though its response was lost.
func (s *Store) ownEarlierWrite(ctx context.Context, key string, err error, attempts int, opts *objstore.PutOptions, wantETag string) (bool, objstore.ObjectInfo) {
	if attempts < 2 || wantETag == "" || !errors.Is(err, objstore.ErrPrecondition) || !opts.IfNoneMatch && opts.IfMatch == "" {
		return false, objstore.ObjectInfo{}
	}
	info, serr := s.Stat(ctx, key)
	return serr == nil && info.ETag == wantETag, info
}

// uploaded turns an upload's result into ObjectInfo. S3 does not return
// the modification time on PUT; rather than a HEAD per write, ModTime is
// the local clock (see objstore.ObjectInfo).
func (s *Store) uploaded(ctx context.Context, key string, ui minio.UploadInfo, size int64) (objstore.ObjectInfo, error) {
	info := objstore.ObjectInfo{Key: key, Size: size, ETag: s3compat.TrimETag(ui.ETag), VersionID: ui.VersionID, ModTime: ui.LastModified}
	if info.ModTime.IsZero() {
		info.ModTime = time.Now()
	}
	return info, nil
}

func (s *Store) putMultipart(ctx context.Context, key string, first []byte, r io.Reader, opts *objstore.PutOptions) (_ objstore.ObjectInfo, err error) {
	po := minio.PutObjectOptions{ContentType: opts.ContentType, ServerSideEncryption: s.sse, DisableContentSha256: true}
	var uploadID string
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		uploadID, err = s.core.NewMultipartUpload(ctx, s.bucket, key, po)
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: starting multipart upload: %w", key, mapErr(err))
	}
	defer func() {
		if err != nil {
			// Abort even when ctx is cancelled, so parts do not linger.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if aerr := s.core.AbortMultipartUpload(actx, s.bucket, key, uploadID); aerr != nil {
				err = errors.Join(err, fmt.Errorf("miniostore: aborting upload of %q: %w", key, aerr))
			}
		}
	}()
	parts, total, err := s3compat.UploadParts(ctx, first, r, int(s.partSize), s.conc,
		func(ctx context.Context, number int, data []byte) (string, error) {
			var p minio.ObjectPart
			err := s.retry(ctx, func(ctx context.Context) error {
				var err error
				p, err = s.core.PutObjectPart(ctx, s.bucket, key, uploadID, number, bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{DisableContentSha256: true})
				return err
			})
			return p.ETag, mapErr(err)
		})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: %w", key, err)
	}
	if opts.Size > 0 && total != opts.Size {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: body has %d bytes, PutOptions.Size says %d", key, total, opts.Size)
	}
	complete := make([]minio.CompletePart, len(parts))
	etags := make([]string, len(parts))
	for i, p := range parts {
		complete[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag}
		etags[i] = p.ETag
	}
	// The conditions go on the completion: that is where S3 and MinIO
	// check them atomically with making the object visible.
	cpo := putOptions(opts)
	attempts := 0
	var ui minio.UploadInfo
	err = s.retry(ctx, func(ctx context.Context) error {
		attempts++
		var err error
		ui, err = s.core.CompleteMultipartUpload(ctx, s.bucket, key, uploadID, slices.Clone(complete), cpo)
		return err
	})
	if err != nil {
		err = mapErr(err)
		if ok, info := s.ownEarlierWrite(ctx, key, err, attempts, opts, s3compat.MultipartETag(etags)); ok {
			return info, nil
		}
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: completing multipart upload: %w", key, err)
	}
	return s.uploaded(ctx, key, ui, total)
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
			return objstore.ObjectInfo{}, fmt.Errorf("miniostore: copy %q to %q: %w", src, dst, err)
		}
	}
	srcInfo, err := s.Stat(ctx, src)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: copy to %q: %w", dst, err)
	}
	if opts.IfMatch != "" && opts.IfMatch != srcInfo.ETag {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: copy %q to %q: source ETag is %s, not %s: %w", src, dst, srcInfo.ETag, opts.IfMatch, objstore.ErrPrecondition)
	}
	if srcInfo.Size > copyPartThreshold {
		return s.copyMultipart(ctx, dst, src, srcInfo)
	}
	var oi minio.ObjectInfo
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		oi, err = s.core.CopyObject(ctx, s.bucket, src, s.bucket, dst, s.sseHeaders(),
			minio.CopySrcOptions{Bucket: s.bucket, Object: src, MatchETag: s3compat.QuoteETag(srcInfo.ETag)}, minio.PutObjectOptions{})
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: copy %q to %q: %w", src, dst, mapErr(err))
	}
	info := objstore.ObjectInfo{Key: dst, Size: srcInfo.Size, ETag: s3compat.TrimETag(oi.ETag), VersionID: oi.VersionID, ModTime: oi.LastModified}
	return info, nil
}

// sseHeaders are the encryption headers of a copy's destination (a copy
// does not keep its source's encryption, and Core.CopyObject takes them
// as metadata); nil when the bucket's default applies.
func (s *Store) sseHeaders() map[string]string {
	if s.sse == nil {
		return nil
	}
	h := http.Header{}
	s.sse.Marshal(h)
	m := make(map[string]string, len(h))
	for k := range h {
		m[k] = h.Get(k)
	}
	return m
}

// copyPartThreshold is the largest source copied with one CopyObject (S3's
// limit); a variable so that tests can exercise the multipart copy.
var copyPartThreshold int64 = s3compat.MaxSinglePutSize

// copyPartSize is the size of the parts of a multipart copy.
var copyPartSize int64 = 512 << 20

func (s *Store) copyMultipart(ctx context.Context, dst, src string, srcInfo objstore.ObjectInfo) (_ objstore.ObjectInfo, err error) {
	var uploadID string
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		uploadID, err = s.core.NewMultipartUpload(ctx, s.bucket, dst, minio.PutObjectOptions{ServerSideEncryption: s.sse})
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: copy %q to %q: %w", src, dst, mapErr(err))
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			s.core.AbortMultipartUpload(actx, s.bucket, dst, uploadID)
		}
	}()
	n := int((srcInfo.Size + copyPartSize - 1) / copyPartSize)
	complete := make([]minio.CompletePart, n)
	pin := map[string]string{"x-amz-copy-source-if-match": s3compat.QuoteETag(srcInfo.ETag)}
	err = forEachPart(ctx, n, s.conc, func(ctx context.Context, i int) error {
		off := int64(i) * copyPartSize
		length := min(copyPartSize, srcInfo.Size-off)
		return s.retry(ctx, func(ctx context.Context) error {
			p, err := s.core.CopyObjectPart(ctx, s.bucket, src, s.bucket, dst, uploadID, i+1, off, length, pin)
			complete[i] = p
			return err
		})
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: copy %q to %q: %w", src, dst, mapErr(err))
	}
	var ui minio.UploadInfo
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		ui, err = s.core.CompleteMultipartUpload(ctx, s.bucket, dst, uploadID, slices.Clone(complete), minio.PutObjectOptions{})
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: copy %q to %q: %w", src, dst, mapErr(err))
	}
	return s.uploaded(ctx, dst, ui, srcInfo.Size)
}

// Delete implements objstore.Bucket.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s3compat.CheckKey(key); err != nil {
		return fmt.Errorf("miniostore: delete %q: %w", key, err)
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		return s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	})
	if err != nil && !errors.Is(mapErr(err), objstore.ErrNotFound) {
		return fmt.Errorf("miniostore: delete %q: %w", key, mapErr(err))
	}
	return nil
}

func info(oi minio.ObjectInfo) objstore.ObjectInfo {
	return objstore.ObjectInfo{
		Key:       oi.Key,
		Size:      oi.Size,
		ETag:      s3compat.TrimETag(oi.ETag),
		VersionID: oi.VersionID,
		ModTime:   oi.LastModified,
	}
}
