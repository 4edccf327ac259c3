package trigger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"
)

// Inbox keeps received events in the bucket until their batch is settled,
// so that a receiver (fanout serve) can answer its sender at once, which a
// sender that delivers one event at a time per worker (MinIO's webhook
// target) needs, and still lose nothing when it dies before the batch's
// window closes: what is left in the inbox is read back at start.
//
// Entries live under <output base>/_fanout/trigger/inbox/, one per Put,
// named by the time they were written.
type Inbox struct {
	t *Trigger
}

// Inbox returns the trigger's inbox.
func (t *Trigger) Inbox() *Inbox { return &Inbox{t: t} }

// InboxEntry is one Put's events.
type InboxEntry struct {
	ID      string
	Written time.Time
	Events  []ObjectEvent
}

type inboxRecord struct {
	Version int           `json:"version"`
	Events  []ObjectEvent `json:"events"`
}

func (in *Inbox) prefix() string { return in.t.prefix + "inbox/" }

// Put stores events and returns the entry's ID.
func (in *Inbox) Put(ctx context.Context, events []ObjectEvent) (string, error) {
	b, err := in.t.store(ctx)
	if err != nil {
		return "", err
	}
	var r [6]byte
	rand.Read(r[:])
	id := fmt.Sprintf("%019d-%s", time.Now().UnixNano(), hex.EncodeToString(r[:]))
	if _, err := putJSON(ctx, b, in.prefix()+id+".json", inboxRecord{Version: 1, Events: events}); err != nil {
		return "", fmt.Errorf("trigger: inbox: %w", err)
	}
	return id, nil
}

// Delete removes a settled entry.
func (in *Inbox) Delete(ctx context.Context, id string) error {
	b, err := in.t.store(ctx)
	if err != nil {
		return err
	}
	return b.Delete(ctx, in.prefix()+id+".json")
}

// Entries yields the entries written before the given time, oldest
// first.
func (in *Inbox) Entries(ctx context.Context, before time.Time) iter.Seq2[InboxEntry, error] {
	return func(yield func(InboxEntry, error) bool) {
		b, err := in.t.store(ctx)
		if err != nil {
			yield(InboxEntry{}, err)
			return
		}
		for info, err := range b.List(ctx, in.prefix(), nil) {
			if err != nil {
				yield(InboxEntry{}, err)
				return
			}
			id, ok := strings.CutSuffix(strings.TrimPrefix(info.Key, in.prefix()), ".json")
			nanos, perr := strconv.ParseInt(strings.SplitN(id, "-", 2)[0], 10, 64)
			if !ok || perr != nil {
				continue
			}
			written := time.Unix(0, nanos)
			if !written.Before(before) {
				return // names sort by time
			}
			var rec inboxRecord
			if err := readJSON(ctx, b, info.Key, &rec); err != nil {
				if !yield(InboxEntry{}, fmt.Errorf("trigger: inbox entry %s: %w", id, err)) {
					return
				}
				continue
			}
			if !yield(InboxEntry{ID: id, Written: written, Events: rec.Events}, nil) {
				return
			}
		}
	}
}
