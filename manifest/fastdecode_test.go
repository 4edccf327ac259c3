package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestMarkerDecodingIsEncodingJSONs: whatever marker JSON the hand-written
// decoder accepts it decodes as encoding/json does, for markers with
// every field set or empty at random (encoded by encoding/json); it
// accepts every one of plain strings (no escapes but \" and \\, valid
// UTF-8) without rejections, as workers write them, so that the commit's
// reads take it; and DecodeMarker gives the same marker either way.
func TestMarkerDecodingIsEncodingJSONs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fast := 0
	for range 5000 {
		body := encodingJSON(t, randomMarker(r, false))
		if checkFastMarker(t, body) {
			fast++
		}
	}
	t.Logf("%d of 5000 random markers with odd strings or rejections decoded by hand", fast)
	for range 5000 {
		body := encodingJSON(t, randomMarker(r, true))
		if !checkFastMarker(t, body) {
			t.Fatalf("a marker of plain strings left to encoding/json: %s", body)
		}
	}
	m := testMarker()
	m.Files[0].Upload = &Upload{ID: "u1", Parts: []UploadPart{{Number: 1, ETag: `"e"`, Size: 1234}}}
	m.Backup, m.Generation, m.MemoryMB, m.Reason = true, 2, 1024, "x"
	body := mustEncode(t, m)
	if !checkFastMarker(t, body) {
		t.Fatalf("a worker's marker is left to encoding/json: %s", body)
	}
	got, err := DecodeMarker(body)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("DecodeMarker: %+v, %v; want %+v", got, err, m)
	}
	for name, doc := range map[string]string{
		"unknown key":    `{"version":1,"other":1}`,
		"rejections":     `{"version":1,"rejected":1}`,
		"key twice":      `{"version":1,"version":2}`,
		"key case":       `{"Version":1}`,
		"space":          `{"version": 1}`,
		"null":           `{"job":null}`,
		"escape":         `{"job":"a\nb"}`,
		"bad utf8":       "{\"job\":\"\xff\"}",
		"float":          `{"epoch":1.0}`,
		"exponent":       `{"epoch":1e3}`,
		"leading zero":   `{"epoch":01}`,
		"overflow":       `{"epoch":9223372036854775808}`,
		"trailing":       `{"epoch":1}x`,
		"unterminated":   `{"job":"a`,
		"time escaped":   `{"started":"2026-12-07T12:00:00\/Z"}`,
		"file key twice": `{"files":[{"key":"a","key":"b"}]}`,
	} {
		if _, ok := decodeMarkerFast([]byte(doc)); ok {
			t.Errorf("%s: %s decoded by hand; want it left to encoding/json", name, doc)
		}
	}
}

// checkFastMarker decodes body by hand and, when that accepts it, checks
// the result against encoding/json's; it reports whether it did.
func checkFastMarker(t testing.TB, body []byte) bool {
	t.Helper()
	got, ok := decodeMarkerFast(body)
	if !ok {
		return false
	}
	var want ChunkMarker
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatalf("decoded by hand, but encoding/json refuses it (%v): %q", err, body)
	}
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("%q decoded by hand as\n%+v\nby encoding/json as\n%+v", body, got, &want)
	}
	return true
}

