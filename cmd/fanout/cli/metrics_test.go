package cli

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
)

func TestMetricsExposeChunkOutcomesAndQueueDepth(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := newMetrics()
	m.observe(fanout.ChunkEvent{Job: "j1", Chunk: "c00000000", Outcome: fanout.OutcomeDone, Duration: 30 * time.Millisecond, RecordsIn: 10, RecordsOut: 7, BytesIn: 100})
	m.observe(fanout.ChunkEvent{Job: "j1", Chunk: "c00000001", Outcome: fanout.OutcomeLeaseLost, Retry: true})
	q := memqueue.New(memqueue.Config{})
	spec := fanout.JobQueueSpec{Job: "j1", Manifest: "file:///x/_fanout/j1/manifest.json", Lease: time.Minute, MaxDeliveries: 3, MaxFailures: 3}
	if err := q.Enqueue(ctx, spec, []string{"c00000000", "c00000001", "c00000002"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx, "j1", "w", nil); err != nil {
		t.Fatal(err)
	}
	go m.pollQueue(ctx, q, time.Hour)
	addr, err := m.serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`fanout_chunks_total{outcome="done"} 1`,
		`fanout_chunks_total{outcome="lease_lost"} 1`,
		`fanout_records_in_total 10`,
		`fanout_records_out_total 7`,
		`fanout_bytes_in_total 100`,
		`fanout_retries_total 1`,
		`fanout_lease_losses_total 1`,
		`fanout_chunk_duration_seconds_count{outcome="done"} 1`,
		`fanout_queue_chunks{job="j1",state="pending"} 2`,
		`fanout_queue_chunks{job="j1",state="running"} 1`,
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var missing []string
		for _, w := range want {
			if !strings.Contains(string(body), w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAbsURLKeepsGlobs(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"s3://b/p/*.csv", "s3://b/p/*.csv"},
		{"/data/in/*.csv", "file:///data/in/*.csv"},
		{"/data/in/", "file:///data/in"},
	} {
		if got := absURL(tt.in); got != tt.want {
			t.Errorf("absURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
