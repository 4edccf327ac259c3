package objstoretest

import (
	"context"
	"io"

	"github.com/fanout-dev/fanout/objstore"
)

// IgnoreCreateOnly wraps b as a store that ignores If-None-Match: *, as
// some S3 look-alikes do: create-only Puts become plain Puts. Use it to
// check that callers refuse such a store (objstore.ProbeCreateOnly).
func IgnoreCreateOnly(b objstore.Bucket) objstore.Bucket { return ignoreCreateOnly{b} }

type ignoreCreateOnly struct{ objstore.Bucket }

func (s ignoreCreateOnly) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	if opts != nil && opts.IfNoneMatch {
		o := *opts
		o.IfNoneMatch = false
		opts = &o
	}
	return s.Bucket.Put(ctx, key, r, opts)
}

func (s ignoreCreateOnly) Describe() string { return "a store that ignores create-only writes" }
