package fanout_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
)

// TestSampleMarkersSumsAFewChunks runs validate over three CSV objects
// (a chunk each) whose amounts are negative in every fifth row, and
// samples the job's markers: all three, or at most n, summing the
// records, input bytes and rejections the generator wrote.
func TestSampleMarkersSumsAFewChunks(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	files := map[string][]byte{}
	var bytesIn int64
	for o := range 3 {
		var b strings.Builder
		b.WriteString("id,amount\n")
		for i := range 20 {
			amount := i
			if i%5 == 2 {
				amount = -i
			}
			fmt.Fprintf(&b, "%d,%d\n", o*100+i, amount)
		}
		files[fmt.Sprintf("t/part-%d.csv", o)] = []byte(b.String())
		bytesIn += int64(b.Len())
	}
	writeFiles(t, in, files)
	eng := newEngine(t, nil)
	ctx := context.Background()
	res, err := eng.Run(ctx, manifest.JobSpec{
		Inputs: []string{"file://" + in + "/t/"}, Function: "validate", MaxObjectsPerChunk: 1,
		Args:   map[string]string{"contract": "columns: [{name: id, type: int64}, {name: amount, type: float64, min: 0}]"},
		Output: "file://" + out + "/", OutputFormat: "jsonl",
	}.WithDefaults(), fanout.RunOptions{Workers: 2})
	if err != nil || res.Chunks != 3 {
		t.Fatalf("the job: %v, %d chunks; want 3", err, res.Chunks)
	}
	s, err := eng.SampleMarkers(ctx, "file://"+out+"/", res.Job, 16)
	if err != nil {
		t.Fatal(err)
	}
	if s.Markers != 3 || s.RecordsIn != 60 || s.RecordsOut != 48 || s.Rejected != 12 || s.RejectedByColumn["amount"] != 12 || s.BytesIn != bytesIn {
		t.Errorf("sample of every marker: got %+v, want 3 markers, 60 records in, 48 out, 12 rejected for amount, %d bytes", s, bytesIn)
	}
	if s, err := eng.SampleMarkers(ctx, "file://"+out+"/", res.Job, 2); err != nil || s.Markers != 2 || s.RecordsIn != 40 {
		t.Errorf("sample of 2: got %+v, %v; want 2 markers, 40 records", s, err)
	}
}
