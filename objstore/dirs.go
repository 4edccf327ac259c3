package objstore

import (
	"context"
	"fmt"
	"iter"
	"strings"
)

// DirLister is implemented by backends that list the "directories" one
// level below a prefix in one request per thousand, as S3's ListObjectsV2
// with the delimiter "/" does (found by type assertion by ListDirs; the
// S3 backends have it).
type DirLister interface {
	// ListDirs behaves as the package's ListDirs.
	ListDirs(ctx context.Context, prefix string) iter.Seq2[string, error]
}

// ListDirs yields, in ascending byte order, each distinct prefix+name+"/"
// under which at least one object's key lies, name holding no "/": the
// common prefixes of a listing of prefix with the delimiter "/". Objects
// directly under prefix (prefix+name, no "/" after it) are not yielded.
// prefix is "" or ends in "/". Iteration stops at the first error, which
// is yielded with "". A backend without DirLister is listed one key per
// directory: a listing of one key, started after the previous
// directory's keys.
func ListDirs(ctx context.Context, b Bucket, prefix string) iter.Seq2[string, error] {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return func(yield func(string, error) bool) {
			yield("", fmt.Errorf("objstore: list dirs: prefix %q does not end in /", prefix))
		}
	}
	if dl, ok := b.(DirLister); ok {
		return dl.ListDirs(ctx, prefix)
	}
	return func(yield func(string, error) bool) {
		after, last := "", ""
		for {
			var key string
			for info, err := range b.List(ctx, prefix, &ListOptions{StartAfter: after, PageSize: 1}) {
				if err != nil {
					yield("", err)
					return
				}
				key = info.Key
				break
			}
			if key == "" {
				return
			}
			rest := key[len(prefix):]
			i := strings.IndexByte(rest, '/')
			if i < 0 {
				after = key // an object directly under prefix
				continue
			}
			dir := prefix + rest[:i+1]
			if dir == last {
				// A key past dir's skip point (below): go on after it.
				after = key
				continue
			}
			if !yield(dir, nil) {
				return
			}
			// Keys are UTF-8: no key under dir sorts after dir followed by
			// the largest code point but one that continues with it.
			after, last = dir+"\U0010FFFF", dir
		}
	}
}
