package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// bigShard is a shard of n chunks from index first, of one to three
// parts each (CSV headers with characters JSON escapes).
func bigShard(first, n int) *Shard {
	s := &Shard{Version: Version, Job: testJob, Index: 0}
	for i := range n {
		c := Chunk{ID: ChunkID(first + i), Bytes: int64(i)}
		for p := range 1 + i%3 {
			c.Parts = append(c.Parts, Part{Object: ObjectRef{Store: "s3://in", Key: fmt.Sprintf("in/%06d-%d.csv", i, p), Size: 1000, ETag: fmt.Sprintf(`"%032x"`, i), Format: FormatCSV},
				Start: int64(p * 10), End: int64(p*10 + 10), Header: []string{"a", "b<&>\n\"" + strings.Repeat("x", i%7)}})
		}
		s.Chunks = append(s.Chunks, c)
	}
	return s
}

// TestEncodeShardBlocks encodes shards of several sizes with a block
// table and reads every block back by its offsets alone: the bytes are
// Encode's, each block splits into the chunks it should hold, and each
// chunk decodes to the shard's.
func TestEncodeShardBlocks(t *testing.T) {
	for _, tc := range []struct{ n, block int }{{1, 64}, {63, 64}, {64, 64}, {65, 64}, {300, 64}, {10, 1}, {10, 3}} {
		t.Run(fmt.Sprintf("%d/%d", tc.n, tc.block), func(t *testing.T) {
			sh := bigShard(500, tc.n)
			body, offsets, err := EncodeShard(sh, tc.block)
			if err != nil {
				t.Fatal(err)
			}
			if want := mustEncode(t, sh); string(body) != string(want) {
				t.Fatalf("EncodeShard's bytes differ from Encode's")
			}
			blocks := (tc.n + tc.block - 1) / tc.block
			if len(offsets) != blocks+1 {
				t.Fatalf("%d offsets, want %d", len(offsets), blocks+1)
			}
			m := &Manifest{Version: Version, Job: testJob, Spec: testSpec().WithDefaults(), Chunks: 500 + tc.n, Shards: 2, ShardSize: 500,
				BlockChunks: tc.block, ShardBlocks: []ShardBlocks{{ETag: "x", Offsets: []int64{1, 2}}, {ETag: "e", Offsets: offsets}}}
			m.ShardBlocks[0].Offsets = make([]int64, (500+tc.block-1)/tc.block+1)
			for k := range m.ShardBlocks[0].Offsets {
				m.ShardBlocks[0].Offsets[k] = int64(k + 1)
			}
			if err := m.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got := 0
			for i := 500; i < 500+tc.n; i++ {
				start, end, first, n, ok := m.BlockRange(1, i)
				if !ok || first > i || i >= first+n || (first-500)%tc.block != 0 {
					t.Fatalf("BlockRange(1, %d) = %d, %d, %d, %d, %v", i, start, end, first, n, ok)
				}
				chunks, err := SplitBlock(body[start:end], n, "block")
				if err != nil {
					t.Fatalf("SplitBlock of chunk %d's block: %v", i, err)
				}
				if c, err := BlockChunk(body[start:end], n, i-first, "block"); err != nil || !bytes.Equal(c, chunks[i-first]) {
					t.Fatalf("BlockChunk of chunk %d: %q, %v; want %q", i, c, err, chunks[i-first])
				}
				c, err := DecodeChunk(chunks[i-first], ChunkID(i))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(c, sh.Chunks[i-500]) {
					t.Fatalf("chunk %d: got %+v, want %+v", i, c, sh.Chunks[i-500])
				}
				got++
			}
			if got != tc.n {
				t.Fatalf("read %d chunks, want %d", got, tc.n)
			}
		})
	}
}

