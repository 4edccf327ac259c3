package s3compat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/objstore"
	"golang.org/x/sync/errgroup"
)

// DefaultPartSize is both backends' part size of multipart uploads unless
// their Config says otherwise.
const DefaultPartSize = 16 << 20

// DefaultConcurrency is both backends' number of parts in flight.
const DefaultConcurrency = 4

// Config is what both backends' Configs share and check alike.
type Config struct {
	Endpoint    string
	Bucket      string
	PartSize    int64
	Concurrency int
	Encryption  objstore.Encryption
}

// Check fills Config's defaults (PartSize, Concurrency) and checks it
// against S3's limits. Errors name the field; the caller adds its name.
// An empty Endpoint is valid (AWS S3); any other must be
// http(s)://host[:port] without a path.
func (c *Config) Check() error {
	if c.Bucket == "" {
		return errors.New("Config.Bucket is empty")
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartSize < MinPartSize || c.PartSize > MaxSinglePutSize {
		return fmt.Errorf("Config.PartSize %d is outside S3's limits [5 MiB, 5 GiB]", c.PartSize)
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Concurrency < 0 {
		return fmt.Errorf("Config.Concurrency %d is negative", c.Concurrency)
	}
	if err := c.Encryption.Validate(); err != nil {
		return fmt.Errorf("Config.Encryption: %w", err)
	}
	if c.Endpoint != "" {
		if _, err := ParseEndpoint(c.Endpoint); err != nil {
			return err
		}
	}
	return nil
}

// ParseEndpoint parses a service URL of the form http(s)://host[:port].
func ParseEndpoint(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("Config.Endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("Config.Endpoint %q: want http(s)://host[:port] without a path", endpoint)
	}
	return u, nil
}

// API is the part of one backend's SDK that the shared algorithms call:
// one attempt each (Backend retries), errors as the SDK returns them
// (Backend maps them), ETags with or without quotes.
type API interface {
	// HeadObject returns key's size, ETag, version and modification time.
	HeadObject(ctx context.Context, key string) (objstore.ObjectInfo, error)
	// CopyObject copies src to dst in one request, only if src's ETag is
	// still srcETag, with the store's encryption.
	CopyObject(ctx context.Context, dst, src, srcETag string) (objstore.ObjectInfo, error)
	// CreateMultipartUpload starts an upload of key with the store's
	// encryption and contentType ("" for none).
	CreateMultipartUpload(ctx context.Context, key, contentType string) (uploadID string, err error)
	// UploadPart sends data as part number of the upload.
	UploadPart(ctx context.Context, key, uploadID string, number int, data []byte) (etag string, err error)
	// ListMultipartUploads lists one page of the open uploads under
	// prefix, starting after the markers ("" for the first page).
	ListMultipartUploads(ctx context.Context, prefix, keyMarker, uploadIDMarker string) (UploadsPage, error)
	// UploadPartCopy copies length bytes of src from offset as part
	// number, only if src's ETag is still srcETag.
	UploadPartCopy(ctx context.Context, dst, src, uploadID string, number int, offset, length int64, srcETag string) (etag string, err error)
	// CompleteMultipartUpload completes the upload with opts' conditions
	// (nil: none), which S3 checks atomically with the commit.
	CompleteMultipartUpload(ctx context.Context, key, uploadID string, parts []Part, opts *objstore.PutOptions) (etag, versionID string, err error)
	// AbortMultipartUpload drops the upload and its parts.
	AbortMultipartUpload(ctx context.Context, key, uploadID string) error
}

// ErrorReader returns the S3 error code and HTTP status an SDK error
// carries; ok is false when err holds no S3 response (a network error).
type ErrorReader func(err error) (code string, status int, ok bool)

// CopyLimits say when and how Copy goes part by part.
type CopyLimits struct {
	// Threshold is the largest source copied with one CopyObject.
	Threshold int64
	// PartSize is the size of the parts of a multipart copy.
	PartSize int64
}

// DefaultCopyLimits are S3's: one CopyObject up to 5 GiB, else parts of
// 512 MiB.
var DefaultCopyLimits = CopyLimits{Threshold: MaxSinglePutSize, PartSize: 512 << 20}

// Backend runs the algorithms both S3 backends share (retries, error
// mapping, Copy, recognising a write's own lost first attempt) over one
// backend's API. Its errors start with Name.
type Backend struct {
	Name        string // "miniostore"
	API         API
	Errors      ErrorReader
	Concurrency int
	CopyLimits  CopyLimits
	// Retryable, when set, accepts more errors as transient than
	// Backend.Retryable does (an SDK's own classification).
	Retryable func(error) bool
	// OpaqueETags is set when the store encrypts objects, so that an
	// ETag is not the MD5 of the bytes (see CompleteUpload).
	OpaqueETags bool
	// UploadsByKeyOnly is set for stores that list open uploads only by
	// exact key or for the whole bucket (MinIO: a ListMultipartUploads
	// with a shorter prefix returns none, measured against the pinned
	// build); ListUploads then lists the bucket's and filters.
	UploadsByKeyOnly bool
}

// Policy returns the retry policy of every request of the backend.
func (b *Backend) Policy() objstore.RetryPolicy {
	return objstore.DefaultRetryPolicy(b.retryable, b.throttled)
}

// throttled reports whether err is the store asking for fewer requests
// (S3's 503 SlowDown, a 429, the SDKs' throttling codes): the policy
// gives those more attempts than other transient errors.
func (b *Backend) throttled(err error) bool {
	code, status, ok := b.Errors(err)
	if !ok {
		return false
	}
	switch code {
	case "SlowDown", "SlowDownRead", "SlowDownWrite", "Throttling", "ThrottlingException",
		"RequestLimitExceeded", "RequestThrottled", "TooManyRequests":
		return true
	}
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable && code == ""
}

// Retry runs op, one SDK request, under the backend's retry policy.
func (b *Backend) Retry(ctx context.Context, op func(ctx context.Context) error) error {
	return objstore.Retry(ctx, op, b.Policy())
}

// MapErr wraps an SDK error with the objstore sentinel it means, keeping
// the original error in the chain.
func (b *Backend) MapErr(err error) error {
	if err == nil {
		return nil
	}
	code, status, ok := b.Errors(err)
	if !ok {
		return err
	}
	switch {
	case code == "NoSuchKey" || code == "NoSuchBucket" || code == "NotFound" || status == http.StatusNotFound:
		return fmt.Errorf("%w: %w", objstore.ErrNotFound, err)
	case deniedCodes[code] || status == http.StatusForbidden:
		return &DeniedError{Code: code, Message: sdkMessage(err), Err: err}
	case code == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", objstore.ErrPrecondition, err)
	case code == "KeyTooLongError" || code == "InvalidObjectName" || code == "XMinioInvalidObjectName" ||
		code == "XMinioInvalidResourceName" || code == "XMinioObjectExistsAsDirectory" || code == "XMinioParentIsObject":
		return fmt.Errorf("%w: %w", objstore.ErrInvalidKey, err)
	}
	return err
}

// deniedCodes are S3's refusals of a request to the credentials it was
// signed with: unknown or expired keys, a wrong secret, a policy that
// does not allow it. Asking again does not help.
var deniedCodes = map[string]bool{
	"AccessDenied": true, "AllAccessDisabled": true, "InvalidAccessKeyId": true, "SignatureDoesNotMatch": true,
	"ExpiredToken": true, "InvalidToken": true, "TokenRefreshRequired": true, "InvalidClientTokenId": true,
	"AccountProblem": true, "RequestTimeTooSkewed": true,
}

// DeniedError is S3's refusal of a request to its credentials (see
// deniedCodes): it wraps objstore.ErrAccessDenied and the SDK's error, and
// its message is S3's code and message alone, without the SDK's request
// details.
type DeniedError struct {
	Code    string // S3's error code; empty for a HEAD request's bare 403
	Message string
	Err     error
}

func (e *DeniedError) Error() string {
	switch {
	case e.Code == "":
		return "access denied (HTTP 403)"
	case e.Message == "" || e.Message == e.Code:
		return e.Code
	}
	return e.Code + ": " + e.Message
}

func (e *DeniedError) Unwrap() []error { return []error{objstore.ErrAccessDenied, e.Err} }

// sdkMessage is S3's own message in an SDK error: the AWS SDK's API
// errors carry it apart (ErrorMessage), minio-go's error is only it.
func sdkMessage(err error) string {
	var api interface{ ErrorMessage() string }
	if errors.As(err, &api) {
		return api.ErrorMessage()
	}
	return err.Error()
}

// retryable reports whether an SDK error is worth retrying: throttling,
// server errors, timeouts, 409 ConditionalRequestConflict (AWS asks to
// retry a conditional write that raced another) and dropped connections.
func (b *Backend) retryable(err error) bool {
	if errors.Is(err, objstore.ErrMetadataAddress) {
		return false // refused by the dial guard: asking again cannot pass
	}
	if b.Retryable != nil && b.Retryable(err) || b.throttled(err) {
		return true
	}
	if code, status, ok := b.Errors(err); ok {
		switch code {
		case "InternalError", "RequestTimeout", "ServiceUnavailable", "XMinioServerNotInitialized",
			"ConditionalRequestConflict":
			return true
		}
		switch status {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	}
	return TransientNetworkError(err)
}

// InvalidRange reports whether err is S3's answer to a range that starts
// at or past the end of the object.
func (b *Backend) InvalidRange(err error) bool {
	code, status, ok := b.Errors(err)
	return ok && (code == "InvalidRange" || status == http.StatusRequestedRangeNotSatisfiable)
}

// Stat implements objstore.Bucket's Stat.
func (b *Backend) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if err := CheckKey(key); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("%s: stat %q: %w", b.Name, key, err)
	}
	var info objstore.ObjectInfo
	err := b.Retry(ctx, func(ctx context.Context) error {
		var err error
		info, err = b.API.HeadObject(ctx, key)
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("%s: stat %q: %w", b.Name, key, b.MapErr(err))
	}
	info.Key, info.ETag = key, TrimETag(info.ETag)
	return info, nil
}

// GetFunc is one backend's GET of key: rangeHeader and ifMatch are the
// Range and If-Match values to send ("" for none); contentRange is the
// response's Content-Range.
type GetFunc func(ctx context.Context, rangeHeader, ifMatch string) (body io.ReadCloser, info objstore.ObjectInfo, contentRange string, err error)

// Get implements objstore.Bucket's Get over get: the range and condition
// of opts, retries, error mapping, the object's whole size from
// Content-Range, and a range that starts at or past the end answered with
// an empty body once the object's existence and IfMatch are checked (see
// objstore.GetOptions).
func (b *Backend) Get(ctx context.Context, key string, opts *objstore.GetOptions, get GetFunc) (io.ReadCloser, objstore.ObjectInfo, error) {
	if opts == nil {
		opts = &objstore.GetOptions{}
	}
	if err := CheckKey(key); err != nil {
		return nil, objstore.ObjectInfo{}, fmt.Errorf("%s: get %q: %w", b.Name, key, err)
	}
	ifMatch := ""
	if opts.IfMatch != "" {
		ifMatch = QuoteETag(opts.IfMatch)
	}
	var (
		body         io.ReadCloser
		info         objstore.ObjectInfo
		contentRange string
	)
	err := b.Retry(ctx, func(ctx context.Context) error {
		var err error
		body, info, contentRange, err = get(ctx, RangeHeader(opts.Offset, opts.Length), ifMatch)
		return err
	})
	if err != nil {
		if b.InvalidRange(err) {
			return b.getPastEnd(ctx, key, opts.IfMatch)
		}
		return nil, objstore.ObjectInfo{}, fmt.Errorf("%s: get %q: %w", b.Name, key, b.MapErr(err))
	}
	info.Key, info.ETag = key, TrimETag(info.ETag)
	if total, ok := TotalFromContentRange(contentRange); ok {
		info.Size = total
	}
	return body, info, nil
}

func (b *Backend) getPastEnd(ctx context.Context, key, ifMatch string) (io.ReadCloser, objstore.ObjectInfo, error) {
	info, err := b.Stat(ctx, key)
	if err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	if ifMatch != "" && ifMatch != info.ETag {
		return nil, objstore.ObjectInfo{}, fmt.Errorf("%s: get %q: ETag is %s, not %s: %w", b.Name, key, info.ETag, ifMatch, objstore.ErrPrecondition)
	}
	return EmptyBody(), info, nil
}

// Delete runs del (one DeleteObject) under the retry policy; a key that
// is absent is not an error.
func (b *Backend) Delete(ctx context.Context, key string, del func(ctx context.Context) error) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("%s: delete %q: %w", b.Name, key, err)
	}
	if err := b.MapErr(b.Retry(ctx, del)); err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return fmt.Errorf("%s: delete %q: %w", b.Name, key, err)
	}
	return nil
}

