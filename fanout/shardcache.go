package fanout

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// compactBlocks compacts the body of shard s of m, read whole, whose
// manifest has a block table (Manifest.ShardBlocks: m.BlockChunks chunks
// a block) and whose ETag is the one planned: each block's bytes are
// compressed as they are, and a chunk's lookup cuts its block as a block
// read by range is cut (manifest.SplitBlock). Cutting the whole shard
// into chunks first (manifest.SplitShard, compactRaw) was more than
// half of what a worker paid to read a shard whole, for the few of its
// chunks the worker runs. It fails when the body ends before the table's
// last offset.
func compactBlocks(m *manifest.Manifest, s int, body []byte) (*compactShard, error) {
	first, end := m.ShardBounds(s)
	off := m.ShardBlocks[s].Offsets
	if last := off[len(off)-1]; last > int64(len(body)) {
		return nil, fmt.Errorf("%w: %d bytes, its block table ends at byte %d", manifest.ErrInvalid, len(body), last)
	}
	cs := &compactShard{first: first, n: end - first, blockChunks: m.BlockChunks}
	var scratch []byte
	for k := range len(off) - 1 {
		scratch = s2.Encode(scratch[:cap(scratch)], body[off[k]:off[k+1]])
		block := make([]byte, len(scratch))
		copy(block, scratch)
		cs.blocks = append(cs.blocks, block)
		cs.size += int64(len(block))
	}
	return cs, nil
}

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
