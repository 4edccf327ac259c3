package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

func TestLinesInput(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []rec
	}{
		{"empty", "", nil},
		{"one line no newline", "abc", []rec{{Raw: "abc", Offset: 0}}},
		{"lf", "a\nbb\n", []rec{{Raw: "a", Offset: 0}, {Raw: "bb", Offset: 2}}},
		{"crlf", "a\r\nbb\r\n", []rec{{Raw: "a", Offset: 0}, {Raw: "bb", Offset: 3}}},
		{"lone cr kept", "a\rb\n", []rec{{Raw: "a\rb", Offset: 0}}},
		{"empty lines", "\n\nx\n\n", []rec{{Raw: "", Offset: 0}, {Raw: "", Offset: 1}, {Raw: "x", Offset: 2}, {Raw: "", Offset: 4}}},
		{"no final newline", "a\nb", []rec{{Raw: "a", Offset: 0}, {Raw: "b", Offset: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := NewInput(strings.NewReader(tt.data), InputOptions{Format: "lines", Object: "o", End: -1})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				tt.want[i].Row = functions.Row{functions.StringValue(tt.want[i].Raw)}
			}
			if !equalRecs(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLinesChunkStart(t *testing.T) {
	data := []byte("aa\nbb\ncc\n")
	tests := []struct {
		name       string
		start, end int64
		want       []string
	}{
		{"start at record", 3, -1, []string{"bb", "cc"}},
		{"start mid record", 4, -1, []string{"cc"}},
		{"start at newline", 2, -1, []string{"bb", "cc"}},
		{"end mid record reads it whole", 0, 4, []string{"aa", "bb"}},
		{"end at record start excludes it", 0, 3, []string{"aa"}},
		{"empty range", 4, 4, nil},
		{"past end", 9, -1, nil},
		{"end before start", 6, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := readAll(chunkInput(t, data, InputOptions{Format: "lines"}, tt.start, tt.end))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, r.Raw)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewInputValidates(t *testing.T) {
	tests := []struct {
		name string
		opts InputOptions
	}{
		{"base after start-1", InputOptions{Format: "lines", Base: 5, Start: 5}},
		{"base with start 0", InputOptions{Format: "lines", Base: 3}},
		{"negative start", InputOptions{Format: "lines", Start: -1}},
		{"unknown format", InputOptions{Format: "xml"}},
		{"csv chunk without header", InputOptions{Format: "csv", Base: 9, Start: 10}},
		{"jsonl without schema", InputOptions{Format: "jsonl"}},
		{"bad delimiter", InputOptions{Format: "csv", CSVOptions: CSVOptions{Delimiter: '"'}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewInput(strings.NewReader(""), tt.opts); err == nil {
				t.Errorf("NewInput(%+v) = nil error, want one", tt.opts)
			}
		})
	}
}

func TestLinesMaxRecordBytes(t *testing.T) {
	long := strings.Repeat("x", 200_000)
	data := "ok\n" + long + "\nafter\n"
	in, err := NewInput(strings.NewReader(data), InputOptions{Format: "lines", Object: "big.txt", End: -1, MaxRecordBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	r, err := in.Next()
	if err != nil || string(r.Raw) != "ok" {
		t.Fatalf("first record: %v %v", r, err)
	}
	_, err = in.Next()
	re := asRecordError(err)
	if re == nil || !errors.Is(err, ErrRecordTooLarge) || re.Offset != 3 || re.Object != "big.txt" {
		t.Fatalf("got %v, want RecordError at offset 3 wrapping ErrRecordTooLarge", err)
	}
	// The reader skips the long line and goes on.
	r, err = in.Next()
	if err != nil || string(r.Raw) != "after" || r.Offset != int64(3+len(long)+1) {
		t.Fatalf("after the long line: %+v %v", r, err)
	}
	// Exactly MaxRecordBytes is fine, with CRLF too.
	in, _ = NewInput(strings.NewReader(strings.Repeat("y", 1000)+"\r\n"), InputOptions{Format: "lines", End: -1, MaxRecordBytes: 1000})
	if _, err := in.Next(); err != nil {
		t.Fatalf("a record of exactly MaxRecordBytes: %v", err)
	}
}

// randomLines builds lines of random lengths: empty lines, CRLF, a very
// long line when big is set, and maybe no final newline.
func randomLines(rng *rand.Rand, n int, big bool) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		l := rng.IntN(40)
		switch rng.IntN(10) {
		case 0:
			l = 0
		case 1:
			l = rng.IntN(200_000)
		}
		if big && i == n/2 {
			l = 3 << 20
		}
		for j := 0; j < l; j++ {
			b.WriteByte(byte('a' + (i+j)%26))
		}
		if rng.IntN(5) == 0 {
			b.WriteByte('\r')
		}
		b.WriteByte('\n')
	}
	if rng.IntN(2) == 0 {
		b.WriteString("tail")
	}
	return b.Bytes()
}

func randomCuts(rng *rand.Rand, size int64, n int) []int64 {
	if size <= 1 {
		return nil
	}
	cuts := map[int64]bool{}
	for i := 0; i < n; i++ {
		cuts[1+rng.Int64N(size-1)] = true
	}
	out := make([]int64, 0, len(cuts))
	for c := range cuts {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

func TestLinesOwnershipProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 30; round++ {
		data := randomLines(rng, 50+rng.IntN(200), round == 0)
		opts := InputOptions{Format: "lines", Object: "o"}
		whole, err := readAll(chunkInput(t, data, opts, 0, -1))
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 20; k++ {
			cuts := randomCuts(rng, int64(len(data)), 1+rng.IntN(30))
			got, err := readChunks(t, data, opts, cuts)
			if err != nil {
				t.Fatal(err)
			}
			if !equalRecs(got, whole) {
				t.Fatalf("round %d cuts %v: %d records, want %d", round, cuts, len(got), len(whole))
			}
		}
	}
}

// TestLinesOwnershipEveryCut cuts a small input at every pair of offsets.
func TestLinesOwnershipEveryCut(t *testing.T) {
	data := []byte("a\n\nbc\r\n\r\ndef\nx")
	opts := InputOptions{Format: "lines"}
	whole, _ := readAll(chunkInput(t, data, opts, 0, -1))
	n := int64(len(data))
	for i := int64(1); i < n; i++ {
		for j := i + 1; j <= n; j++ {
			cuts := []int64{i}
			if j < n {
				cuts = append(cuts, j)
			}
			got, err := readChunks(t, data, opts, cuts)
			if err != nil {
				t.Fatal(err)
			}
			if !equalRecs(got, whole) {
				t.Fatalf("cuts %v: got %v, want %v", cuts, got, whole)
			}
		}
	}
}

func FuzzLinesOwnership(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nccc"), uint64(1), uint8(3))
	f.Add([]byte("\n\n\n"), uint64(7), uint8(2))
	f.Add([]byte("no newline"), uint64(0), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, ncuts uint8) {
		opts := InputOptions{Format: "lines", MaxRecordBytes: 1 << 20}
		whole, err := readAll(chunkInput(t, data, opts, 0, -1))
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, 0))
		cuts := randomCuts(rng, int64(len(data)), int(ncuts%16))
		got, err := readChunks(t, data, opts, cuts)
		if err != nil {
			t.Fatal(err)
		}
		if !equalRecs(got, whole) {
			t.Fatalf("cuts %v: got %v, want %v", cuts, got, whole)
		}
	})
}

func BenchmarkLinesInput(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; buf.Len() < 32<<20; i++ {
		fmt.Fprintf(&buf, "line %d with some words in it for a typical length\n", i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		in, _ := NewInput(bytes.NewReader(data), InputOptions{Format: "lines", End: -1})
		for {
			if _, err := in.Next(); err != nil {
				break
			}
		}
	}
}
