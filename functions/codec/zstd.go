package codec

import (
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// pageZstd is the zstd codec of the Parquet files fanout writes: the
// fastest level (about zstd's 1: files about 10% larger than at level 3,
// which DuckDB uses, for half the CPU), with a 1 MiB window.
// Parquet compresses each page on its own, and pages are smaller than
// that, so the window loses nothing; the default codec's 8 MiB window
// cost about 8 MiB of history per pooled encoder, which with many
// partitions open was a good part of a worker's memory.
type pageZstd struct {
	encoders sync.Pool
}

var pageZstdCodec = &pageZstd{}

func (c *pageZstd) String() string                            { return "ZSTD" }
func (c *pageZstd) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *pageZstd) Encode(dst, src []byte) ([]byte, error) {
	e, _ := c.encoders.Get().(*zstd.Encoder)
	if e == nil {
		var err error
		e, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false), zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, err
		}
	}
	defer c.encoders.Put(e)
	return e.EncodeAll(src, dst[:0]), nil
}

// Decode is not used for writing; it defers to parquet-go's codec.
func (c *pageZstd) Decode(dst, src []byte) ([]byte, error) {
	return parquet.Zstd.Decode(dst, src)
}