func TestSplitBlockRefuses(t *testing.T) {
	sh := bigShard(0, 5)
	body, offsets, err := EncodeShard(sh, 2) // blocks of 2, 2 and 1
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		b []byte
		n int
	}{
		"fewer chunks":     {body[offsets[0]:offsets[1]], 3},
		"more chunks":      {body[offsets[0]:offsets[2]], 2},
		"cut in a chunk":   {body[offsets[0] : offsets[1]-5], 2},
		"the shard header": {body[:offsets[1]], 2},
		"not an object":    {[]byte(`"c00000000",{}`), 2},
		"empty":            {nil, 1},
		"past the array":   {body[offsets[2]:], 1},
	} {
		if _, err := SplitBlock(tc.b, tc.n, "shard 0 block"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "shard 0 block") {
			t.Errorf("%s: SplitBlock: %v; want ErrInvalid naming the block", name, err)
		}
	}
	// BlockChunk checks the block as far as the chunk asked for.
	for name, tc := range map[string]struct {
		b    []byte
		n, j int
	}{
		"fewer chunks":     {body[offsets[0]:offsets[1]], 3, 2},
		"cut in a chunk":   {body[offsets[0] : offsets[1]-5], 2, 1},
		"the shard header": {body[:offsets[1]], 2, 0},
		"not an object":    {[]byte(`"c00000000",{}`), 2, 0},
		"empty":            {nil, 1, 0},
		"no such chunk":    {body[offsets[0]:offsets[1]], 2, 2},
		"negative":         {body[offsets[0]:offsets[1]], 2, -1},
	} {
		if _, err := BlockChunk(tc.b, tc.n, tc.j, "shard 0 block"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "shard 0 block") {
			t.Errorf("%s: BlockChunk: %v; want ErrInvalid naming the block", name, err)
		}
	}
}

func TestManifestRefusesABadBlockTable(t *testing.T) {
	good := func() *Manifest { // 25 chunks in shards of 10: 10, 10, 5
		m := testManifest()
		m.BlockChunks = 4
		m.ShardBlocks = []ShardBlocks{{ETag: "a", Offsets: []int64{40, 50, 60, 70}}, {ETag: "b", Offsets: []int64{40, 50, 60, 70}}, {ETag: "c", Offsets: []int64{40, 50, 60}}}
		return m
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("Validate: %v; want nil", err)
	}
	for name, edit := range map[string]func(*Manifest){
		"blocks without table": func(m *Manifest) { m.ShardBlocks = nil },
		"table without blocks": func(m *Manifest) { m.BlockChunks = 0 },
		"block past shard":     func(m *Manifest) { m.BlockChunks = 11 },
		"a shard short":        func(m *Manifest) { m.ShardBlocks = m.ShardBlocks[:2] },
		"no etag":              func(m *Manifest) { m.ShardBlocks[1].ETag = "" },
		"an offset short":      func(m *Manifest) { m.ShardBlocks[2].Offsets = []int64{40, 50} },
		"an offset more":       func(m *Manifest) { m.ShardBlocks[0].Offsets = append(m.ShardBlocks[0].Offsets, 80) },
		"offsets not rising":   func(m *Manifest) { m.ShardBlocks[1].Offsets[2] = 50 },
		"offset zero":          func(m *Manifest) { m.ShardBlocks[0].Offsets[0] = 0 },
	} {
		m := good()
		edit(m)
		if err := m.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate: %v; want ErrInvalid", name, err)
		}
	}
	// A manifest of the previous release (no table) stays valid.
	m := testManifest()
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate without a block table: %v", err)
	}
	if _, _, _, _, ok := m.BlockRange(0, 3); ok {
		t.Fatal("BlockRange of a manifest without a table: ok, want not")
	}
}

// FuzzSplitBlock: SplitBlock never panics, and what it accepts is n
// objects that DecodeChunk may then refuse; BlockChunk never panics and
// gives each of them (SplitBlock is its oracle).
func FuzzSplitBlock(f *testing.F) {
	body, offsets, err := EncodeShard(bigShard(0, 7), 3)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body[offsets[0]:offsets[1]], 3)
	f.Add(body[offsets[2]:offsets[3]], 1)
	f.Add([]byte(`{"a":"\"}"} , {} ,`), 2)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 1 || n > 100 {
			return
		}
		chunks, err := SplitBlock(b, n, "b")
		for j := range n {
			c, cerr := BlockChunk(b, n, j, "b")
			if cerr != nil && !errors.Is(cerr, ErrInvalid) {
				t.Fatalf("BlockChunk %d: %v; want ErrInvalid", j, cerr)
			}
			if err == nil && (cerr != nil || !bytes.Equal(c, chunks[j])) {
				t.Fatalf("BlockChunk %d: %q, %v; SplitBlock's: %q", j, c, cerr, chunks[j])
			}
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("SplitBlock: %v; want ErrInvalid", err)
			}
			return
		}
		if len(chunks) != n {
			t.Fatalf("%d chunks, want %d", len(chunks), n)
		}
		for _, c := range chunks {
			if c[0] != '{' || c[len(c)-1] != '}' {
				t.Fatalf("chunk %q is not an object", c)
			}
		}
	})
}
