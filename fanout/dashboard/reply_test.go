package dashboard

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/manifest"
)

// TestCommittedJobReplyStaysSmall: a committed job whose record lists
// 20,000 partitions, 5,000 failed chunks (within a tolerance) and the
// schema drift of 20,000 input objects is answered in a page-sized reply
// (the 200 partitions with the most bytes, their total count, the first
// 50 failed chunks), and the sampler keeps no more than that of it.
func TestCommittedJobReplyStaysSmall(t *testing.T) {
	const parts, failed, drifted = 20_000, 5_000, 20_000
	rec := &manifest.CommitRecord{Version: manifest.CommitVersion, Job: "j1", Chunks: 100_000, RecordsIn: 1_000_000}
	for i := range parts {
		rec.Partitions = append(rec.Partitions, manifest.PartitionFiles{Partition: fmt.Sprintf("day=%05d", i), Files: 1, Rows: 10, Bytes: int64(i)})
	}
	for i := range failed {
		rec.Failed = append(rec.Failed, manifest.FailedChunk{Chunk: fmt.Sprintf("c%08d", i), Reason: "exec: exit status 3; stderr: bad record"})
	}
	rec.Drift = map[string]manifest.ObjectDrift{}
	for i := range drifted {
		rec.Drift[fmt.Sprintf("in/object-%06d.csv", i)] = manifest.ObjectDrift{Filled: map[string]int64{"amount": 1}}
	}
	ov := fanout.Overview{Job: "j1", State: fanout.StateCommitted, Output: "s3://b/out/", Tasks: 100_000, MapChunks: 100_000,
		Done: 100_000 - failed, Queue: fanout.QueueStats{Done: 100_000 - failed, Dead: failed}, Commit: rec}

	d, err := New(Config{Engine: &fanout.Engine{}, Admin: memqueue.New(memqueue.Config{})})
	if err != nil {
		t.Fatal(err)
	}
	d.sampler.update("j1", ov, nil, false)
	if e := d.sampler.jobs["j1"]; len(e.ov.Commit.Partitions) != 0 || len(e.ov.Commit.Drift) != 0 || len(e.ov.Commit.Failed) > 50 {
		t.Errorf("the sampler keeps %d partitions, %d drifted objects and %d failed chunks of the record; want the summary only",
			len(e.ov.Commit.Partitions), len(e.ov.Commit.Drift), len(e.ov.Commit.Failed))
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/ui/api/jobs/j1")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var r JobReply
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil {
		t.Fatalf("GET: %s %.300s", res.Status, body)
	}
	if len(body) > 64<<10 {
		t.Errorf("the reply is %d bytes; want at most 64 KiB", len(body))
	}
	if len(r.Partitions) != partitionsShown || r.Partitions[0].Partition != fmt.Sprintf("day=%05d", parts-1) || r.PartitionCount != parts {
		t.Errorf("partitions: %d shown, first %+v, %d counted; want %d shown, the largest first, %d counted",
			len(r.Partitions), r.Partitions[0], r.PartitionCount, partitionsShown, parts)
	}
	if c := r.Job.Commit; c == nil || len(c.Failed) != 50 || c.Failed[0].Chunk != "c00000000" || len(c.Partitions) != 0 || len(c.Drift) != 0 {
		t.Errorf("the reply's commit record: %+v; want the first 50 failed chunks, no partitions, no drift", c)
	}
	if r.Row.Dead != failed || r.Row.RecordsIn != 1_000_000 {
		t.Errorf("row %+v; want %d failed and the record's 1,000,000 records", r.Row, failed)
	}
}
