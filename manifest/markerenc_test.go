package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// encodingJSON is what Encode wrote with encoding/json before
// appendMarker: the oracle of the hand-written encoder.
func encodingJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// oddStrings are strings encoding/json escapes in each of its ways.
var oddStrings = []string{"", "plain", `q"uote`, `back\slash`, "nl\nhere", "\b\f\r\t", "\x00\x01\x1f\x7f", "<html>&amp;", "é ü ☃ 𝄞",
	"\u2028 and \u2029", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate", strings.Repeat("long", 100)}

// plainStrings are strings the hand-written decoder takes (escapes of
// '"' and '\\' only, valid UTF-8).
var plainStrings = []string{"", "plain", `q"uote`, `back\slash`, "a/b", "é ü ☃ 𝄞", "<html>&amp;", "\x7f", strings.Repeat("long", 100)}

// randomMarker fills every field of a marker, each one empty or not at
// random, strings from oddStrings or random bytes; plain, from
// plainStrings, and no Rejections (what decodeMarkerFast takes).
func randomMarker(r *rand.Rand, plain bool) *ChunkMarker {
	str := func() string {
		if plain {
			return plainStrings[r.IntN(len(plainStrings))]
		}
		if r.IntN(4) == 0 {
			b := make([]byte, r.IntN(12))
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			return string(b)
		}
		return oddStrings[r.IntN(len(oddStrings))]
	}
	num := func() int64 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return math.MinInt64 + r.Int64N(10)
		case 2:
			return math.MaxInt64 - r.Int64N(10)
		}
		return r.Int64N(2000) - 1000
	}
	counts := func() map[string]int64 {
		if r.IntN(3) == 0 {
			return nil
		}
		m := map[string]int64{}
		for range r.IntN(4) {
			m[str()] = num()
		}
		return m
	}
	files := func() []OutputFile {
		var fs []OutputFile
		for range r.IntN(3) {
			f := OutputFile{Key: str(), Size: num(), Rows: num()}
			if r.IntN(2) == 0 {
				f.ETag, f.Partition, f.SHA256 = str(), str(), str()
			}
			for range r.IntN(3) {
				f.Partitions = append(f.Partitions, num())
			}
			switch r.IntN(4) {
			case 0:
				f.Upload = &Upload{ID: str()} // parts nil: null
			case 1:
				f.Upload = &Upload{ID: str(), Parts: []UploadPart{}}
			case 2:
				f.Upload = &Upload{ID: str()}
				for range 1 + r.IntN(3) {
					f.Upload.Parts = append(f.Upload.Parts, UploadPart{Number: int(num()), ETag: str(), Size: num()})
				}
			}
			fs = append(fs, f)
		}
		return fs
	}
	zones := []*time.Location{time.UTC, time.FixedZone("", 0), time.FixedZone("x", 5*3600+30*60), time.FixedZone("y", -7*3600)}
	tm := func() time.Time {
		if r.IntN(5) == 0 {
			return time.Time{}
		}
		return time.Unix(r.Int64N(1<<34), r.Int64N(1e9)*int64(r.IntN(2))).In(zones[r.IntN(len(zones))])
	}
	m := &ChunkMarker{Version: int(num()), Job: str(), Chunk: str(), Epoch: num(), Worker: str(), State: str(), Reason: str(),
		Files: files(), RecordsIn: num(), RecordsOut: num(), BytesIn: num(), Started: tm(), Finished: tm(),
		Attempts: int(num()), Backup: r.IntN(2) == 0, Generation: num(), MemoryMB: int(num()), Shuffle: str(), Plan: str()}
	if r.IntN(3) > 0 {
		m.Inputs = map[string]string{}
		for range r.IntN(4) {
			m.Inputs[str()] = str()
		}
	}
	if !plain && r.IntN(2) == 0 {
		m.Rejections = Rejections{Rejected: num(), Skipped: num(), RejectedByRule: counts(), RejectedByColumn: counts(), RejectedFiles: files(), Counters: counts()}
		if r.IntN(2) == 0 {
			m.Drift = map[string]ObjectDrift{}
			for range r.IntN(3) {
				m.Drift[str()] = ObjectDrift{Filled: counts(), Dropped: counts(), AsJSON: counts()}
			}
		}
	}
	return m
}

