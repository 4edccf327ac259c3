package s3store

import (
	"context"

	"github.com/fanout-dev/fanout/objstore/internal/s3compat"
)

// NewWithCopyLimits is New with a lower size above which Copy goes part by
// part, so that tests can exercise the multipart copy without 5 GiB
// objects.
func NewWithCopyLimits(ctx context.Context, cfg Config, threshold, partSize int64) (*Store, error) {
	return newStore(ctx, cfg, s3compat.CopyLimits{Threshold: threshold, PartSize: partSize})
}
