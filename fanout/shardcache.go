package fanout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"

	"github.com/fanout-dev/fanout/manifest"
)

// shardBlockChunks is the number of chunks in one compressed block of a
// compactShard: the chunk a worker claims costs it one block's
// decompression (some KiB) and one chunk's JSON decoding.
const shardBlockChunks = 64

// compactShard is a manifest shard as an engine caches it: its chunks'
// JSON, one line each, in s2-compressed blocks of shardBlockChunks. A
// shard of 10,000 one-object chunks decoded into manifest.Chunk values
// held about 1 KiB a chunk, and every simulated worker of the scale
// simulation cached the shard it worked in (27% of the heap at 1,000
// chunks x 50 workers); this form keeps a small fraction of the encoded
// size, and decodes only the chunk asked for.
type compactShard struct {
	first  int      // the index of the shard's first chunk
	n      int      // chunks
	blocks [][]byte // s2 blocks of shardBlockChunks lines of chunk JSON
	size   int64    // the blocks' bytes
	// blockChunks, when not zero, says that each block holds the bytes of
	// a block of the manifest's block table (blockChunks chunks of the
	// shard's JSON as it is, comma-separated: compactBlocks), not lines.
	blockChunks int
	// buffers holds the buffers (*[]byte) blocks are decompressed into: a
	// chunk's decoding copies what it keeps, and a block's some KiB were
	// the largest allocation of a chunk run.
	buffers sync.Pool
}

// newCompactShard compacts a decoded and checked shard.
func newCompactShard(first int, sh *manifest.Shard) (*compactShard, error) {
	raw := make([][]byte, len(sh.Chunks))
	for i := range sh.Chunks {
		b, err := json.Marshal(&sh.Chunks[i])
		if err != nil {
			return nil, err
		}
		raw[i] = b
	}
	return compactRaw(first, raw), nil
}

// compactRaw compacts the chunks' JSON of a split shard
// (manifest.SplitShard), one line each.
func compactRaw(first int, chunks [][]byte) *compactShard {
	cs := &compactShard{first: first, n: len(chunks)}
	var lines, scratch []byte
	for i, b := range chunks {
		lines = append(append(lines, b...), '\n')
		if (i+1)%shardBlockChunks == 0 || i == len(chunks)-1 {
			// s2.Encode's result has the capacity of the worst case.
			scratch = s2.Encode(scratch[:cap(scratch)], lines)
			block := make([]byte, len(scratch))
			copy(block, scratch)
			cs.blocks = append(cs.blocks, block)
			cs.size += int64(len(block))
			lines = lines[:0]
		}
	}
	return cs
}

// compactBlocks compacts shard s of m as r reads it from its first byte
// (read whole, the shard whose ETag was planned), whose manifest has a
// block table (Manifest.ShardBlocks: m.BlockChunks chunks a block): each
// block's bytes are compressed as they are, and a chunk's lookup cuts
// its block as a block read by range is cut (manifest.BlockChunk).
// Cutting the whole shard into chunks first (manifest.SplitShard,
// compactRaw) was more than half of what a worker paid to read a shard
// whole, for the few of its chunks the worker runs; and read block by
// block the shard's bytes are never held whole (a shard of 10,000 chunks
// is 2 MB: 40% of the bytes the 10,000 x 100 simulation allocated). It
// stops at the end of the last block. A shard that ends before it is
// ErrInvalid; other read errors are returned as they are.
func compactBlocks(m *manifest.Manifest, s int, r io.Reader) (*compactShard, error) {
	first, end := m.ShardBounds(s)
	off := m.ShardBlocks[s].Offsets
	cs := &compactShard{first: first, n: end - first, blockChunks: m.BlockChunks}
	short := func(err error, at int64) error {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: the shard ends before byte %d of its block table", manifest.ErrInvalid, at)
		}
		return err
	}
	if _, err := io.CopyN(io.Discard, r, off[0]); err != nil { // the shard's header
		return nil, short(err, off[0])
	}
	var buf, scratch []byte
	for k := range len(off) - 1 {
		var err error
		if buf, err = readBlockBytes(r, off[k+1]-off[k], buf); err != nil {
			return nil, short(err, off[k+1])
		}
		scratch = s2.Encode(scratch[:cap(scratch)], buf)
		block := make([]byte, len(scratch))
		copy(block, scratch)
		cs.blocks = append(cs.blocks, block)
		cs.size += int64(len(block))
	}
	return cs, nil
}

// readBlockBytes reads the n bytes of a block from r into buf's array
// (or a larger one) and returns them. n is the block table's, which a
// corrupt manifest makes anything: beyond buf's capacity the buffer
// grows as the bytes come, so that a block past the shard's end is
// io.EOF (or io.ErrUnexpectedEOF) once the shard ends, not an allocation
// of n bytes first (makeslice: len out of range).
func readBlockBytes(r io.Reader, n int64, buf []byte) ([]byte, error) {
	if n > int64(cap(buf)) && n <= blockUpfront {
		buf = make([]byte, n)
	}
	if n <= int64(cap(buf)) {
		buf = buf[:n]
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	b := bytes.NewBuffer(make([]byte, 0, max(cap(buf), blockUpfront)))
	_, err := io.CopyN(b, r, n)
	return b.Bytes(), err
}

// blockUpfront is the size up to which readBlockBytes allocates a
// block's bytes at once: a block of 64 one-object chunks is about 13 KB,
// and growing a buffer to it as the bytes came (bytes.Buffer from 512 B)
// was a tenth of the CPU a worker of the scale simulation spent on
// reading manifest blocks. Past it the buffer grows with the bytes read.
const blockUpfront = 1 << 20

// chunk decodes the chunk of index i (an index of the job, not of the
// shard); ok is false when the shard does not hold it.
func (cs *compactShard) chunk(i int) (c manifest.Chunk, ok bool, err error) {
	k := i - cs.first
	if k < 0 || k >= cs.n {
		return manifest.Chunk{}, false, nil
	}
	buf, _ := cs.buffers.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	defer cs.buffers.Put(buf)
	per := shardBlockChunks
	if cs.blockChunks > 0 {
		per = cs.blockChunks
	}
	lines, err := s2.Decode((*buf)[:cap(*buf)], cs.blocks[k/per])
	*buf = lines
	if err != nil {
		return manifest.Chunk{}, false, fmt.Errorf("cached shard block: %w", err)
	}
	var line []byte
	if cs.blockChunks > 0 {
		b := k / per
		if line, err = manifest.BlockChunk(lines, min(per, cs.n-b*per), k%per, "a cached block"); err != nil {
			return manifest.Chunk{}, false, err
		}
	} else {
		for range k % per {
			_, lines, _ = bytes.Cut(lines, []byte{'\n'})
		}
		line, _, _ = bytes.Cut(lines, []byte{'\n'})
	}
	// Decoded and validated here, not when the shard was read: a worker
	// runs a few of a shard's chunks (manifest.SplitShard).
	if c, err = manifest.DecodeChunk(line, manifest.ChunkID(i)); err != nil {
		return manifest.Chunk{}, false, err
	}
	return c, true, nil
}