// FirstPart starts a Put: it checks the key and reads the body's first
// part (at most partSize bytes). When eof, first is the whole body,
// checked against opts.Size; otherwise the body goes on in rest. rest
// fails once ctx is done.
func (b *Backend) FirstPart(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions, partSize int64) (first []byte, rest io.Reader, eof bool, err error) {
	if err := CheckKey(key); err != nil {
		return nil, nil, false, fmt.Errorf("%s: put %q: %w", b.Name, key, err)
	}
	if r == nil {
		r = strings.NewReader("")
	}
	rest = objstore.ContextReader(ctx, r)
	if bb, ok := r.(objstore.BytesBody); ok {
		// A body in memory goes as it is, not copied into a part buffer
		// (a worker's output files: grep's broad run on MinIO copied
		// every output byte so).
		if body := bb.Bytes(); int64(len(body)) <= partSize {
			if opts.Size > 0 && int64(len(body)) != opts.Size {
				return nil, nil, false, b.SizeMismatch(key, int64(len(body)), opts.Size)
			}
			return body, rest, true, nil
		}
	}
	first, eof, err = ReadUpTo(rest, int(partSize), opts.Size)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%s: put %q: reading body: %w", b.Name, key, err)
	}
	if eof && opts.Size > 0 && int64(len(first)) != opts.Size {
		return nil, nil, false, b.SizeMismatch(key, int64(len(first)), opts.Size)
	}
	return first, rest, eof, nil
}

