package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// mapErr wraps the SDK's errors with the objstore sentinels they mean,
// keeping the original error in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var (
		noSuchKey *types.NoSuchKey
		notFound  *types.NotFound
		noBucket  *types.NoSuchBucket
	)
	code, status := errorCode(err), httpStatus(err)
	switch {
	case errors.As(err, &noSuchKey), errors.As(err, &notFound), errors.As(err, &noBucket),
		code == "NoSuchKey", code == "NotFound", code == "NoSuchBucket", status == http.StatusNotFound:
		return fmt.Errorf("%w: %w", objstore.ErrNotFound, err)
	case code == "PreconditionFailed", status == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", objstore.ErrPrecondition, err)
	case code == "KeyTooLongError", code == "XMinioInvalidObjectName", code == "XMinioInvalidResourceName",
		code == "XMinioObjectExistsAsDirectory", code == "XMinioParentIsObject":
		return fmt.Errorf("%w: %w", objstore.ErrInvalidKey, err)
	}
	return err
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

var (
	sdkRetryables = retry.IsErrorRetryables(retry.DefaultRetryables)
	sdkThrottles  = retry.IsErrorThrottles(retry.DefaultThrottles)
)

// retryable reports whether an SDK error is worth retrying: what the SDK's
// standard retryer retries (throttling, 5xx, timeouts, connection errors),
// S3's SlowDown and 409 ConditionalRequestConflict (AWS asks to retry a
// conditional write that raced another).
func retryable(err error) bool {
	if sdkRetryables.IsErrorRetryable(err) == aws.TrueTernary || sdkThrottles.IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	switch errorCode(err) {
	case "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "ConditionalRequestConflict", "XMinioServerNotInitialized":
		return true
	}
	switch httpStatus(err) {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return true
	}
	return s3compat.TransientNetworkError(err)
}

// retryingClient is the transfer manager's view of S3: every call goes
// through objstore.Retry (the SDK's own retryer is off), part bodies are
// rewound between attempts, aborts outlive a cancelled ctx, and a
// conditional CompleteMultipartUpload refused after a retry checks whether
// its own lost first attempt committed.
type retryingClient struct {
	*s3.Client
	policy objstore.RetryPolicy
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
	err = objstore.Retry(ctx, func(ctx context.Context) error {
		if attempts++; attempts > 1 && body != nil {
			if seeker == nil {
				return fmt.Errorf("cannot retry with a body that does not seek: %w", errNoRetry)
			}
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return fmt.Errorf("rewinding the body: %w", errNoRetry)
			}
		}
		return op(ctx)
	}, c.policy)
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
	if err == nil || attempts < 2 || !errors.Is(mapErr(err), objstore.ErrPrecondition) ||
		aws.ToString(in.IfNoneMatch) == "" && aws.ToString(in.IfMatch) == "" || in.MultipartUpload == nil {
		return out, err
	}
	etags := make([]string, len(in.MultipartUpload.Parts))
	for i, p := range in.MultipartUpload.Parts {
		etags[i] = aws.ToString(p.ETag)
	}
	want := s3compat.MultipartETag(etags)
	head, herr := c.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: in.Bucket, Key: in.Key})
	if want == "" || herr != nil || s3compat.TrimETag(aws.ToString(head.ETag)) != want {
		return out, err
	}
	return &s3.CompleteMultipartUploadOutput{Bucket: in.Bucket, Key: in.Key, ETag: head.ETag, VersionId: head.VersionId}, nil
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
