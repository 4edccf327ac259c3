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
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/internal/s3compat"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

var _ objstore.Bucket = (*Store)(nil)
var _ objstore.Describer = (*Store)(nil)
var _ objstore.BatchDeleter = (*Store)(nil)
var _ objstore.Uploader = (*Store)(nil)
var _ objstore.DirLister = (*Store)(nil)

// DefaultPartSize is the part size of multipart uploads unless
// Config.PartSize says otherwise. minio-go's own default for bodies of
// unknown size is over 500 MiB per part, too much memory per upload.
const DefaultPartSize = s3compat.DefaultPartSize

// DefaultConcurrency is the number of parts uploaded at once.
const DefaultConcurrency = s3compat.DefaultConcurrency

// Config says how to reach one bucket.
type Config struct {
	// Endpoint is the service's URL (http:// or https://, no path). Empty
	// means AWS S3 (https://s3.amazonaws.com, virtual-host addressing).
	// Other endpoints use path-style addressing, as MinIO expects.
	Endpoint string
	// Bucket is the bucket's name. Required.
	Bucket string
	// Region is the bucket's region. Empty means "us-east-1" for custom
	// endpoints and the bucket's region looked up by minio-go for AWS.
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
	// DialControl, when set (and Transport is not), is the Control
	// function of every connection to the service (for example
	// objstore.RefuseMetadataDial). The credential chain's own requests
	// (the instance metadata service, on EC2) do not go through it.
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

// Store is one bucket reached through minio-go. The S3 algorithms it
// shares with s3store (retries, error mapping, Copy, conditional writes)
// run in s3compat over sdk, its minio-go calls.
type Store struct {
	client   *minio.Client
	core     minio.Core
	compat   *s3compat.Backend
	bucket   string
	partSize int64
	conc     int
	sse      encrypt.ServerSide // nil: the bucket's default
}

// New checks cfg, connects and checks that the bucket exists (ErrNotFound
// when it does not).
func New(ctx context.Context, cfg Config) (*Store, error) {
	return newStore(ctx, cfg, s3compat.DefaultCopyLimits)
}

func newStore(ctx context.Context, cfg Config, copyLimits s3compat.CopyLimits) (*Store, error) {
	endpoint := cfg.Endpoint
	aws := endpoint == ""
	if aws {
		endpoint = "https://s3.amazonaws.com"
	}
	shared := s3compat.Config{Endpoint: endpoint, Bucket: cfg.Bucket, PartSize: cfg.PartSize, Concurrency: cfg.Concurrency, Encryption: cfg.Encryption}
	if err := shared.Check(); err != nil {
		return nil, fmt.Errorf("miniostore: %w", err)
	}
	u, err := s3compat.ParseEndpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("miniostore: %w", err)
	}
	region := cfg.Region
	if region == "" && !aws {
		region = "us-east-1"
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
	transport := cfg.Transport
	if transport == nil && cfg.DialControl != nil {
		tr, err := minio.DefaultTransport(u.Scheme == "https")
		if err != nil {
			return nil, fmt.Errorf("miniostore: %w", err)
		}
		tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: cfg.DialControl}).DialContext
		transport = tr
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Region:       region,
		BucketLookup: lookup,
		Transport:    transport,
		MaxRetries:   1, // objstore.Retry retries
	})
	if err != nil {
		return nil, fmt.Errorf("miniostore: %w", err)
	}
	s := &Store{
		client:   client,
		core:     minio.Core{Client: client},
		bucket:   cfg.Bucket,
		partSize: shared.PartSize,
		conc:     shared.Concurrency,
		sse:      sse,
	}
	s.compat = &s3compat.Backend{
		Name:        "miniostore",
		API:         sdk{s},
		Errors:      readError,
		Concurrency: shared.Concurrency,
		CopyLimits:  copyLimits,
		OpaqueETags: cfg.Encryption.Mode != "",
		// MinIO lists open uploads by exact key or for the whole bucket.
		UploadsByKeyOnly: !aws,
	}
	exists := true
	err = s.compat.Retry(ctx, func(ctx context.Context) error {
		if cfg.CheckPrefix != "" {
			return s.listOne(ctx, cfg.CheckPrefix)
		}
		var err error
		exists, err = client.BucketExists(ctx, cfg.Bucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("miniostore: bucket %q at %s: %w", cfg.Bucket, endpoint, s.compat.MapErr(err))
	}
	if !exists {
		return nil, fmt.Errorf("miniostore: bucket %q at %s: %w", cfg.Bucket, endpoint, objstore.ErrNotFound)
	}
	return s, nil
}

// listOne lists at most one key under prefix (NoSuchBucket when the
// bucket does not exist).
func (s *Store) listOne(ctx context.Context, prefix string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, MaxKeys: 1}) {
		return obj.Err
	}
	return nil
}

// Describe returns "s3://bucket".
func (s *Store) Describe() string { return "s3://" + s.bucket }

// Client returns the underlying minio-go client, for what the objstore
// contract does not cover (bucket notifications).
func (s *Store) Client() *minio.Client { return s.client }

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
		var gopts minio.GetObjectOptions
		if rangeHeader != "" {
			gopts.Set("Range", rangeHeader)
		}
		if ifMatch != "" {
			gopts.Set("If-Match", ifMatch)
		}
		body, oi, header, err := s.core.GetObject(ctx, s.bucket, key, gopts)
		return body, info(oi), header.Get("Content-Range"), err
	})
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
			yield(objstore.ObjectInfo{}, fmt.Errorf("miniostore: list %q: %w", prefix, s.compat.MapErr(err)))
		}
	}
}