// TestMarkerEncodingIsEncodingJSONs: the hand-written marker encoder
// writes encoding/json's bytes (without HTML escaping) for markers with
// every field set or empty at random, strings that need each kind of
// escape, invalid UTF-8, extreme numbers and times in several zones;
// Encode writes them for a valid marker; a time encoding/json refuses
// makes Encode return its error.
func TestMarkerEncodingIsEncodingJSONs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		m := randomMarker(r, i%2 == 0)
		want := encodingJSON(t, m)
		got, ok := appendMarker(nil, m)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("marker %d: appendMarker wrote (ok %v)\n%s\nencoding/json\n%s", i, ok, got, want)
		}
	}
	m := testMarker()
	m.Files[0].Upload = &Upload{ID: "u1", Parts: []UploadPart{{Number: 1, ETag: `"e"`, Size: 1234}}}
	got, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := encodingJSON(t, m); !bytes.Equal(got, want) {
		t.Fatalf("Encode wrote\n%s\nencoding/json\n%s", got, want)
	}
	m.Finished = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := Encode(m); err == nil || !strings.Contains(err.Error(), "year outside of range") {
		t.Fatalf("Encode of a marker finished in the year 10000: %v; want encoding/json's error", err)
	}
}

// FuzzEncodeMarker: for any strings and numbers in a marker's fields the
// hand-written encoder writes encoding/json's bytes.
func FuzzEncodeMarker(f *testing.F) {
	f.Add("c00000012", "host-1/42", `"etag"`, "logs/b.log.gz", int64(3), int64(1234), int64(1700000000), "day=2026-11-22")
	f.Add("\u2028", "\xff", "\x00<>&", "é", int64(-1), int64(math.MaxInt64), int64(-62135596800), "")
	f.Fuzz(func(t *testing.T, chunk, worker, etag, key string, epoch, size, unix int64, partition string) {
		m := &ChunkMarker{Version: Version, Job: testJob, Chunk: chunk, Epoch: epoch, Worker: worker, State: MarkerDone,
			Files: []OutputFile{{Key: key, Size: size, ETag: etag, Rows: epoch, Partition: partition,
				Upload: &Upload{ID: worker, Parts: []UploadPart{{Number: int(epoch), ETag: etag, Size: size}}}}},
			Inputs:  map[string]string{key: etag, chunk: worker, partition: key},
			Started: time.Unix(unix%(1<<36), epoch%1e9).UTC(), Finished: time.Unix(size%(1<<36), 0).In(time.FixedZone("z", int(epoch%86400))),
			Rejections: Rejections{Counters: map[string]int64{key: size, etag: epoch}, Drift: map[string]ObjectDrift{key: {Filled: map[string]int64{chunk: unix}}}}}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		jerr := enc.Encode(m)
		got, ok := appendMarker(nil, m)
		if ok != (jerr == nil) {
			t.Fatalf("appendMarker ok %v, encoding/json error %v", ok, jerr)
		}
		if ok && !bytes.Equal(got, buf.Bytes()) {
			t.Fatalf("appendMarker wrote\n%s\nencoding/json\n%s", got, buf.Bytes())
		}
	})
}

// BenchmarkEncodeMarker: a map chunk's marker as the scale simulation's
// workers write it (benchMarker), by the hand-written encoder and by
// encoding/json: the benchmark that keeps appendMarker (scripts/bench.sh,
// BENCH_ONLY=matcher).
func BenchmarkEncodeMarker(b *testing.B) {
	m := benchMarker()
	size := int64(len(encodingJSON(b, m)))
	b.Run("enc=hand-written", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, ok := appendMarker(make([]byte, 0, 1024), m); !ok {
				b.Fatal("not encoded")
			}
		}
	})
	b.Run("enc=encoding-json", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchMarker is a map chunk's marker as the scale simulation's workers
// write it: one output file as an open upload of one part, one input.
func benchMarker() *ChunkMarker {
	now := time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.UTC)
	return &ChunkMarker{Version: Version, Job: testJob, Chunk: ChunkID(1234), Epoch: 1, Worker: "w0042/0", State: MarkerDone,
		Files: []OutputFile{{Key: fmt.Sprintf("out/part-%s-c00001234-0.jsonl", testJob), Size: 40, Rows: 1, SHA256: strings.Repeat("a3f1", 16),
			Upload: &Upload{ID: "MTIzNDU2Nzg5MC1hYmNkZWYtdXBsb2Fk", Parts: []UploadPart{{Number: 1, ETag: `"0123456789abcdef0123456789abcdef"`, Size: 40}}}}},
		RecordsIn: 1, RecordsOut: 1, BytesIn: 20, Inputs: map[string]string{"in/000/000001234.txt": `"0123456789abcdef0123456789abcdef"`},
		Started: now, Finished: now.Add(21 * time.Millisecond), Attempts: 1}
}
