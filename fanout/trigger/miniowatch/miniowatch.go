// Package miniowatch streams a MinIO bucket's object events into
// fanout's trigger with minio-go's ListenBucketNotification (a MinIO
// extension: AWS S3 has no such API), reconnecting when the stream breaks.
// The stream loses whatever happens while it is down, so Watch reports
// every break and reconnect (Config.OnGap) for the caller to list the
// prefix again (trigger.Scan). minio-go also reconnects silently when the
// server ends a response cleanly; only the caller's periodic listing
// covers that gap.
package miniowatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/fanout-dev/fanout/fanout/trigger"
	"github.com/fanout-dev/fanout/objstore"
)

// Config configures Watch. Client, Bucket and Emit are required.
type Config struct {
	Client *minio.Client
	Bucket string
	// Prefix and Suffix filter keys on the server.
	Prefix, Suffix string
	// Emit receives the events of each notification, in order.
	Emit func([]trigger.ObjectEvent)
	// OnGap is called each time the stream breaks or is opened again
	// after a break: events may have been missed meanwhile. It is not
	// called for the first connection.
	OnGap func()
	// BackoffMax caps the jittered pause before a reconnect (default 30s).
	BackoffMax time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Watch listens for the bucket's ObjectCreated events until ctx ends.
func Watch(ctx context.Context, cfg Config) error {
	if cfg.Client == nil || cfg.Bucket == "" || cfg.Emit == nil {
		return errors.New("miniowatch: Config.Client, Bucket and Emit are required")
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backoff := objstore.Backoff{Base: 250 * time.Millisecond, Max: cfg.BackoffMax}
	for first := true; ctx.Err() == nil; first = false {
		connected := time.Now()
		ch := cfg.Client.ListenBucketNotification(ctx, cfg.Bucket, cfg.Prefix, cfg.Suffix, []string{string(notification.ObjectCreatedAll)})
		if !first && cfg.OnGap != nil {
			// Whatever happened while the stream was down is lost: the
			// caller lists again. What happens between that listing and
			// the stream being up again is caught by its next periodic
			// listing, which starts from before this one.
			cfg.OnGap()
		}
		for info := range ch {
			if info.Err != nil {
				// minio-go reconnects on its own after a broken body (the
				// channel stays open) and gives up after a failed request
				// (it closes): either way events may be lost meanwhile.
				if ctx.Err() == nil {
					log.Warn("bucket notification stream broke; reconnecting", "bucket", cfg.Bucket, "err", info.Err)
					if cfg.OnGap != nil {
						cfg.OnGap()
					}
				}
				continue
			}
			evs, err := convert(info.Records)
			if err != nil {
				log.Warn("undecodable notification", "bucket", cfg.Bucket, "err", err)
				continue
			}
			cfg.Emit(evs)
		}
		if ctx.Err() != nil {
			return nil
		}
		// A connection that lived a while resets the backoff.
		if time.Since(connected) > time.Minute {
			backoff.Reset()
		}
		if backoff.Wait(ctx) != nil {
			return nil
		}
	}
	return nil
}

// convert decodes minio-go's records with the trigger's parser, so that
// keys are decoded exactly as in webhook bodies.
func convert(records []notification.Event) ([]trigger.ObjectEvent, error) {
	body, err := json.Marshal(struct {
		Records []notification.Event
	}{records})
	if err != nil {
		return nil, fmt.Errorf("miniowatch: encoding records: %w", err)
	}
	return trigger.Parse(body)
}
