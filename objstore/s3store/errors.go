package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/internal/s3compat"
)

// readError reads the S3 error code and HTTP status out of the SDK's
// errors.
func readError(err error) (code string, status int, ok bool) {
	var (
		ae smithy.APIError
		re *awshttp.ResponseError
	)
	if errors.As(err, &ae) {
		code, ok = ae.ErrorCode(), true
	}
	if errors.As(err, &re) {
		status, ok = re.HTTPStatusCode(), true
	}
	return code, status, ok
}

var (
	sdkRetryables = retry.IsErrorRetryables(retry.DefaultRetryables)
	sdkThrottles  = retry.IsErrorThrottles(retry.DefaultThrottles)
)

// sdkRetryable reports whether the SDK's standard retryer would retry err
// (throttling, 5xx, timeouts, connection errors); s3compat adds S3's own
// codes.
func sdkRetryable(err error) bool {
	return sdkRetryables.IsErrorRetryable(err) == aws.TrueTernary || sdkThrottles.IsErrorThrottle(err) == aws.TrueTernary
}

// sdk is s3compat's view of the store: its SDK calls, one attempt each.
type sdk struct{ s *Store }

var _ s3compat.API = sdk{}

func (a sdk) HeadObject(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	out, err := a.s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &a.s.bucket, Key: &key})
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	return objstore.ObjectInfo{
		Key:       key,
		Size:      aws.ToInt64(out.ContentLength),
		ETag:      aws.ToString(out.ETag),
		VersionID: aws.ToString(out.VersionId),
		ModTime:   aws.ToTime(out.LastModified),
	}, nil
}

func (a sdk) CopyObject(ctx context.Context, dst, src, srcETag string) (objstore.ObjectInfo, error) {
	in := &s3.CopyObjectInput{
		Bucket: &a.s.bucket, Key: &dst,
		CopySource: aws.String(s3compat.EscapeCopySource(a.s.bucket, src)), CopySourceIfMatch: aws.String(s3compat.QuoteETag(srcETag)),
	}
	in.ServerSideEncryption, in.SSEKMSKeyId = a.s.encryption()
	out, err := a.s.client.CopyObject(ctx, in)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	info := objstore.ObjectInfo{Key: dst, VersionID: aws.ToString(out.VersionId)}
	if r := out.CopyObjectResult; r != nil {
		info.ETag, info.ModTime = aws.ToString(r.ETag), aws.ToTime(r.LastModified)
	}
	return info, nil
}

func (a sdk) CreateMultipartUpload(ctx context.Context, key, contentType string) (string, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: &a.s.bucket, Key: &key}
	if contentType != "" {
		in.ContentType = &contentType
	}
	in.ServerSideEncryption, in.SSEKMSKeyId = a.s.encryption()
	out, err := a.s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.UploadId), nil
}

func (a sdk) UploadPart(ctx context.Context, key, uploadID string, number int, data []byte) (string, error) {
	out, err := a.s.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &a.s.bucket, Key: &key, UploadId: &uploadID, PartNumber: aws.Int32(int32(number)),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

func (a sdk) ListMultipartUploads(ctx context.Context, prefix, keyMarker, uploadIDMarker string) (s3compat.UploadsPage, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: &a.s.bucket}
	if prefix != "" {
		in.Prefix = &prefix
	}
	if keyMarker != "" {
		in.KeyMarker = &keyMarker
	}
	if uploadIDMarker != "" {
		in.UploadIdMarker = &uploadIDMarker
	}
	out, err := a.s.client.ListMultipartUploads(ctx, in)
	if err != nil {
		return s3compat.UploadsPage{}, err
	}
	page := s3compat.UploadsPage{NextKeyMarker: aws.ToString(out.NextKeyMarker), NextUploadIDMarker: aws.ToString(out.NextUploadIdMarker), Truncated: aws.ToBool(out.IsTruncated)}
	for _, u := range out.Uploads {
		page.Uploads = append(page.Uploads, objstore.Upload{Key: aws.ToString(u.Key), ID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated)})
	}
	return page, nil
}

func (a sdk) UploadPartCopy(ctx context.Context, dst, src, uploadID string, number int, offset, length int64, srcETag string) (string, error) {
	out, err := a.s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
		Bucket: &a.s.bucket, Key: &dst, UploadId: &uploadID, PartNumber: aws.Int32(int32(number)),
		CopySource:        aws.String(s3compat.EscapeCopySource(a.s.bucket, src)),
		CopySourceIfMatch: aws.String(s3compat.QuoteETag(srcETag)),
		CopySourceRange:   aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)),
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.CopyPartResult.ETag), nil
}

