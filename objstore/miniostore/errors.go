package miniostore

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/internal/s3compat"
	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"
)

// mapErr wraps minio-go's errors with the objstore sentinels they mean,
// keeping the original error in the chain.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return err
	}
	switch {
	case er.Code == "NoSuchKey" || er.Code == "NoSuchBucket" || er.Code == "NotFound" || er.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %w", objstore.ErrNotFound, err)
	case er.Code == "PreconditionFailed" || er.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %w", objstore.ErrPrecondition, err)
	case er.Code == "XMinioInvalidObjectName" || er.Code == "KeyTooLongError" || er.Code == "InvalidObjectName" ||
		er.Code == "XMinioObjectExistsAsDirectory" || er.Code == "XMinioParentIsObject" || er.Code == "XMinioInvalidResourceName":
		return fmt.Errorf("%w: %w", objstore.ErrInvalidKey, err)
	}
	return err
}

// retryable reports whether a minio-go error is worth retrying: throttling,
// server errors, timeouts and dropped connections.
func retryable(err error) bool {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case "SlowDown", "SlowDownRead", "SlowDownWrite", "Throttling", "ThrottlingException",
			"RequestLimitExceeded", "RequestThrottled", "InternalError", "RequestTimeout",
			"ServiceUnavailable", "XMinioServerNotInitialized", "ConditionalRequestConflict":
			return true
		}
		switch er.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return s3compat.TransientNetworkError(err)
}

func isInvalidRange(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && (er.Code == "InvalidRange" || er.StatusCode == http.StatusRequestedRangeNotSatisfiable)
}

// forEachPart runs f for parts 0..n-1, at most limit at a time.
func forEachPart(ctx context.Context, n, limit int, f func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := range n {
		g.Go(func() error { return f(gctx, i) })
	}
	return g.Wait()
}
