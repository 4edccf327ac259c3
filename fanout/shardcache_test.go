package fanout

import (
	"encoding/json"
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
			sh := &manifest.Shard{Version: 1, Job: "j", Index: 2}
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
			cs, err := newCompactShard(first, sh)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range sh.Chunks {
				got, ok, err := cs.chunk(first + i)
				if err != nil || !ok {
					t.Fatalf("chunk %d: ok %v, err %v", first+i, ok, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("chunk %d: got %+v, want %+v", first+i, got, want)
				}
			}
			for _, i := range []int{first - 1, first + n, 0} {
				if _, ok, err := cs.chunk(i); ok || err != nil {
					t.Errorf("chunk %d outside the shard: got ok %v, err %v; want not found", i, ok, err)
				}
			}
			enc, err := json.Marshal(sh)
			if err != nil {
				t.Fatal(err)
			}
			var held int
			for _, b := range cs.blocks {
				held += cap(b)
			}
			if held != int(cs.size) {
				t.Errorf("the blocks hold %d bytes, the shard counts %d", held, cs.size)
			}
			if cs.size >= int64(len(enc)) {
				t.Errorf("compact shard holds %d bytes, the shard's JSON %d: want fewer", cs.size, len(enc))
			}
			t.Logf("%d chunks: %d bytes of JSON, %d compact", n, len(enc), cs.size)
		})
	}
}

// BenchmarkCompactShard: what a worker pays for a manifest shard of
// 10,000 one-object chunks (the scale simulation's): compacting the split
// shard once per read, and decoding one chunk from it per chunk run.
func BenchmarkCompactShard(b *testing.B) {
	const n = 10000
	raw := make([][]byte, n)
	for i := range raw {
		c := manifest.Chunk{ID: manifest.ChunkID(i), Bytes: 300, Parts: []manifest.Part{{
			Object: manifest.ObjectRef{Store: "s3://scale", Key: fmt.Sprintf("in/%02x/obj-%08d.jsonl", i%256, i), Size: 300, ETag: fmt.Sprintf("\"%032x\"", i*7919), Format: "jsonl"},
			Start:  0, End: -1}}}
		b, err := json.Marshal(&c)
		if err != nil {
			panic(err)
		}
		raw[i] = b
	}
	cs := compactRaw(0, raw)
	b.Run("compact", func(b *testing.B) {
		for range b.N {
			compactRaw(0, raw)
		}
		b.ReportMetric(float64(cs.size), "held-bytes")
	})
	b.Run("chunk", func(b *testing.B) {
		for i := range b.N {
			if _, ok, err := cs.chunk(i % n); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
