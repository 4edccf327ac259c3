package manifest

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestShuffleIndexRoundTrip(t *testing.T) {
	sections := [][]ShuffleEntry{
		{{Chunk: 0, Key: "out/_fanout/j/staging/c00000000/1/shuffle.bin", ETag: "e0", Offset: 5, Length: 10},
			{Chunk: 7, Key: "out/_fanout/j/staging/c00000007/3/shuffle.bin", ETag: "e7", Offset: 5, Length: 1}},
		nil,
		{{Chunk: 1 << 30, Key: "k", ETag: "", Offset: 1 << 40, Length: 1 << 35}},
	}
	var body []byte
	lens := make([]int64, len(sections))
	for p, entries := range sections {
		var w ShuffleSectionWriter
		n := len(body)
		for _, e := range entries {
			body = w.Append(body, e)
		}
		lens[p] = int64(len(body) - n)
	}
	obj := append(AppendShuffleIndexHeader(nil, lens), body...)
	h := ShuffleIndexHeaderSize(len(sections))
	offsets, err := DecodeShuffleIndexHeader(obj[:h], len(sections), int64(len(obj)))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range sections {
		from, to := offsets[p], offsets[p+1]
		r := NewShuffleSectionReader(bytes.NewReader(obj[from:to]), from, to)
		for i, w := range want {
			got, err := r.Next()
			if err != nil || got != w {
				t.Fatalf("section %d entry %d: got %+v, %v; want %+v", p, i, got, err, w)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("section %d: got %v after its entries, want io.EOF", p, err)
		}
	}
}

func TestShuffleIndexCorruptionIsNamed(t *testing.T) {
	var w ShuffleSectionWriter
	entry := w.Append(nil, ShuffleEntry{Chunk: 3, Key: "a/key", ETag: "etag", Offset: 1, Length: 2})
	obj := append(AppendShuffleIndexHeader(nil, []int64{int64(len(entry))}), entry...)
	h := ShuffleIndexHeaderSize(1)
	tests := []struct {
		name    string
		header  []byte
		r       int
		size    int64
		section []byte
		offset  int64 // where the error must point
	}{
		{"bad magic", append([]byte("XXXX\x01"), obj[5:h]...), 1, int64(len(obj)), nil, 0},
		{"other partition count", obj[:h], 2, int64(len(obj)), nil, 5},
		{"short header", obj[:h-1], 1, int64(len(obj)), nil, h - 1},
		{"object longer than the sections", obj[:h], 1, int64(len(obj)) + 1, nil, 5 + 4 + 8},
		{"entry cut short", obj[:h], 1, int64(len(obj)), entry[:len(entry)-1], int64(len(obj)) - 1},
		{"empty range", obj[:h], 1, int64(len(obj)), append(entry[:len(entry)-1:len(entry)-1], 0), int64(len(obj))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offsets, err := DecodeShuffleIndexHeader(tt.header, tt.r, tt.size)
			if err == nil && tt.section != nil {
				r := NewShuffleSectionReader(bytes.NewReader(tt.section), offsets[0], offsets[1])
				_, err = r.Next()
			}
			var ie *ShuffleIndexError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want a *ShuffleIndexError matching ErrInvalid", err)
			}
			if ie.Offset != tt.offset {
				t.Fatalf("error %q points at byte %d, want %d", err, ie.Offset, tt.offset)
			}
		})
	}
}
