package fanout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/fanout-dev/fanout/manifest"
)

// TestCompactShardGivesBackEveryChunk compacts shards of several sizes
// (less than a block, a block and a bit, many blocks) whose chunks have
// one or more parts, CSV headers and row-group ranges, and reads every
// chunk back: each must equal the decoded shard's, and the compact form
// must be smaller than the shard's JSON.
func TestCompactShardGivesBackEveryChunk(t *testing.T) {
	for _, n := range []int{1, shardBlockChunks - 1, shardBlockChunks, shardBlockChunks + 1, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			const first = 20000
			sh := &manifest.Shard{Version: 1, Job: "j0123456789abcdef0123", Index: 2}
			for i := range n {
				c := manifest.Chunk{ID: manifest.ChunkID(first + i), Bytes: int64(i * 7)}
				for p := range 1 + i%3 {
					// Valid parts (a chunk is validated when decoded): CSV
					// byte ranges with a header, Parquet row-group runs.
					part := manifest.Part{
						Object: manifest.ObjectRef{Store: "s3://bucket", Key: fmt.Sprintf("in/%06d-%d.csv", i, p), Size: int64(1000 + i), ETag: fmt.Sprintf("\"%032x\"", i), Format: "csv"},
						Start:  int64(p * 100), End: int64(p*100 + 100), Header: []string{"a", fmt.Sprint("b\n", i)},
					}
					if p == 2 {
						part = manifest.Part{
							Object: manifest.ObjectRef{Store: "s3://bucket", Key: fmt.Sprintf("in/%06d.parquet", i), Size: int64(1000 + i), ETag: "e", Format: "parquet"},
							Start:  0, End: -1, FirstRowGroup: i % 5, LastRowGroup: i%5 + 1 + i%2,
						}
					}
					c.Parts = append(c.Parts, part)
				}
				sh.Chunks = append(sh.Chunks, c)
			}
			lines, err := newCompactShard(first, sh)
			if err != nil {
				t.Fatal(err)
			}
			// The same shard as the planner writes it with a block table
			// (blocks of 64 chunks, and of 7), compacted by its blocks.
			forms := map[string]*compactShard{"lines": lines}
			for _, bc := range []int{manifest.DefaultBlockChunks, 7} {
				body, offsets, err := manifest.EncodeShard(sh, bc)
				if err != nil {
					t.Fatal(err)
				}
				m := &manifest.Manifest{Chunks: first + n, Shards: 3, ShardSize: first / 2, BlockChunks: bc,
					ShardBlocks: []manifest.ShardBlocks{{}, {}, {ETag: "e", Offsets: offsets}}}
				cs, err := compactBlocks(m, 2, bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				forms[fmt.Sprintf("blocks of %d", bc)] = cs
				if _, err := compactBlocks(m, 2, bytes.NewReader(body[:offsets[len(offsets)-1]-1])); !errors.Is(err, manifest.ErrInvalid) {
					t.Errorf("blocks of %d: a body cut before its last block's end: got %v, want ErrInvalid", bc, err)
				}
			}
			enc, err := json.Marshal(sh)
			if err != nil {
				t.Fatal(err)
			}
			for form, cs := range forms {
				for i, want := range sh.Chunks {
					got, ok, err := cs.chunk(first + i)
					if err != nil || !ok {
						t.Fatalf("%s: chunk %d: ok %v, err %v", form, first+i, ok, err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: chunk %d: got %+v, want %+v", form, first+i, got, want)
					}
				}
				for _, i := range []int{first - 1, first + n, 0} {
					if _, ok, err := cs.chunk(i); ok || err != nil {
						t.Errorf("%s: chunk %d outside the shard: got ok %v, err %v; want not found", form, i, ok, err)
					}
				}
				var held int
				for _, b := range cs.blocks {
					held += cap(b)
				}
				if held != int(cs.size) {
					t.Errorf("%s: the blocks hold %d bytes, the shard counts %d", form, held, cs.size)
				}
				if cs.size >= int64(len(enc)) {
					t.Errorf("%s: compact shard holds %d bytes, the shard's JSON %d: want fewer", form, cs.size, len(enc))
				}
				t.Logf("%s: %d chunks: %d bytes of JSON, %d compact", form, n, len(enc), cs.size)
			}
		})
	}
}

