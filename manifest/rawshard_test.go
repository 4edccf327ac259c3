package manifest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// agreeWithDecodeShard checks SplitShard against DecodeShard (the
// oracle): a shard DecodeShard reads is split into chunks that decode
// to DecodeShard's, one line each; a document DecodeShard refuses for
// its header or its JSON is refused by SplitShard or has a chunk that
// DecodeChunk refuses; a version error is one for both.
func agreeWithDecodeShard(t *testing.T, data []byte) {
	t.Helper()
	want, werr := DecodeShard(data)
	got, gerr := SplitShard(data)
	if werr == nil {
		if gerr != nil {
			t.Fatalf("SplitShard: %v; DecodeShard read it", gerr)
		}
		if got.Version != want.Version || got.Job != want.Job || got.Index != want.Index || len(got.Chunks) != len(want.Chunks) {
			t.Fatalf("header %d %q %d, %d chunks; want %d %q %d, %d chunks", got.Version, got.Job, got.Index, len(got.Chunks),
				want.Version, want.Job, want.Index, len(want.Chunks))
		}
		for i, raw := range got.Chunks {
			if bytes.IndexByte(raw, '\n') >= 0 {
				t.Fatalf("chunk %d's JSON holds a newline: %q", i, raw)
			}
			c, err := DecodeChunk(raw, want.Chunks[i].ID)
			if err != nil || !reflect.DeepEqual(c, want.Chunks[i]) {
				t.Fatalf("chunk %d: got %+v (%v), want %+v", i, c, err, want.Chunks[i])
			}
		}
		return
	}
	if errors.Is(werr, ErrUnsupportedVersion) != errors.Is(gerr, ErrUnsupportedVersion) {
		t.Fatalf("SplitShard: %v; DecodeShard: %v: want both or neither a version error", gerr, werr)
	}
	if gerr != nil {
		if !errors.Is(gerr, ErrInvalid) && !errors.Is(gerr, ErrUnsupportedVersion) {
			t.Fatalf("SplitShard: %v: want ErrInvalid or ErrUnsupportedVersion", gerr)
		}
		return
	}
	// Split although DecodeShard refused: a chunk must be what it
	// refused (the chunks are checked when decoded), or their IDs not
	// consecutive (CheckRawShard and DecodeChunk's ID check).
	first, _ := ChunkIndex("")
	for i, raw := range got.Chunks {
		var c Chunk
		if json.Unmarshal(raw, &c) != nil || c.Validate() != nil {
			return
		}
		n, err := ChunkIndex(c.ID)
		if err != nil {
			return
		}
		if i == 0 {
			first = n
		} else if n != first+i {
			return
		}
	}
	t.Fatalf("SplitShard read every chunk of a shard DecodeShard refuses (%v)", werr)
}

func TestSplitShardAgreesWithDecodeShard(t *testing.T) {
	enc := mustEncode(t, testShard())
	var indented bytes.Buffer
	if err := json.Indent(&indented, enc, "", "\t"); err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{
		"encoded":                   string(enc),
		"indented":                  indented.String(),
		"chunks first, unknown key": `{"chunks":[{"id":"c00000001","parts":[{"object":{"store":"s3://in","key":"a}]\"[{","size":3,"etag":"e","format":"lines"},"start":0,"end":3}],"bytes":3}],"extra":{"a":[1,{"b":null}]},"Index":0,"job":"` + testJob + `","version":1}`,
		"escaped key":               `{"version":1,"j\u006fb":"` + testJob + `","index":0,"chunks":[{"id":"c00000000","parts":[{"object":{"store":"s3://in","key":"a","size":3,"etag":"e","format":"lines"},"start":0,"end":3}],"bytes":3}]}`,
		"no version":                `{"job":"` + testJob + `","index":0,"chunks":[]}`,
		"newer":                     `{"version":99,"job":"` + testJob + `","index":0,"chunks":[{"id":"c00000000"}]}`,
		"version not an integer":    `{"version":"1","job":"` + testJob + `","index":0,"chunks":[]}`,
		"no chunks":                 `{"version":1,"job":"` + testJob + `","index":0,"chunks":[]}`,
		"null chunks":               `{"version":1,"job":"` + testJob + `","index":0,"chunks":null}`,
		"a chunk without parts":     `{"version":1,"job":"` + testJob + `","index":0,"chunks":[{"id":"c00000000","bytes":3}]}`,
		"ids not consecutive":       strings.Replace(string(enc), "c00000011", "c00000019", 1),
		"missing comma":             strings.Replace(string(enc), `},{"id"`, `} {"id"`, 1),
		"mismatched bracket":        strings.Replace(string(enc), `]}],"bytes":100`, `}}],"bytes":100`, 1),
		"trailing":                  string(enc) + "{}",
		"truncated":                 string(enc[:len(enc)/2]),
		"negative index":            `{"version":1,"job":"` + testJob + `","index":-1,"chunks":[{"id":"c00000000"}]}`,
		"bad job":                   `{"version":1,"job":"no","index":0,"chunks":[{"id":"c00000000"}]}`,
		"empty":                     ``,
		"null":                      `null`,
	} {
		t.Run(name, func(t *testing.T) { agreeWithDecodeShard(t, []byte(doc)) })
	}
}