// SizeMismatch is the error of a body whose length is not PutOptions.Size.
func (b *Backend) SizeMismatch(key string, got, want int64) error {
	return fmt.Errorf("%s: put %q: body has %d bytes, PutOptions.Size says %d", b.Name, key, got, want)
}

// ConditionalWrite runs write (one request writing key, which returns the
// object's ETag when it succeeds) under the retry policy. When the write
// ends refused by its condition after more than one attempt, and the
// object now has wantETag (the ETag the write itself would give: an MD5,
// or a multipart ETag), the refusal came from this write's own first
// attempt, which succeeded though its response was lost: ConditionalWrite
// then succeeds with the object's info. Errors are mapped, not prefixed.
func (b *Backend) ConditionalWrite(ctx context.Context, key string, opts *objstore.PutOptions, wantETag string, write func(ctx context.Context) error) (own objstore.ObjectInfo, ok bool, err error) {
	attempts := 0
	err = b.MapErr(b.Retry(ctx, func(ctx context.Context) error {
		attempts++
		return write(ctx)
	}))
	if err == nil {
		return objstore.ObjectInfo{}, false, nil
	}
	if info, ok := b.OwnEarlierWrite(ctx, key, err, attempts, opts.IfNoneMatch || opts.IfMatch != "", wantETag); ok {
		return info, true, nil
	}
	return objstore.ObjectInfo{}, false, err
}