// BenchmarkCompactShard: what a worker pays for a manifest shard of
// 10,000 one-object chunks (the scale simulation's) read whole: compacting
// it once per read, and decoding one chunk from it per chunk run. Two
// forms: split into chunks first and compacted as lines (a manifest
// without a block table: split+compact includes manifest.SplitShard), or
// its block table's blocks compacted as they are (compactBlocks).
func BenchmarkCompactShard(b *testing.B) {
	const n = 10000
	sh := &manifest.Shard{Version: manifest.Version, Job: "j0123456789abcdef0123"}
	for i := range n {
		sh.Chunks = append(sh.Chunks, manifest.Chunk{ID: manifest.ChunkID(i), Bytes: 300, Parts: []manifest.Part{{
			Object: manifest.ObjectRef{Store: "s3://scale", Key: fmt.Sprintf("in/%02x/obj-%08d.jsonl", i%256, i), Size: 300, ETag: fmt.Sprintf("\"%032x\"", i*7919), Format: "jsonl"},
			Start:  0, End: -1}}})
	}
	body, offsets, err := manifest.EncodeShard(sh, manifest.DefaultBlockChunks)
	if err != nil {
		b.Fatal(err)
	}
	m := &manifest.Manifest{Chunks: n, Shards: 1, ShardSize: n, BlockChunks: manifest.DefaultBlockChunks,
		ShardBlocks: []manifest.ShardBlocks{{ETag: "e", Offsets: offsets}}}
	split, err := manifest.SplitShard(body)
	if err != nil {
		b.Fatal(err)
	}
	lines := compactRaw(0, split.Chunks)
	blocks, err := compactBlocks(m, 0, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("form=lines/split+compact", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for range b.N {
			s, err := manifest.SplitShard(body)
			if err != nil {
				b.Fatal(err)
			}
			compactRaw(0, s.Chunks)
		}
		b.ReportMetric(float64(lines.size), "held-bytes")
	})
	b.Run("form=blocks/compact", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for range b.N {
			if _, err := compactBlocks(m, 0, bytes.NewReader(body)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(blocks.size), "held-bytes")
	})
	for _, f := range []struct {
		name string
		cs   *compactShard
	}{{"lines", lines}, {"blocks", blocks}} {
		b.Run("form="+f.name+"/chunk", func(b *testing.B) {
			for i := range b.N {
				if _, ok, err := f.cs.chunk(i * 97 % n); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

// TestABlockTableBeyondItsShardIsInvalid: a block table (the manifest's)
// whose last block ends far beyond the shard's bytes makes compactBlocks
// return ErrInvalid once the shard ends, not allocate the block's size
// first (a panic, makeslice: len out of range, or the process out of
// memory for a few TB).
func TestABlockTableBeyondItsShardIsInvalid(t *testing.T) {
	sh := &manifest.Shard{Version: manifest.Version, Job: "j0123456789abcdef0123"}
	for i := range 10 {
		sh.Chunks = append(sh.Chunks, manifest.Chunk{ID: manifest.ChunkID(i), Bytes: 1, Parts: []manifest.Part{{
			Object: manifest.ObjectRef{Store: "s3://b", Key: fmt.Sprintf("in/%d", i), Size: 1, ETag: "e", Format: "jsonl"}, End: -1}}})
	}
	body, offsets, err := manifest.EncodeShard(sh, 4)
	if err != nil {
		t.Fatal(err)
	}
	offsets[len(offsets)-1] = 1 << 50
	m := &manifest.Manifest{Chunks: 10, Shards: 1, ShardSize: 10, BlockChunks: 4,
		ShardBlocks: []manifest.ShardBlocks{{ETag: "e", Offsets: offsets}}}
	var cerr error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("compactBlocks panicked: %v", p)
			}
		}()
		_, cerr = compactBlocks(m, 0, bytes.NewReader(body))
	}()
	if !errors.Is(cerr, manifest.ErrInvalid) {
		t.Fatalf("compactBlocks of a table ending at byte 2^50 of a %d-byte shard: %v, want ErrInvalid", len(body), cerr)
	}
}