var errStop = errors.New("stop")

// ListDirs implements objstore.DirLister: a listing with the delimiter
// "/" (minio-go's non-recursive listing), whose common prefixes come as
// keys ending in "/". A page that fails with a transient error is retried
// after the last directory yielded.
func (s *Store) ListDirs(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		last := ""
		fetchOwner := false
		err := s.retry(ctx, func(ctx context.Context) error {
			for oi := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{
				Prefix:     prefix,
				StartAfter: last,
				FetchOwner: &fetchOwner,
			}) {
				if oi.Err != nil {
					return oi.Err
				}
				if !strings.HasSuffix(oi.Key, "/") || len(oi.Key) <= len(prefix) || oi.Key <= last {
					continue // an object, or a directory already yielded
				}
				last = oi.Key
				if !yield(oi.Key, nil) {
					return errStop
				}
			}
			return ctx.Err()
		})
		if err != nil && !errors.Is(err, errStop) {
			yield("", fmt.Errorf("miniostore: list dirs %q: %w", prefix, s.compat.MapErr(err)))
		}
	}
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
	if eof {
		return s.putSingle(ctx, key, first, opts)
	}
	return s.putMultipart(ctx, key, first, rest, opts)
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
	var ui minio.UploadInfo
	own, ok, err := s.compat.ConditionalWrite(ctx, key, opts, s3compat.MD5Hex(data), func(ctx context.Context) error {
		var err error
		ui, err = s.core.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), "", "", po)
		return err
	})
	switch {
	case ok:
		return own, nil
	case err != nil:
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: %w", key, err)
	}
	return s3compat.Written(key, ui.ETag, ui.VersionID, int64(len(data)), ui.LastModified), nil
}

// putMultipart drives the upload itself (see the package doc): the
// conditions go on the completion, where S3 and MinIO check them
// atomically with making the object visible.
func (s *Store) putMultipart(ctx context.Context, key string, first []byte, r io.Reader, opts *objstore.PutOptions) (_ objstore.ObjectInfo, err error) {
	var uploadID string
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		uploadID, err = s.core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: opts.ContentType, ServerSideEncryption: s.sse, DisableContentSha256: true})
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: starting multipart upload: %w", key, s.compat.MapErr(err))
	}
	defer func() {
		if err != nil {
			err = s.compat.Abort(ctx, key, uploadID, err)
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
			return p.ETag, s.compat.MapErr(err)
		})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: %w", key, err)
	}
	if opts.Size > 0 && total != opts.Size {
		return objstore.ObjectInfo{}, s.compat.SizeMismatch(key, total, opts.Size)
	}
	etags := make([]string, len(parts))
	for i, p := range parts {
		etags[i] = p.ETag
	}
	var etag, versionID string
	own, ok, err := s.compat.ConditionalWrite(ctx, key, opts, s3compat.MultipartETag(etags), func(ctx context.Context) error {
		var err error
		etag, versionID, err = sdk{s}.CompleteMultipartUpload(ctx, key, uploadID, parts, opts)
		return err
	})
	switch {
	case ok:
		return own, nil
	case err != nil:
		return objstore.ObjectInfo{}, fmt.Errorf("miniostore: put %q: completing multipart upload: %w", key, err)
	}
	return s3compat.Written(key, etag, versionID, total, time.Time{}), nil
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

// ListUploads implements objstore.Uploader. Against an endpoint other than
// AWS it lists the whole bucket's open uploads and keeps those under
// prefix: MinIO answers a prefix shorter than a whole key with none.
func (s *Store) ListUploads(ctx context.Context, prefix string) iter.Seq2[objstore.Upload, error] {
	return s.compat.ListUploads(ctx, prefix)
}

// Copy implements objstore.Bucket. Sources up to 5 GiB are copied with one
// CopyObject; larger ones part by part (UploadPartCopy), pinned to the
// source's ETag.
func (s *Store) Copy(ctx context.Context, dst, src string, opts *objstore.CopyOptions) (objstore.ObjectInfo, error) {
	return s.compat.Copy(ctx, dst, src, opts)
}

// Delete implements objstore.Bucket.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.compat.Delete(ctx, key, func(ctx context.Context) error {
		return s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	})
}

// DeleteMany implements objstore.BatchDeleter with minio-go's
// RemoveObjects: one DeleteObjects request per 1,000 keys. minio-go drops
// a key's InvalidArgument and NoSuchVersion errors (it reads them as a
// missing version).
func (s *Store) DeleteMany(ctx context.Context, keys []string) error {
	return s.compat.DeleteMany(ctx, keys, func(ctx context.Context, keys []string) ([]objstore.KeyError, error) {
		objects := func(yield func(minio.ObjectInfo) bool) {
			for _, k := range keys {
				if !yield(minio.ObjectInfo{Key: k}) {
					return
				}
			}
		}
		results, err := s.client.RemoveObjectsWithIter(ctx, s.bucket, objects, minio.RemoveObjectsOptions{})
		if err != nil {
			return nil, err
		}
		var failed []objstore.KeyError
		for r := range results {
			switch {
			case r.Err == nil:
			case r.ObjectName == "":
				return nil, r.Err // the response could not be read
			default:
				failed = append(failed, objstore.KeyError{Key: r.ObjectName, Err: r.Err})
			}
		}
		return failed, nil
	})
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
