package codec

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// rec is a copy of a record that outlives the reader's next call.
type rec struct {
	Row    functions.Row
	Raw    string
	Offset int64
}

// readAll drains in, copying records, and returns the first error other
// than io.EOF.
func readAll(in functions.Input) ([]rec, error) {
	var out []rec
	for {
		r, err := in.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec{Row: slices.Clone(r.Row), Raw: string(r.Raw), Offset: r.Offset})
	}
}

// readParquet reads every record of a Parquet file.
func readParquet(t testing.TB, data []byte) []rec {
	t.Helper()
	in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "p"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(in)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// chunkOpts returns the options of chunk [start, end) of an object and
// the reader the chunk sees.
func chunkInput(t testing.TB, data []byte, opts InputOptions, start, end int64) functions.Input {
	t.Helper()
	base := int64(0)
	if start > 0 {
		base = start - 1
	}
	opts.Base, opts.Start, opts.End = base, start, end
	in, err := NewInput(bytes.NewReader(data[base:]), opts)
	if err != nil {
		t.Fatalf("NewInput(%+v): %v", opts, err)
	}
	return in
}

// readChunks reads data cut at the given points (sorted, inside (0,
// len)) and concatenates the chunks' records.
func readChunks(t testing.TB, data []byte, opts InputOptions, cuts []int64) ([]rec, error) {
	t.Helper()
	bounds := append([]int64{0}, cuts...)
	var all []rec
	for i, s := range bounds {
		e := int64(-1)
		if i+1 < len(bounds) {
			e = bounds[i+1]
		}
		recs, err := readAll(chunkInput(t, data, opts, s, e))
		all = append(all, recs...)
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

func equalRecs(a, b []rec) bool {
	return slices.EqualFunc(a, b, func(x, y rec) bool {
		return x.Raw == y.Raw && x.Offset == y.Offset && slices.Equal(x.Row, y.Row)
	})
}

func asRecordError(err error) *functions.RecordError {
	var re *functions.RecordError
	if errors.As(err, &re) {
		return re
	}
	return nil
}
