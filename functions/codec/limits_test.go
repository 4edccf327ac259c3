package codec

import (
	"bytes"
	"compress/gzip"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"

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

// TestDecompressedBound checks the bound on what a compressed page
// decompresses to: never below the truth for honest zstd, gzip and
// brotli data (so no good page is refused), and past the limit for bombs
// (64 MiB of zeros in a few KiB), which checkCompression then refuses
// before parquet-go decompresses them.
func TestDecompressedBound(t *testing.T) {
	rnd := make([]byte, 1<<20)
	for i := range rnd {
		rnd[i] = byte(i*7919 ^ i>>5)
	}
	inputs := map[string][]byte{
		"empty": nil, "short": []byte("hello"), "zeros": make([]byte, 10<<20), "mixed": rnd,
		"text": []byte(strings.Repeat("the quick brown fox, ", 50000)),
	}
	zstdEncoders := map[string][]zstd.EOption{
		"default": nil, "best": {zstd.WithEncoderLevel(zstd.SpeedBestCompression)},
		"single segment": {zstd.WithSingleSegment(true)}, "no content size": {zstd.WithZeroFrames(true), zstd.WithEncoderCRC(true)},
	}
	for name, data := range inputs {
		for ename, opts := range zstdEncoders {
			enc, _ := zstd.NewWriter(nil, opts...)
			z := enc.EncodeAll(data, nil)
			z = append(z, enc.EncodeAll(data, nil)...) // two frames
			if b, err := decompressedBound(format.Zstd, z, 0); err != nil || b < 2*int64(len(data)) || b > 2*int64(len(data))+4*zstdBlockMax {
				t.Errorf("zstd %s, %s (%d bytes): bound %d, %v; want within [%d, +%d]", ename, name, len(data), b, err, 2*len(data), 4*zstdBlockMax)
			}
			// Through a stream (frames without a content size).
			var buf bytes.Buffer
			w, _ := zstd.NewWriter(&buf, opts...)
			w.Write(data)
			w.Close()
			if b, err := decompressedBound(format.Zstd, buf.Bytes(), 0); err != nil || b < int64(len(data)) {
				t.Errorf("zstd stream %s, %s: bound %d, %v; want >= %d", ename, name, b, err, len(data))
			}
		}
		var g, br bytes.Buffer
		gw := gzip.NewWriter(&g)
		gw.Write(data)
		gw.Close()
		bw := brotli.NewWriter(&br)
		bw.Write(data)
		bw.Close()
		for codec, c := range map[format.CompressionCodec][]byte{format.Gzip: g.Bytes(), format.Brotli: br.Bytes()} {
			if b, err := decompressedBound(codec, c, int64(len(data))); err != nil || b != int64(len(data)) {
				t.Errorf("%v, %s: bound %d, %v; want %d", codec, name, b, err, len(data))
			}
		}
	}
	// Bombs: a header claiming 1 MiB for 64 MiB of zeros.
	bomb := make([]byte, 64<<20)
	enc, _ := zstd.NewWriter(nil)
	var g, br bytes.Buffer
	gw := gzip.NewWriter(&g)
	gw.Write(bomb)
	gw.Close()
	bw := brotli.NewWriter(&br)
	bw.Write(bomb)
	bw.Close()
	for codec, c := range map[format.CompressionCodec][]byte{format.Zstd: enc.EncodeAll(bomb, nil), format.Gzip: g.Bytes(), format.Brotli: br.Bytes()} {
		in := &parquetInput{g: &guardedReaderAt{ra: bytes.NewReader(c), size: int64(len(c))}}
		err := in.checkCompression(codec, 0, int64(len(c)), 1<<20, 0, true)
		if err == nil || !strings.Contains(err.Error(), "decompresses to more than") {
			t.Errorf("%v bomb of %d bytes: %v, want refused", codec, len(c), err)
		}
	}
}

// TestLZ4BlockSize checks the size lz4BlockSize reads from an LZ4 block's
// sequences against what the block really decompresses to.
func TestLZ4BlockSize(t *testing.T) {
	rnd := make([]byte, 1<<20)
	for i := range rnd {
		rnd[i] = byte(i*7919 ^ i>>5)
	}
	for name, data := range map[string][]byte{
		"short": []byte("hello hello hello hello"), "zeros": make([]byte, 10<<20), "mixed": rnd,
		"text": []byte(strings.Repeat("the quick brown fox, ", 50000)),
	} {
		dst := make([]byte, lz4.CompressBlockBound(len(data)))
		var c lz4.Compressor
		n, err := c.CompressBlock(data, dst)
		if err != nil || n == 0 {
			t.Fatalf("%s: compress: %d, %v", name, n, err)
		}
		if got, err := lz4BlockSize(dst[:n]); err != nil || got != int64(len(data)) {
			t.Errorf("%s: lz4BlockSize = %d, %v; want %d", name, got, err, len(data))
		}
		if _, err := lz4BlockSize(dst[:n-1]); err == nil && n > 1 {
			// A cut block is usually caught; when the cut lands after
			// whole literals it only reads shorter, which the exact
			// comparison with the page header then refuses.
			if got, _ := lz4BlockSize(dst[:n-1]); got == int64(len(data)) {
				t.Errorf("%s: a cut block reads as whole", name)
			}
		}
	}
}
