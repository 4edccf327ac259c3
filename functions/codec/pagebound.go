package codec

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/andybalholm/brotli"
	"github.com/parquet-go/parquet-go/format"
)

// Compressed pages are decompressed by parquet-go into a buffer of the
// size their header claims, which it then lets grow: a zstd, gzip or
// brotli page of a few KiB that decompresses to gigabytes would be
// decompressed whole before anything noticed. decompressedBound tells,
// before parquet-go sees the page, at most how many bytes it decompresses
// to: for zstd from its frame and block headers (a compressed block
// regenerates at most 128 KiB, RFC 8878 3.1.1.2.4), for gzip and brotli
// by decompressing it once into nothing, stopping past limit.

// zstdBlockMax is the most a compressed zstd block regenerates.
const zstdBlockMax = 128 << 10

var errNotZstd = errors.New("not a zstd frame")

// decompressedBound returns at most how many bytes data decompresses to
// with codec, or limit+1 when it is more than limit (gzip, brotli).
func decompressedBound(codec format.CompressionCodec, data []byte, limit int64) (int64, error) {
	switch codec {
	case format.Zstd:
		return zstdBound(data)
	case format.Lz4Raw:
		return lz4BlockSize(data)
	case format.Gzip, format.Brotli:
		var r io.Reader
		if codec == format.Gzip {
			z, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return 0, err
			}
			r = z
		} else {
			r = brotli.NewReader(bytes.NewReader(data))
		}
		n, err := io.Copy(io.Discard, io.LimitReader(r, limit+1))
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	return 0, nil
}

// zstdBound walks the frames of data (skippable ones too) and their block
// headers, and returns the most the frames decompress to: raw and RLE
// blocks their size, compressed blocks zstdBlockMax each, a frame no more
// than its declared content size and one block (the decoder stops a frame
// one block past it).
func zstdBound(b []byte) (int64, error) {
	var total int64
	for len(b) > 0 {
		if len(b) < 8 {
			return 0, fmt.Errorf("zstd: %w: %d bytes", errNotZstd, len(b))
		}
		magic := binary.LittleEndian.Uint32(b)
		if magic&0xfffffff0 == 0x184d2a50 { // skippable frame
			n := int64(binary.LittleEndian.Uint32(b[4:]))
			if n > int64(len(b)-8) {
				return 0, errors.New("zstd: skippable frame runs past the page")
			}
			b = b[8+n:]
			continue
		}
		if magic != 0xfd2fb528 {
			return 0, fmt.Errorf("zstd: %w (magic %#x)", errNotZstd, magic)
		}
		fhd := b[4]
		i := 5
		single := fhd&0x20 != 0
		if !single {
			i++ // window descriptor
		}
		i += [4]int{0, 1, 2, 4}[fhd&3] // dictionary ID
		fcsSize := [4]int{0, 2, 4, 8}[fhd>>6]
		if fhd>>6 == 0 && single {
			fcsSize = 1
		}
		if i+fcsSize > len(b) {
			return 0, errors.New("zstd: frame header runs past the page")
		}
		fcs := int64(-1)
		switch fcsSize {
		case 1:
			fcs = int64(b[i])
		case 2:
			fcs = int64(binary.LittleEndian.Uint16(b[i:])) + 256
		case 4:
			fcs = int64(binary.LittleEndian.Uint32(b[i:]))
		case 8:
			fcs = int64(binary.LittleEndian.Uint64(b[i:]) & (1<<62 - 1))
		}
		i += fcsSize
		var frame int64
		for last := false; !last; {
			if i+3 > len(b) {
				return 0, errors.New("zstd: block header runs past the page")
			}
			h := int(b[i]) | int(b[i+1])<<8 | int(b[i+2])<<16
			i += 3
			last = h&1 != 0
			size := h >> 3
			switch (h >> 1) & 3 {
			case 0: // raw
				frame += int64(size)
				i += size
			case 1: // RLE: one byte, repeated size times
				frame += int64(size)
				i++
			case 2:
				frame += zstdBlockMax
				i += size
			default:
				return 0, errors.New("zstd: reserved block type")
			}
			if i > len(b) {
				return 0, errors.New("zstd: block runs past the page")
			}
		}
		if fhd&0x04 != 0 {
			i += 4 // content checksum
		}
		if i > len(b) {
			return 0, errors.New("zstd: checksum runs past the page")
		}
		if fcs >= 0 {
			frame = min(frame, fcs+zstdBlockMax)
		}
		total += frame
		b = b[i:]
	}
	return total, nil
}

// lz4BlockSize is what an LZ4 block (LZ4_RAW) decompresses to, counted
// from its sequences' literal and match lengths without decompressing.
func lz4BlockSize(b []byte) (int64, error) {
	var n int64
	length := func(i, l int) (int, int, error) {
		if l != 15 {
			return i, l, nil
		}
		for {
			if i >= len(b) {
				return 0, 0, errors.New("lz4: length runs past the block")
			}
			c := b[i]
			i++
			l += int(c)
			if c != 255 {
				return i, l, nil
			}
		}
	}
	for i := 0; i < len(b); {
		token := b[i]
		i++
		var lit, match int
		var err error
		if i, lit, err = length(i, int(token>>4)); err != nil {
			return 0, err
		}
		if lit > len(b)-i {
			return 0, errors.New("lz4: literals run past the block")
		}
		i += lit
		n += int64(lit)
		if i == len(b) {
			break // the last sequence has literals only
		}
		if i+2 > len(b) || b[i]|b[i+1] == 0 {
			return 0, errors.New("lz4: bad match offset")
		}
		i += 2
		if i, match, err = length(i, int(token&15)); err != nil {
			return 0, err
		}
		n += int64(match) + 4
	}
	return n, nil
}