// OwnEarlierWrite reports whether a conditional write that failed its
// condition (err) after attempts attempts was refused because of its own
// first attempt, which succeeded though its response was lost: the object
// now has the ETag the write would give it.
func (b *Backend) OwnEarlierWrite(ctx context.Context, key string, err error, attempts int, conditional bool, wantETag string) (objstore.ObjectInfo, bool) {
	if attempts < 2 || !conditional || wantETag == "" || !errors.Is(b.MapErr(err), objstore.ErrPrecondition) {
		return objstore.ObjectInfo{}, false
	}
	info, serr := b.Stat(ctx, key)
	return info, serr == nil && info.ETag == wantETag
}

// Written returns the ObjectInfo of a written object. S3 does not return
// the modification time on PUT; rather than a HEAD per write, ModTime is
// the local clock when the SDK gives none (see objstore.ObjectInfo).
func Written(key, etag, versionID string, size int64, modTime time.Time) objstore.ObjectInfo {
	if modTime.IsZero() {
		modTime = time.Now()
	}
	return objstore.ObjectInfo{Key: key, Size: size, ETag: TrimETag(etag), VersionID: versionID, ModTime: modTime}
}

// Abort drops an upload even when ctx is cancelled, so that parts do not
// linger; its error is joined to err.
func (b *Backend) Abort(ctx context.Context, key, uploadID string, err error) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	aerr := b.Retry(actx, func(ctx context.Context) error { return b.API.AbortMultipartUpload(ctx, key, uploadID) })
	if aerr != nil {
		return errors.Join(err, fmt.Errorf("%s: aborting upload of %q: %w", b.Name, key, b.MapErr(aerr)))
	}
	return err
}

