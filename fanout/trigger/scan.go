package trigger

import (
	"context"
	"iter"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/objstore"
)

// Scan lists the objects under prefix in a bucket and yields, as
// ObjectCreated events from SourceListing, those written at or after
// since. A watcher whose notification stream drops events (MinIO's listen
// API loses what happens while it reconnects) runs it periodically with
// since set a little before its previous scan began: what the stream
// already delivered comes again and is dropped as a duplicate by the
// batcher and the claims. Keys ending in "/" are skipped.
func Scan(ctx context.Context, b objstore.Bucket, bucket, prefix string, since time.Time) iter.Seq2[ObjectEvent, error] {
	return func(yield func(ObjectEvent, error) bool) {
		for info, err := range b.List(ctx, prefix, nil) {
			if err != nil {
				yield(ObjectEvent{}, err)
				return
			}
			if strings.HasSuffix(info.Key, "/") || info.ModTime.Before(since) {
				continue
			}
			ev := ObjectEvent{Source: SourceListing, Name: "ObjectCreated:Listing", Bucket: bucket, Key: info.Key, RawKey: info.Key,
				ETag: info.ETag, VersionID: info.VersionID, Size: info.Size, Time: info.ModTime.UTC()}
			if !yield(ev, nil) {
				return
			}
		}
	}
}