func (a sdk) CompleteMultipartUpload(ctx context.Context, key, uploadID string, parts []s3compat.Part, opts *objstore.PutOptions) (etag, versionID string, err error) {
	completed := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		completed[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(p.ETag)}
	}
	in := &s3.CompleteMultipartUploadInput{
		Bucket: &a.s.bucket, Key: &key, UploadId: &uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	}
	if opts != nil && opts.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if opts != nil && opts.IfMatch != "" {
		in.IfMatch = aws.String(s3compat.QuoteETag(opts.IfMatch))
	}
	out, err := a.s.client.CompleteMultipartUpload(ctx, in)
	if err != nil {
		return "", "", err
	}
	return aws.ToString(out.ETag), aws.ToString(out.VersionId), nil
}

func (a sdk) AbortMultipartUpload(ctx context.Context, key, uploadID string) error {
	_, err := a.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &a.s.bucket, Key: &key, UploadId: &uploadID})
	return err
}

// retryingClient is the transfer manager's view of S3: every call goes
// through the store's retry policy (the SDK's own retryer is off), part
// bodies are rewound between attempts, aborts outlive a cancelled ctx, and
// a conditional CompleteMultipartUpload refused after a retry checks
// whether its own lost first attempt committed.
type retryingClient struct {
	*s3.Client
	compat *s3compat.Backend
}

func (c *retryingClient) retry(ctx context.Context, body io.Reader, op func(ctx context.Context) error) (attempts int, err error) {
	var (
		seeker io.Seeker
		start  int64
	)
	if sk, ok := body.(io.Seeker); ok {
		if pos, err := sk.Seek(0, io.SeekCurrent); err == nil {
			seeker, start = sk, pos
		}
	}
	err = c.compat.Retry(ctx, func(ctx context.Context) error {
		if attempts++; attempts > 1 && body != nil {
			if seeker == nil {
				return fmt.Errorf("cannot retry with a body that does not seek: %w", errNoRetry)
			}
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return fmt.Errorf("rewinding the body: %w", errNoRetry)
			}
		}
		return op(ctx)
	})
	return attempts, err
}

var errNoRetry = errors.New("not retried")

func (c *retryingClient) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (out *s3.PutObjectOutput, err error) {
	_, err = c.retry(ctx, in.Body, func(ctx context.Context) error {
		out, err = c.Client.PutObject(ctx, in, opts...)
		return err
	})
	return out, err
}

func (c *retryingClient) UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (out *s3.UploadPartOutput, err error) {
	_, err = c.retry(ctx, in.Body, func(ctx context.Context) error {
		out, err = c.Client.UploadPart(ctx, in, opts...)
		return err
	})
	return out, err
}

func (c *retryingClient) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opts ...func(*s3.Options)) (out *s3.CreateMultipartUploadOutput, err error) {
	_, err = c.retry(ctx, nil, func(ctx context.Context) error {
		out, err = c.Client.CreateMultipartUpload(ctx, in, opts...)
		return err
	})
	return out, err
}

func (c *retryingClient) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (out *s3.CompleteMultipartUploadOutput, err error) {
	attempts, err := c.retry(ctx, nil, func(ctx context.Context) error {
		out, err = c.Client.CompleteMultipartUpload(ctx, in, opts...)
		return err
	})
	if err == nil || in.MultipartUpload == nil {
		return out, err
	}
	etags := make([]string, len(in.MultipartUpload.Parts))
	for i, p := range in.MultipartUpload.Parts {
		etags[i] = aws.ToString(p.ETag)
	}
	conditional := aws.ToString(in.IfNoneMatch) != "" || aws.ToString(in.IfMatch) != ""
	info, own := c.compat.OwnEarlierWrite(ctx, aws.ToString(in.Key), err, attempts, conditional, s3compat.MultipartETag(etags))
	if !own {
		return out, err
	}
	return &s3.CompleteMultipartUploadOutput{Bucket: in.Bucket, Key: in.Key, ETag: aws.String(info.ETag), VersionId: aws.String(info.VersionID)}, nil
}

func (c *retryingClient) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (out *s3.AbortMultipartUploadOutput, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err = c.retry(ctx, nil, func(ctx context.Context) error {
		out, err = c.Client.AbortMultipartUpload(ctx, in, opts...)
		return err
	})
	return out, err
}