func TestCheckRawShard(t *testing.T) {
	m := &Manifest{Job: testJob, Chunks: 14, Shards: 2, ShardSize: 10}
	sh, err := SplitShard(mustEncode(t, testShard())) // index 1: chunks 10 to 13
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckRawShard(sh); err != nil {
		t.Fatalf("CheckRawShard: %v; want nil", err)
	}
	for name, m := range map[string]*Manifest{
		"another job":     {Job: "j" + strings.Repeat("0", 20), Chunks: 14, Shards: 2, ShardSize: 10},
		"index past":      {Job: testJob, Chunks: 10, Shards: 1, ShardSize: 10},
		"other chunks":    {Job: testJob, Chunks: 16, Shards: 2, ShardSize: 8},
		"fewer chunks":    {Job: testJob, Chunks: 13, Shards: 2, ShardSize: 10},
		"first not first": {Job: testJob, Chunks: 24, Shards: 3, ShardSize: 10, ShardFirst: []int{0, 9, 13}},
	} {
		if err := m.CheckRawShard(sh); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: CheckRawShard: %v; want ErrInvalid", name, err)
		}
	}
}

// FuzzSplitShard checks SplitShard against DecodeShard on anything, from
// FuzzDecodeShard's seeds.
func FuzzSplitShard(f *testing.F) {
	f.Add(mustEncode(f, testShard()))
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeShard", "*"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		// The corpus files hold Go values: []byte("...").
		if _, v, ok := bytes.Cut(b, []byte("[]byte(")); ok {
			var s string
			if json.Unmarshal(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(")")), &s) == nil {
				f.Add([]byte(s))
			}
		}
	}
	f.Fuzz(agreeWithDecodeShard)
}

// BenchmarkSplitShard: a shard of 10,000 chunks cut into its chunks' JSON
// by SplitShard (a structural scan, hand-written) and by encoding/json
// (json.Unmarshal into json.RawMessage elements, the library's way to
// leave them encoded): the benchmark that keeps the hand-written scan
// (scripts/bench.sh, BENCH_ONLY=shard-split).
func BenchmarkSplitShard(b *testing.B) {
	ref := testShard().Chunks[0].Parts[0].Object
	sh := &Shard{Version: Version, Job: testJob, Index: 0}
	for i := range 10000 {
		o := ref
		o.Key = fmt.Sprintf("in/%02x/obj-%08d.csv", i%256, i)
		sh.Chunks = append(sh.Chunks, Chunk{ID: fmt.Sprintf("c%08d", i), Parts: []Part{{Object: o, Start: 0, End: -1, Header: []string{"a", "b"}}}, Bytes: 300})
	}
	enc := mustEncode(b, sh)
	b.Run("split=SplitShard", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		for range b.N {
			s, err := SplitShard(enc)
			if err != nil || len(s.Chunks) != 10000 {
				b.Fatal(err)
			}
		}
	})
	b.Run("split=encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		for range b.N {
			var s struct {
				Version int               `json:"version"`
				Job     string            `json:"job"`
				Index   int               `json:"index"`
				Chunks  []json.RawMessage `json:"chunks"`
			}
			if err := json.Unmarshal(enc, &s); err != nil || len(s.Chunks) != 10000 {
				b.Fatal(err)
			}
		}
	})
}

// TestStringStops checks the eight-bytes-at-a-time look against a byte
// by byte one: the first byte it marks is the first that stops a string
// (none when none does), for every byte value at every position among
// bytes that do not stop one, and for random words.
func TestStringStops(t *testing.T) {
	stops := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	check := func(w [8]byte) {
		t.Helper()
		want := 8
		for i, c := range w {
			if stops(c) {
				want = i
				break
			}
		}
		if got := bits.TrailingZeros64(stringStops(binary.LittleEndian.Uint64(w[:]))) / 8; got != want {
			t.Fatalf("stringStops(%q) marks byte %d first, want %d", w[:], got, want)
		}
	}
	for _, fill := range []byte{'a', ' ', 0x7f, 0x80, 0xff, '!', '#', '[', ']', 0x1f, '"'} {
		for pos := range 8 {
			for c := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				check(w)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1 << 20 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64()|0x2020202020202020)
		check(w)
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		check(w)
	}
}
