package dashboard

import (
	"testing"

	"github.com/fanout-dev/fanout/fanout"
)

// TestRowRecordsCountedOrEstimated: a running job's records are the
// queue's counts when it keeps them, and an estimate from the sampled
// markers (records per input byte times the input read) when it does not
// (a queue that lost its data, or one without fanout.TaskCounter).
func TestRowRecordsCountedOrEstimated(t *testing.T) {
	ov := fanout.Overview{Job: "j", State: fanout.StateRunning, Tasks: 10, MapChunks: 10, Bytes: 10_000, Done: 4}
	sample := fanout.MarkerSample{Markers: 2, RecordsIn: 50, RecordsOut: 25, BytesIn: 2_000}

	r := row(entry{ov: ov, markers: sample})
	if !r.RecordsEstimated || r.RecordsCounted || r.BytesDone != 4_000 || r.RecordsIn != 100 || r.RecordsOut != 50 {
		t.Errorf("no queue counts: got %+v; want 100 in, 50 out estimated from 4,000 bytes read at 50 records per 2,000 bytes", r)
	}

	ov.Queue = fanout.QueueStats{Done: 4, RecordsIn: 123, RecordsOut: 61, BytesIn: 3_900}
	r = row(entry{ov: ov, markers: sample})
	if r.RecordsEstimated || !r.RecordsCounted || r.RecordsIn != 123 || r.RecordsOut != 61 || r.BytesDone != 3_900 {
		t.Errorf("queue counts: got %+v; want the queue's 123 in, 61 out, 3,900 bytes, not estimated", r)
	}
}
