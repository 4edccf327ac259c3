package miniowatch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fanout-dev/fanout/fanout/trigger"
	"github.com/fanout-dev/fanout/fanout/trigger/miniowatch"
)

// fakeListen speaks MinIO's listen API (GET /bucket?events=...): one JSON
// line per event, as MinIO writes them, then it drops the connection, as
// a network failure would.
type fakeListen struct {
	calls atomic.Int64
}

func (f *fakeListen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.calls.Add(1)
	if r.URL.Query().Get("events") != "s3:ObjectCreated:*" || r.URL.Query().Get("prefix") != "in/" {
		http.Error(w, "bad query "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintln(w, `{"Records":null}`) // a ping
	key := url.QueryEscape(fmt.Sprintf("in/conn %d/a+b.csv", n))
	fmt.Fprintf(w, `{"Records":[{"eventVersion":"2.0","eventSource":"minio:s3","eventTime":"2026-11-22T03:44:05.123Z","eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"data"},"object":{"key":%q,"size":3,"eTag":"e%d","sequencer":"1"}}}]}`+"\n", key, n)
	w.(http.Flusher).Flush()
	if hj, ok := w.(http.Hijacker); ok {
		c, _, _ := hj.Hijack()
		c.Close() // broken mid-stream
	}
}

func TestWatchReconnectsAndReportsGaps(t *testing.T) {
	fake := &fakeListen{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	client, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4("k", "s", ""), BucketLookup: minio.BucketLookupPath, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var keys []string
	gaps := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		miniowatch.Watch(ctx, miniowatch.Config{Client: client, Bucket: "data", Prefix: "in/", BackoffMax: 20 * time.Millisecond,
			Emit: func(evs []trigger.ObjectEvent) {
				mu.Lock()
				defer mu.Unlock()
				for _, ev := range evs {
					if !ev.Created() || ev.Source != trigger.SourceMinIO {
						t.Errorf("event %+v", ev)
					}
					keys = append(keys, ev.Key)
				}
				if len(keys) >= 2 {
					cancel()
				}
			},
			OnGap: func() {
				mu.Lock()
				gaps++
				mu.Unlock()
			}})
	}()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(keys) < 2 || keys[0] != "in/conn 1/a+b.csv" || keys[1] != "in/conn 2/a+b.csv" {
		t.Fatalf("keys %q: want one event per connection, decoded", keys)
	}
	if gaps < 1 {
		t.Errorf("%d gaps reported over %d connections, want one per reconnect", gaps, fake.calls.Load())
	}
}