// FuzzDecodeMarkerFast: any bytes the hand-written marker decoder
// accepts, encoding/json accepts and decodes into the same marker.
func FuzzDecodeMarkerFast(f *testing.F) {
	m := testMarker()
	m.Files[0].Upload = &Upload{ID: "u1", Parts: []UploadPart{{Number: 1, ETag: `"e"`, Size: 1234}}}
	f.Add(mustEncode(f, m))
	f.Add(mustEncode(f, testMarker()))
	f.Add([]byte(`{"files":[],"inputs":{},"files2":[{"upload":{"parts":null}}]}`))
	f.Add([]byte(`{"job":"a\/\"\\b","epoch":-0,"files":[{"upload":{}}]}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) { checkFastMarker(t, data) })
}

// BenchmarkDecodeMarker: the marker of BenchmarkEncodeMarker decoded by
// hand and by encoding/json (the commit reads every chunk's): the
// benchmark that keeps decodeMarkerFast (scripts/bench.sh,
// BENCH_ONLY=matcher).
func BenchmarkDecodeMarker(b *testing.B) {
	body := encodingJSON(b, benchMarker())
	b.Run("dec=hand-written", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := decodeMarkerFast(body); !ok {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("dec=encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var m ChunkMarker
			if err := json.Unmarshal(body, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// randomChunk is a chunk of one to three parts with every optional field
// set or not at random, strings as randomMarker's.
func randomChunk(r *rand.Rand, plain bool) Chunk {
	m := randomMarker(r, plain) // its strings and numbers
	c := Chunk{ID: m.Chunk, Bytes: m.BytesIn}
	for i := range 1 + r.IntN(3) {
		p := Part{Object: ObjectRef{Store: m.Job, Key: m.Worker, Size: m.Epoch, ETag: m.State, Format: m.Reason}, Start: m.RecordsIn, End: m.RecordsOut}
		if r.IntN(2) == 0 {
			p.Object.VersionID, p.Object.Compression = m.Shuffle, m.Plan
			p.FirstRowGroup, p.LastRowGroup = m.Attempts, i
		}
		switch r.IntN(3) {
		case 0:
			p.Header = []string{}
		case 1:
			p.Header = []string{m.Chunk, m.Worker, m.Plan}
		}
		c.Parts = append(c.Parts, p)
	}
	return c
}

// TestChunkDecodingIsEncodingJSONs: whatever chunk JSON the hand-written
// decoder accepts it decodes as encoding/json does; it accepts every
// chunk of plain strings, as the planner writes them; DecodeChunk gives
// the same chunk either way.
func TestChunkDecodingIsEncodingJSONs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 10000 {
		plain := i%2 == 0
		// As the planner writes it (Encode: no HTML escaping), one
		// chunk of a shard cut out (no newline).
		b := bytes.TrimSuffix(encodingJSON(t, randomChunk(r, plain)), []byte("\n"))
		if !checkFastChunk(t, b) && plain {
			t.Fatalf("a chunk of plain strings left to encoding/json: %s", b)
		}
	}
	c := testShard().Chunks[0]
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeChunk(b, c.ID)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("DecodeChunk: %+v, %v; want %+v", got, err, c)
	}
	for name, doc := range map[string]string{
		"unknown key": `{"id":"c00000000","other":1}`,
		"key twice":   `{"id":"c00000000","id":"c00000001"}`,
		"null parts":  `{"parts":null}`,
		"escape":      `{"id":"c\u0030"}`,
		"trailing":    `{"id":"c00000000"} `,
		"part key":    `{"parts":[{"object":{"Key":"a"}}]}`,
	} {
		if _, ok := decodeChunkFast([]byte(doc)); ok {
			t.Errorf("%s: %s decoded by hand; want it left to encoding/json", name, doc)
		}
	}
}

// checkFastChunk is checkFastMarker for a chunk.
func checkFastChunk(t testing.TB, body []byte) bool {
	t.Helper()
	got, ok := decodeChunkFast(body)
	if !ok {
		return false
	}
	var want Chunk
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatalf("decoded by hand, but encoding/json refuses it (%v): %q", err, body)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q decoded by hand as\n%+v\nby encoding/json as\n%+v", body, got, want)
	}
	return true
}

// FuzzDecodeChunkFast: any bytes the hand-written chunk decoder accepts,
// encoding/json accepts and decodes into the same chunk.
func FuzzDecodeChunkFast(f *testing.F) {
	for _, c := range testShard().Chunks {
		b, err := json.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"c\"1","parts":[{"object":{},"header":[]},{"start":-0}],"bytes":0}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkFastChunk(t, data) })
}

// BenchmarkDecodeChunk: a chunk of one object as the scale simulation's
// planner writes it, decoded by hand and by encoding/json (a worker
// decodes the chunk of each task it runs): the benchmark that keeps
// decodeChunkFast (scripts/bench.sh, BENCH_ONLY=matcher).
func BenchmarkDecodeChunk(b *testing.B) {
	body, err := json.Marshal(Chunk{ID: ChunkID(1234), Bytes: 20, Parts: []Part{{Object: ObjectRef{Store: "s3://scale",
		Key: fmt.Sprintf("in/%02x/obj-%08d.txt", 1234%256, 1234), Size: 20, ETag: "0123456789abcdef0123456789abcdef", Format: FormatLines}, End: -1}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("dec=hand-written", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := decodeChunkFast(body); !ok {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("dec=encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var c Chunk
			if err := json.Unmarshal(body, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