// Copy implements objstore.Bucket's Copy. Sources up to
// CopyLimits.Threshold are copied with one CopyObject; larger ones part by
// part (UploadPartCopy), every request pinned to the source's ETag.
func (b *Backend) Copy(ctx context.Context, dst, src string, opts *objstore.CopyOptions) (objstore.ObjectInfo, error) {
	if opts == nil {
		opts = &objstore.CopyOptions{}
	}
	for _, k := range []string{dst, src} {
		if err := CheckKey(k); err != nil {
			return objstore.ObjectInfo{}, fmt.Errorf("%s: copy %q to %q: %w", b.Name, src, dst, err)
		}
	}
	srcInfo, err := b.Stat(ctx, src)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("%s: copy to %q: %w", b.Name, dst, err)
	}
	if opts.IfMatch != "" && opts.IfMatch != srcInfo.ETag {
		return objstore.ObjectInfo{}, fmt.Errorf("%s: copy %q to %q: source ETag is %s, not %s: %w", b.Name, src, dst, srcInfo.ETag, opts.IfMatch, objstore.ErrPrecondition)
	}
	limits := b.CopyLimits
	if limits.Threshold <= 0 || limits.PartSize <= 0 {
		limits = DefaultCopyLimits
	}
	var info objstore.ObjectInfo
	if srcInfo.Size > limits.Threshold {
		info, err = b.copyMultipart(ctx, dst, src, srcInfo, limits.PartSize)
	} else {
		err = b.Retry(ctx, func(ctx context.Context) error {
			var err error
			info, err = b.API.CopyObject(ctx, dst, src, srcInfo.ETag)
			return err
		})
		info = Written(dst, info.ETag, info.VersionID, srcInfo.Size, info.ModTime)
	}
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("%s: copy %q to %q: %w", b.Name, src, dst, b.MapErr(err))
	}
	return info, nil
}

func (b *Backend) copyMultipart(ctx context.Context, dst, src string, srcInfo objstore.ObjectInfo, partSize int64) (_ objstore.ObjectInfo, err error) {
	var uploadID string
	err = b.Retry(ctx, func(ctx context.Context) error {
		var err error
		uploadID, err = b.API.CreateMultipartUpload(ctx, dst, "")
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	defer func() {
		if err != nil {
			err = b.Abort(ctx, dst, uploadID, err)
		}
	}()
	n := int((srcInfo.Size + partSize - 1) / partSize)
	parts := make([]Part, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(b.Concurrency, 1))
	for i := range n {
		g.Go(func() error {
			off := int64(i) * partSize
			length := min(partSize, srcInfo.Size-off)
			return b.Retry(gctx, func(ctx context.Context) error {
				etag, err := b.API.UploadPartCopy(ctx, dst, src, uploadID, i+1, off, length, srcInfo.ETag)
				parts[i] = Part{Number: i + 1, ETag: etag, Size: length}
				return err
			})
		})
	}
	if err := g.Wait(); err != nil {
		return objstore.ObjectInfo{}, err
	}
	var etag, versionID string
	err = b.Retry(ctx, func(ctx context.Context) error {
		var err error
		etag, versionID, err = b.API.CompleteMultipartUpload(ctx, dst, uploadID, parts, nil)
		return err
	})
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	return Written(dst, etag, versionID, srcInfo.Size, time.Time{}), nil
}

// DeleteBatch is one DeleteObjects request (one attempt) of at most
// objstore.MaxDeleteBatch keys: it returns the keys the store reported as
// not deleted, each with its SDK error, or err when the request failed as
// a whole.
type DeleteBatch func(ctx context.Context, keys []string) (failed []objstore.KeyError, err error)

// DeleteMany implements objstore.BatchDeleter's DeleteMany over del: keys
// go in batches of objstore.MaxDeleteBatch, a failed request and the keys
// that failed with a transient error are retried under the backend's
// policy, and a key reported missing counts as deleted.
func (b *Backend) DeleteMany(ctx context.Context, keys []string, del DeleteBatch) error {
	var failed []objstore.KeyError
	fail := func(key string, err error) {
		failed = append(failed, objstore.KeyError{Key: key, Err: fmt.Errorf("%s: delete %q: %w", b.Name, key, err)})
	}
	valid := make([]string, 0, len(keys))
	for _, k := range keys {
		if err := CheckKey(k); err != nil {
			fail(k, err)
			continue
		}
		valid = append(valid, k)
	}
	for batch := range slices.Chunk(valid, objstore.MaxDeleteBatch) {
		pending := batch
		err := b.Retry(ctx, func(ctx context.Context) error {
			bad, err := del(ctx, pending)
			if err != nil {
				return err
			}
			var again []string
			var transient error
			for _, ke := range bad {
				switch {
				case b.retryable(ke.Err):
					again, transient = append(again, ke.Key), ke.Err
				case !errors.Is(b.MapErr(ke.Err), objstore.ErrNotFound):
					fail(ke.Key, b.MapErr(ke.Err))
				}
			}
			pending = again
			return transient
		})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: delete %d keys: %w", b.Name, len(keys), err)
			}
			for _, k := range pending {
				fail(k, b.MapErr(err))
			}
		}
	}
	if failed != nil {
		return &objstore.DeleteError{Failed: failed}
	}
	return nil
}
