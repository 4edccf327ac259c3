package codec

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// TestCSVFieldCountBounded feeds a header and a record of one million
// fields each (1 MiB of delimiters): the reader stops at MaxCSVFields
// with an error naming the object and the offset, having allocated a few
// times the input rather than the field bookkeeping of a million fields.
func TestCSVFieldCountBounded(t *testing.T) {
	wide := strings.Repeat(",", 1<<20)
	for name, tc := range map[string]struct {
		data   string
		offset int64
	}{
		"header": {wide + "\n1\n", 0},
		"record": {"a,b\n" + wide + "\n", 4},
		"quoted": {"a,b\n\"x\"" + wide + "\n", 4},
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			in, err := NewInput(strings.NewReader(tc.data), InputOptions{Format: "csv", End: -1, Object: "wide.csv"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = readAll(in)
			runtime.ReadMemStats(&after)
			var re *functions.RecordError
			if !errors.As(err, &re) || re.Offset != tc.offset || !strings.Contains(err.Error(), "wide.csv") || !strings.Contains(err.Error(), "more than 100000 fields") {
				t.Errorf("got %v, want a RecordError at offset %d saying more than 100000 fields", err, tc.offset)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*uint64(len(tc.data)) {
				t.Errorf("allocated %d bytes for %d bytes of input, want < %d", alloc, len(tc.data), 16*len(tc.data))
			}
		})
	}
}
