package manifest

import (
	"errors"
	"fmt"
)

// DefaultBlockChunks is the number of chunks in a block of a shard's
// block table (Manifest.BlockChunks): some 13 KB of a shard of
// one-object chunks, one ranged GET.
const DefaultBlockChunks = 64

// EncodeShard encodes a shard as Encode does (the same bytes) and
// returns the byte offsets of its blocks of blockChunks chunks
// (ShardBlocks.Offsets; the caller adds the ETag the write returns).
func EncodeShard(s *Shard, blockChunks int) ([]byte, []int64, error) {
	if blockChunks <= 0 {
		return nil, nil, fmt.Errorf("manifest: encode shard: %d chunks a block is not positive", blockChunks)
	}
	body, err := Encode(s)
	if err != nil {
		return nil, nil, err
	}
	offsets := make([]int64, 0, (len(s.Chunks)+blockChunks-1)/blockChunks+1)
	n, end := 0, 0
	if _, err := splitShard(body, func(start, e int) {
		if n%blockChunks == 0 {
			offsets = append(offsets, int64(start))
		}
		n, end = n+1, e
	}); err != nil {
		return nil, nil, err
	}
	return body, append(offsets, int64(end)), nil
}

// BlockRange returns the byte range [start, end) of the block of shard i
// holding the chunk of index chunkIndex, the index of the block's first
// chunk and its number of chunks; ok is false when the manifest has no
// block table. It assumes a valid manifest, 0 <= i < Shards and a chunk
// of shard i.
func (m *Manifest) BlockRange(i, chunkIndex int) (start, end int64, first, n int, ok bool) {
	if len(m.ShardBlocks) == 0 {
		return 0, 0, 0, 0, false
	}
	shardFirst, shardEnd := m.ShardBounds(i)
	k := (chunkIndex - shardFirst) / m.BlockChunks
	first = shardFirst + k*m.BlockChunks
	off := m.ShardBlocks[i].Offsets
	return off[k], off[k+1], first, min(m.BlockChunks, shardEnd-first), true
}

// SplitBlock cuts a block of a shard (the bytes ShardBlocks.Offsets
// bound) into its n chunks' JSON, checking only its structure, as
// SplitShard does: DecodeChunk checks each chunk. Errors match
// ErrInvalid and name the block by what.
func SplitBlock(b []byte, n int, what string) ([][]byte, error) {
	sc := &jsonScanner{b: b}
	chunks := make([][]byte, 0, n)
	for len(chunks) < n {
		v, err := sc.blockChunk(len(chunks), n, what)
		if err != nil {
			return nil, err
		}
		chunks = append(chunks, v)
	}
	sc.space()
	if sc.i != len(b) {
		return nil, invalid(what, fmt.Errorf("offset %d: more than the %d chunks of the block", sc.i, n))
	}
	return chunks, nil
}

// BlockChunk returns the JSON of chunk j of the n chunks of a block, as
// SplitBlock cuts it, scanning the block only as far as that chunk: the
// structure of what comes after it is not checked (SplitBlock checks
// it). A worker that holds a shard as its blocks (a shard read whole)
// looks one chunk up at a time. Errors match ErrInvalid and name the
// block by what.
func BlockChunk(b []byte, n, j int, what string) ([]byte, error) {
	if j < 0 || j >= n {
		return nil, invalid(what, fmt.Errorf("no chunk %d in a block of %d", j, n))
	}
	sc := &jsonScanner{b: b}
	for k := 0; ; k++ {
		v, err := sc.blockChunk(k, n, what)
		if err != nil || k == j {
			return v, err
		}
	}
}

// blockChunk reads chunk k of the n chunks of a block at the scanner, and
// the comma after it (required but after the last).
func (sc *jsonScanner) blockChunk(k, n int, what string) ([]byte, error) {
	v, err := sc.value()
	if err != nil {
		return nil, invalid(what, err)
	}
	if v[0] != '{' {
		return nil, invalid(what, fmt.Errorf("offset %d: a chunk is not an object", sc.i-len(v)))
	}
	sc.space()
	if sc.i < len(sc.b) && sc.b[sc.i] == ',' {
		sc.i++
	} else if k+1 < n {
		return nil, invalid(what, fmt.Errorf("holds %d chunks, want %d", k+1, n))
	}
	return v, nil
}

// checkBlocks checks the block table against the shards: one entry a
// shard, each with an ETag and one offset more than its blocks, the
// offsets increasing.
func (m *Manifest) checkBlocks() error {
	if len(m.ShardBlocks) == 0 {
		if m.BlockChunks != 0 {
			return errors.New("block_chunks without shard_blocks")
		}
		return nil
	}
	if m.BlockChunks <= 0 || m.BlockChunks > m.ShardSize {
		return fmt.Errorf("block_chunks %d, want 1 to shard_size %d", m.BlockChunks, m.ShardSize)
	}
	if len(m.ShardBlocks) != m.Shards {
		return fmt.Errorf("shard_blocks lists %d shards, want shards %d", len(m.ShardBlocks), m.Shards)
	}
	for i, sb := range m.ShardBlocks {
		first, end := m.ShardBounds(i)
		want := (end-first+m.BlockChunks-1)/m.BlockChunks + 1
		if sb.ETag == "" {
			return fmt.Errorf("shard %d: block table without an etag", i)
		}
		if len(sb.Offsets) != want {
			return fmt.Errorf("shard %d: %d block offsets, want %d for %d chunks in blocks of %d", i, len(sb.Offsets), want, end-first, m.BlockChunks)
		}
		for k, off := range sb.Offsets {
			if off <= 0 || (k > 0 && off <= sb.Offsets[k-1]) {
				return fmt.Errorf("shard %d: block offset %d is %d, want positive and above the one before", i, k, off)
			}
		}
	}
	return nil
}
