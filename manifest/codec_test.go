package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testJob = "j0123456789abcdef0123"

var testTime = time.Date(2026, 11, 22, 3, 4, 5, 600, time.UTC)

func testManifest() *Manifest {
	return &Manifest{
		Version: Version, Job: testJob, Spec: testSpec().WithDefaults(), Created: testTime,
		Chunks: 25, Shards: 3, ShardSize: 10, Objects: 40, Bytes: 1 << 30, Schema: "line:string",
	}
}

func testShard() *Shard {
	csv := ObjectRef{Store: "s3://in", Key: "logs/a.csv", Size: 300, ETag: `"abc"`, Format: FormatCSV}
	gz := ObjectRef{Store: "s3://in", Key: "logs/b.log.gz", Size: 10, ETag: "e2", Compression: CompressionGzip, Format: FormatLines}
	pq := ObjectRef{Store: "s3://in", Key: "t/c.parquet", Size: 900, ETag: "e3", VersionID: "v1", Format: FormatParquet}
	return &Shard{Version: Version, Job: testJob, Index: 1, Chunks: []Chunk{
		{ID: "c00000010", Parts: []Part{{Object: csv, Start: 0, End: 100, Header: []string{"a", "b<&>"}}}, Bytes: 100},
		{ID: "c00000011", Parts: []Part{{Object: csv, Start: 100, End: -1, Header: []string{"a", "b<&>"}}}, Bytes: 200},
		{ID: "c00000012", Parts: []Part{{Object: gz, Start: 0, End: -1}, {Object: pq, Start: 0, End: -1}}, Bytes: 910},
		{ID: "c00000013", Parts: []Part{{Object: pq, Start: 0, End: -1, FirstRowGroup: 2, LastRowGroup: 5}}, Bytes: 400},
	}}
}

func testMarker() *ChunkMarker {
	return &ChunkMarker{
		Version: Version, Job: testJob, Chunk: "c00000012", Epoch: 3, Worker: "host-1/42", State: MarkerDone,
		Files:     []OutputFile{{Key: "out/_fanout/x/staging/c00000012/3/part-0.parquet", Size: 1234, ETag: "e", Rows: 99, Partition: "day=2026-11-22", SHA256: strings.Repeat("ab", 32)}},
		RecordsIn: 100, RecordsOut: 99, BytesIn: 910,
		Inputs:  map[string]string{"logs/b.log.gz": "e2", "t/c.parquet": "e3"},
		Started: testTime, Finished: testTime.Add(time.Second), Attempts: 2,
	}
}

func testCommit() *CommitRecord {
	return &CommitRecord{
		Version: Version, Job: testJob, Committed: testTime,
		Files:  []OutputFile{{Key: "out/day=2026-11-22/part-c00000012.parquet", Size: 1234, Rows: 99}},
		Chunks: 25, Failed: []FailedChunk{{Chunk: "c00000003", Reason: "input logs/x.gz: unexpected EOF"}},
		RecordsIn: 1000, RecordsOut: 990, BytesIn: 1 << 30, BytesOut: 1 << 20,
		Timings: Timings{ChunkP50: Duration(time.Second), ChunkP95: Duration(3 * time.Second), ChunkMax: Duration(4 * time.Second), Wall: Duration(time.Minute)},
	}
}

// testCommitV2 is testCommit as this build writes it: its files in two
// parts.
func testCommitV2() *CommitRecord {
	c := testCommit()
	c.Version, c.Files, c.FileCount = CommitVersion, nil, 3
	c.FileParts = []FilePart{
		{Key: "out/_fanout/" + testJob + "/commit/0a1b/files-000000.json", ETag: `"e0"`, Size: 300, Files: 2},
		{Key: "out/_fanout/" + testJob + "/commit/0a1b/files-000001.json", ETag: `"e1"`, Size: 150, Files: 1},
	}
	return c
}

// testRejectedParts is one part of a version 2 record's rejected-record
// files, holding one file.
func testRejectedParts() []FilePart {
	return []FilePart{{Key: "out/_fanout/" + testJob + "/commit/0a1b/rejected-000000.json", ETag: `"r0"`, Size: 120, Files: 1}}
}

func testFileList() *FileList {
	return &FileList{Version: Version, Job: testJob, Part: 1, Files: []OutputFile{
		{Key: "out/day=2026-11-22/part-c00000012.parquet", Size: 1234, Rows: 99, ETag: `"abc"`, Partition: "day=2026-11-22"},
	}}
}

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatalf("Encode(%T): %v", v, err)
	}
	return b
}

func TestEncodeFormat(t *testing.T) {
	b := mustEncode(t, testShard())
	if !bytes.HasSuffix(b, []byte("}\n")) || bytes.Count(b, []byte("\n")) != 1 {
		t.Errorf("Encode = %q, want compact JSON and one trailing newline", b)
	}
	if !bytes.Contains(b, []byte(`"b<&>"`)) {
		t.Errorf("Encode = %q, want <&> unescaped", b)
	}
	if got := string(mustEncode(t, map[string]int{"b": 2, "a": 1})); got != "{\"a\":1,\"b\":2}\n" {
		t.Errorf("Encode(map) = %q, want %q", got, "{\"a\":1,\"b\":2}\n")
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	bad := testMarker()
	bad.State = "maybe"
	tests := []struct {
		name string
		v    any
	}{
		{"marker pointer", bad},
		{"marker value", *bad},
		{"manifest", &Manifest{Version: Version}},
		{"shard value", Shard{Version: Version, Job: testJob}},
		{"commit", &CommitRecord{Version: 99, Job: testJob}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := Encode(tt.v); err == nil {
				t.Errorf("Encode = %s, nil; want an error", b)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		doc    any
		decode func([]byte) (any, error)
	}{
		{"manifest", testManifest(), func(b []byte) (any, error) { return DecodeManifest(b) }},
		{"manifest shard_first", func() *Manifest {
			m := testManifest()
			m.ShardFirst, m.ShardPrefix, m.Format = []int{0, 5, 15}, "out/_fanout/"+testJob+"/plans/p1/", FormatCSV
			return m
		}(), func(b []byte) (any, error) { return DecodeManifest(b) }},
		{"shard", testShard(), func(b []byte) (any, error) { return DecodeShard(b) }},
		{"marker", testMarker(), func(b []byte) (any, error) { return DecodeMarker(b) }},
		{"commit", testCommit(), func(b []byte) (any, error) { return DecodeCommit(b) }},
		{"commit in parts", testCommitV2(), func(b []byte) (any, error) { return DecodeCommit(b) }},
		{"file list", testFileList(), func(b []byte) (any, error) { return DecodeFileList(b) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustEncode(t, tt.doc)
			got, err := tt.decode(b)
			if err != nil {
				t.Fatalf("decode(%s): %v", b, err)
			}
			if again := mustEncode(t, got); !bytes.Equal(again, b) {
				t.Errorf("re-encoded %s, want %s", again, b)
			}
		})
	}
}

// edit encodes doc after mutate changed it, bypassing Encode's validation.
func edit[T any](t *testing.T, doc *T, mutate func(*T)) string {
	t.Helper()
	mutate(doc)
	// Encode would refuse the document: write the JSON directly.
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("encoding test document: %v", err)
	}
	return string(b)
}

func TestDecodeErrors(t *testing.T) {
	manifestDoc := string(mustEncode(t, testManifest()))
	type decodeFunc func([]byte) error
	decManifest := func(b []byte) error { _, err := DecodeManifest(b); return err }
	decShard := func(b []byte) error { _, err := DecodeShard(b); return err }
	decMarker := func(b []byte) error { _, err := DecodeMarker(b); return err }
	decCommit := func(b []byte) error { _, err := DecodeCommit(b); return err }
	decFileList := func(b []byte) error { _, err := DecodeFileList(b); return err }
	tests := []struct {
		name        string
		decode      decodeFunc
		in          string
		wantVersion bool   // ErrUnsupportedVersion rather than ErrInvalid
		wantText    string // in the message
	}{
		{"empty", decManifest, "", false, "manifest: manifest:"},
		{"null", decManifest, "null", false, "no version"},
		{"array", decManifest, "[]", false, "cannot unmarshal"},
		{"no version", decManifest, `{"job":"` + testJob + `"}`, false, "no version"},
		{"version string", decManifest, `{"version":"1"}`, false, "not an integer"},
		{"version fraction", decManifest, `{"version":1.5}`, false, "not an integer"},
		{"future version", decManifest, strings.Replace(manifestDoc, `"version":1,"job"`, `"version":2,"job"`, 1), true, "unsupported version 2"},
		{"future version broken shape", decShard, `{"version":7,"chunks":"a new shape"}`, true, "unsupported version 7"},
		{"version zero", decMarker, `{"version":0}`, true, "unsupported version 0"},
		{"negative version", decCommit, `{"version":-1}`, true, "unsupported version -1"},
		{"trailing garbage", decManifest, manifestDoc + "x", false, "invalid character"},
		{"second document", decManifest, manifestDoc + manifestDoc, false, "invalid character"},
		{"truncated", decManifest, manifestDoc[:len(manifestDoc)/2], false, "unexpected end"},
		{"wrong type", decManifest, strings.Replace(manifestDoc, `"chunks":25`, `"chunks":"25"`, 1), false, "cannot unmarshal"},
		{"bad job", decManifest, edit(t, testManifest(), func(m *Manifest) { m.Job = "job-1" }), false, "not a job ID"},
		{"bad spec", decManifest, edit(t, testManifest(), func(m *Manifest) { m.Spec.ChunkBytes = 0 }), false, "chunk_bytes"},
		{"too few shards", decManifest, edit(t, testManifest(), func(m *Manifest) { m.Shards = 2 }), false, "2 shards for 25 chunks"},
		{"too many shards", decManifest, edit(t, testManifest(), func(m *Manifest) { m.Shards = 4 }), false, "want 3"},
		{"zero shard size", decManifest, edit(t, testManifest(), func(m *Manifest) { m.ShardSize = 0 }), false, "shard size"},
		{"negative chunks", decManifest, edit(t, testManifest(), func(m *Manifest) { m.Chunks = -1 }), false, "negative"},
		{"shard_first count", decManifest, edit(t, testManifest(), func(m *Manifest) { m.ShardFirst = []int{0, 10} }), false, "shard_first"},
		{"shard_first start", decManifest, edit(t, testManifest(), func(m *Manifest) { m.ShardFirst = []int{1, 10, 20} }), false, "want 0"},
		{"shard_first order", decManifest, edit(t, testManifest(), func(m *Manifest) { m.ShardFirst = []int{0, 10, 10} }), false, "shard 1 holds"},
		{"shard_first too big", decManifest, edit(t, testManifest(), func(m *Manifest) { m.ShardFirst = []int{0, 11, 20} }), false, "shard 0 holds"},
		{"shard_first past end", decManifest, edit(t, testManifest(), func(m *Manifest) { m.ShardFirst, m.ShardSize = []int{0, 10, 25}, 20 }), false, "shard 2 holds"},
		{"manifest format", decManifest, edit(t, testManifest(), func(m *Manifest) { m.Format = FormatAuto }), false, "format"},
		{"shard prefix", decManifest, edit(t, testManifest(), func(m *Manifest) { m.ShardPrefix = "plans/p1" }), false, "slash"},
		{"shard no chunks", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks = nil }), false, "no chunks"},
		{"shard negative index", decShard, edit(t, testShard(), func(s *Shard) { s.Index = -1 }), false, "negative index"},
		{"shard bad job", decShard, edit(t, testShard(), func(s *Shard) { s.Job = "" }), false, "not a job ID"},
		{"shard gap", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[2].ID = "c00000020" }), false, "consecutive"},
		{"shard duplicate", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[1].ID = "c00000010" }), false, "consecutive"},
		{"bad chunk ID", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[0].ID = "chunk-1" }), false, "not a chunk ID"},
		{"chunk no parts", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[0].Parts = nil }), false, "no parts"},
		{"chunk negative bytes", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[0].Bytes = -1 }), false, "negative"},
		{"negative start", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[0].Parts[0].Start = -1 }), false, "start -1"},
		{"empty range", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[0].Parts[0].End = 0 }), false, "empty or reversed"},
		{"end -2", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[0].Parts[0].End = -2 }), false, "empty or reversed"},
		{"end past size", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[0].Parts[0].End = 301 }), false, "past its size"},
		{"start past size", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[1].Parts[0].Start = 300 }), false, "past its size"},
		{"range of compressed", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[2].Parts[0].End = 5 }), false, "gzip-compressed"},
		{"range of parquet", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[3].Parts[0].Start = 5 }), false, "parquet object"},
		{"row groups reversed", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[3].Parts[0].LastRowGroup = 2 }), false, "row groups [2, 2)"},
		{"row groups negative", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[3].Parts[0].FirstRowGroup = -1 }), false, "row groups [-1, 5)"},
		{"row groups of csv", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[0].Parts[0].LastRowGroup = 1 }), false, "row groups [0, 1) of a csv"},
		{"object no key", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[0].Parts[0].Object.Key = "" }), false, "no key"},
		{"object no store", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[0].Parts[0].Object.Store = "" }), false, "no store"},
		{"object negative size", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[2].Parts[0].Object.Size = -1 }), false, "negative"},
		{"object auto format", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[2].Parts[0].Object.Format = FormatAuto }), false, "format"},
		{"object unknown compression", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[2].Parts[0].Object.Compression = "lz4" }), false, "compression"},
		{"compressed parquet", decShard, edit(t, testShard(), func(s *Shard) { s.Chunks[2].Parts[1].Object.Compression = CompressionZstd }), false, "Parquet"},
		{"marker state", decMarker, edit(t, testMarker(), func(m *ChunkMarker) { m.State = "running" }), false, "state"},
		{"marker failed no reason", decMarker, edit(t, testMarker(), func(m *ChunkMarker) { m.State = MarkerFailed }), false, "reason"},
		{"marker bad chunk", decMarker, edit(t, testMarker(), func(m *ChunkMarker) { m.Chunk = "../x" }), false, "not a chunk ID"},
		{"marker bad job", decMarker, edit(t, testMarker(), func(m *ChunkMarker) { m.Job = "J0123456789abcdef0123" }), false, "not a job ID"},
		{"marker negative epoch", decMarker, edit(t, testMarker(), func(m *ChunkMarker) { m.Epoch = -1 }), false, "epoch"},
		{"marker negative records", decMarker, edit(t, testMarker(), func(m *ChunkMarker) { m.RecordsOut = -1 }), false, "negative"},
		{"marker file no key", decMarker, edit(t, testMarker(), func(m *ChunkMarker) { m.Files[0].Key = "" }), false, "files[0]: no key"},
		{"marker file negative rows", decMarker, edit(t, testMarker(), func(m *ChunkMarker) { m.Files[0].Rows = -1 }), false, "rows"},
		{"commit bad failed chunk", decCommit, edit(t, testCommit(), func(c *CommitRecord) { c.Failed[0].Chunk = "" }), false, "not a chunk ID"},
		{"commit failed no reason", decCommit, edit(t, testCommit(), func(c *CommitRecord) { c.Failed[0].Reason = "" }), false, "no reason"},
		{"commit failed twice", decCommit, edit(t, testCommit(), func(c *CommitRecord) { c.Failed = append(c.Failed, c.Failed[0]) }), false, "twice"},
		{"commit more failed than chunks", decCommit, edit(t, testCommit(), func(c *CommitRecord) { c.Chunks = 0 }), false, "1 failed chunks out of 0"},
		{"commit negative bytes", decCommit, edit(t, testCommit(), func(c *CommitRecord) { c.BytesOut = -1 }), false, "negative total"},
		{"commit file size", decCommit, edit(t, testCommit(), func(c *CommitRecord) { c.Files[0].Size = -5 }), false, "size -5"},
		{"commit version 1 with parts", decCommit, edit(t, testCommit(), func(c *CommitRecord) { c.FileParts = testCommitV2().FileParts }), false, "lists no file parts"},
		{"commit version 1 with a count", decCommit, edit(t, testCommit(), func(c *CommitRecord) { c.FileCount = 1 }), false, "lists no file parts nor a file count"},
		{"commit future version", decCommit, edit(t, testCommitV2(), func(c *CommitRecord) { c.Version = CommitVersion + 1 }), true, "unsupported version 3"},
		{"commit parts and files inline", decCommit, edit(t, testCommitV2(), func(c *CommitRecord) { c.Files = testCommit().Files }), false, "not inline"},
		{"commit parts count", decCommit, edit(t, testCommitV2(), func(c *CommitRecord) { c.FileCount = 4 }), false, "parts hold 3 files, file_count is 4"},
		{"commit part no etag", decCommit, edit(t, testCommitV2(), func(c *CommitRecord) { c.FileParts[1].ETag = "" }), false, "file_parts[1]: no key or ETag"},
		{"commit empty part", decCommit, edit(t, testCommitV2(), func(c *CommitRecord) { c.FileParts[0].Files, c.FileCount = 0, 1 }), false, "0 files"},
		{"commit part twice", decCommit, edit(t, testCommitV2(), func(c *CommitRecord) { c.FileParts[1].Key = c.FileParts[0].Key }), false, "named twice"},
		{"commit rejected parts count", decCommit, edit(t, testCommitV2(), func(c *CommitRecord) { c.RejectedParts, c.RejectedCount = testRejectedParts(), 2 }), false, "rejected parts hold 1 files, rejected_count is 2"},
		{"commit rejected parts and inline", decCommit, edit(t, testCommitV2(), func(c *CommitRecord) {
			c.RejectedParts, c.RejectedCount = testRejectedParts(), 1
			c.RejectedFiles = []OutputFile{{Key: "out/_rejected/part-c00000012-0000.jsonl", Size: 10, Rows: 1}}
		}), false, "both in parts and inline"},
		{"commit rejected part named twice", decCommit, edit(t, testCommitV2(), func(c *CommitRecord) {
			c.RejectedParts, c.RejectedCount = testRejectedParts(), 1
			c.RejectedParts[0].Key = c.FileParts[0].Key
		}), false, "rejected_parts[0]"},
		{"commit version 1 with rejected parts", decCommit, edit(t, testCommit(), func(c *CommitRecord) { c.RejectedParts, c.RejectedCount = testRejectedParts(), 1 }), false, "lists no file parts"},
		{"file list bad job", decFileList, edit(t, testFileList(), func(l *FileList) { l.Job = "x" }), false, "not a job ID"},
		{"file list negative part", decFileList, edit(t, testFileList(), func(l *FileList) { l.Part = -1 }), false, "negative part"},
		{"file list file", decFileList, edit(t, testFileList(), func(l *FileList) { l.Files[0].Rows = -1 }), false, "rows -1"},
		{"file list version", decFileList, edit(t, testFileList(), func(l *FileList) { l.Version = Version + 1 }), true, "unsupported version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("decode(%.200s) = nil error, want one containing %q", tt.in, tt.wantText)
			}
			if !strings.HasPrefix(err.Error(), "manifest: ") {
				t.Errorf("error %q, want the prefix %q", err, "manifest: ")
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantText)
			}
			if got := errors.Is(err, ErrUnsupportedVersion); got != tt.wantVersion {
				t.Errorf("errors.Is(%q, ErrUnsupportedVersion) = %v, want %v", err, got, tt.wantVersion)
			}
			if got := errors.Is(err, ErrInvalid); got == tt.wantVersion {
				t.Errorf("errors.Is(%q, ErrInvalid) = %v, want %v", err, got, !tt.wantVersion)
			}
		})
	}
}

func TestDecodeToleratesUnknownFields(t *testing.T) {
	b := mustEncode(t, testMarker())
	b = append([]byte(`{"added_later":{"x":[1,2]},`), b[1:]...)
	if _, err := DecodeMarker(b); err != nil {
		t.Errorf("DecodeMarker with an unknown field: %v, want nil", err)
	}
}

func TestDecodeLeaseAsNanoseconds(t *testing.T) {
	b := mustEncode(t, testManifest())
	b = bytes.Replace(b, []byte(`"lease":"1m0s"`), []byte(`"lease":60000000000`), 1)
	m, err := DecodeManifest(b)
	if err != nil {
		t.Fatalf("DecodeManifest: %v", err)
	}
	if m.Spec.Lease != Duration(time.Minute) {
		t.Errorf("lease = %v, want 1m0s", m.Spec.Lease)
	}
}

func TestCheckShard(t *testing.T) {
	m := testManifest() // 25 chunks in shards of 10
	shard := func(index, first, n int) *Shard {
		s := &Shard{Version: Version, Job: testJob, Index: index}
		for i := range n {
			s.Chunks = append(s.Chunks, Chunk{ID: ChunkID(first + i)})
		}
		return s
	}
	tests := []struct {
		name    string
		m       *Manifest
		s       *Shard
		wantErr bool
	}{
		{"first", m, shard(0, 0, 10), false},
		{"last partial", m, shard(2, 20, 5), false},
		{"short", m, shard(1, 10, 9), true},
		{"shifted", m, shard(1, 11, 10), true},
		{"index out of range", m, shard(3, 30, 1), true},
		{"other job", m, func() *Shard { s := shard(0, 0, 10); s.Job = "j00000000000000000000"; return s }(), true},
		{"shard_first", func() *Manifest { m := testManifest(); m.ShardFirst = []int{0, 8, 16}; return m }(), shard(1, 8, 8), false},
		{"shard_first last", func() *Manifest { m := testManifest(); m.ShardFirst = []int{0, 8, 16}; return m }(), shard(2, 16, 9), false},
		{"shard_first last short", func() *Manifest { m := testManifest(); m.ShardFirst = []int{0, 8, 16}; return m }(), shard(2, 16, 8), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.CheckShard(tt.s)
			if (err != nil) != tt.wantErr {
				t.Errorf("CheckShard = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestManifestShards(t *testing.T) {
	l := NewLayout("out")
	plain := testManifest()
	cut := testManifest()
	cut.ShardFirst, cut.ShardPrefix = []int{0, 8, 16}, "out/_fanout/"+testJob+"/plans/p/"
	tests := []struct {
		name               string
		m                  *Manifest
		shard              int
		wantFirst, wantEnd int
		wantKey            string
	}{
		{"plain first", plain, 0, 0, 10, l.ShardKey(testJob, 0)},
		{"plain last", plain, 2, 20, 25, l.ShardKey(testJob, 2)},
		{"cut first", cut, 0, 0, 8, cut.ShardPrefix + "000000.json"},
		{"cut middle", cut, 1, 8, 16, cut.ShardPrefix + "000001.json"},
		{"cut last", cut, 2, 16, 25, cut.ShardPrefix + "000002.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, end := tt.m.ShardBounds(tt.shard)
			if first != tt.wantFirst || end != tt.wantEnd {
				t.Errorf("ShardBounds(%d) = %d, %d; want %d, %d", tt.shard, first, end, tt.wantFirst, tt.wantEnd)
			}
			for c := first; c < end; c++ {
				if got := tt.m.ShardOfChunk(c); got != tt.shard {
					t.Errorf("ShardOfChunk(%d) = %d, want %d", c, got, tt.shard)
				}
			}
			if got := tt.m.ShardKey(l, tt.shard); got != tt.wantKey {
				t.Errorf("ShardKey = %q, want %q", got, tt.wantKey)
			}
		})
	}
}

// fuzzDecode checks that decode never panics, that its errors are
// prefixed and typed, and that what it accepts re-encodes stably.
func fuzzDecode[T any](t *testing.T, decode func([]byte) (*T, error), data []byte) {
	v, err := decode(data)
	if err != nil {
		if !strings.HasPrefix(err.Error(), "manifest: ") {
			t.Errorf("error %q lacks the prefix %q", err, "manifest: ")
		}
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupportedVersion) {
			t.Errorf("error %q is neither ErrInvalid nor ErrUnsupportedVersion", err)
		}
		return
	}
	b1, err := Encode(v)
	if err != nil {
		t.Fatalf("Encode of a decoded document: %v", err)
	}
	v2, err := decode(b1)
	if err != nil {
		t.Fatalf("decode of a re-encoded document %s: %v", b1, err)
	}
	b2, err := Encode(v2)
	if err != nil {
		t.Fatalf("Encode of a decoded re-encoded document: %v", err)
	}
	if !bytes.Equal(b1, b2) {
		t.Errorf("encoding not stable: got %s, want %s", b2, b1)
	}
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add(mustEncode(f, testManifest()))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, DecodeManifest, data) })
}

func FuzzDecodeShard(f *testing.F) {
	f.Add(mustEncode(f, testShard()))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, DecodeShard, data) })
}

func FuzzDecodeMarker(f *testing.F) {
	f.Add(mustEncode(f, testMarker()))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, DecodeMarker, data) })
}

func FuzzDecodeCommit(f *testing.F) {
	f.Add(mustEncode(f, testCommit()))
	f.Add(mustEncode(f, testCommitV2()))
	withRejected := testCommitV2()
	withRejected.RejectedParts, withRejected.RejectedCount = testRejectedParts(), 1
	f.Add(mustEncode(f, withRejected))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, DecodeCommit, data) })
}

func FuzzDecodeFileList(f *testing.F) {
	f.Add(mustEncode(f, testFileList()))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, DecodeFileList, data) })
}

// TestCommitRecordVersions reads a record of version 1 (files inline, as
// releases before file parts wrote it) and one of version 2 (files in
// parts): both decode, and NumFiles counts each's files.
func TestCommitRecordVersions(t *testing.T) {
	v1, err := DecodeCommit(mustEncode(t, testCommit()))
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.NumFiles() != 1 || len(v1.Files) != 1 {
		t.Errorf("version 1: version %d, NumFiles %d, %d files inline; want 1, 1, 1", v1.Version, v1.NumFiles(), len(v1.Files))
	}
	v2, err := DecodeCommit(mustEncode(t, testCommitV2()))
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version != CommitVersion || v2.NumFiles() != 3 || len(v2.Files) != 0 || len(v2.FileParts) != 2 {
		t.Errorf("version 2: version %d, NumFiles %d, %d inline, %d parts; want %d, 3, 0, 2", v2.Version, v2.NumFiles(), len(v2.Files), len(v2.FileParts), CommitVersion)
	}
	// Every other document stays at Version: a build before file parts
	// reads this build's manifests and markers.
	if _, err := DecodeMarker([]byte(edit(t, testMarker(), func(m *ChunkMarker) { m.Version = CommitVersion }))); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("a marker of version %d: %v, want ErrUnsupportedVersion", CommitVersion, err)
	}
}

// TestCorpusValidDocuments keeps the fuzz seeds named valid-* valid as
// the schema evolves.
func TestCorpusValidDocuments(t *testing.T) {
	decoders := map[string]func([]byte) error{
		"FuzzDecodeManifest": func(b []byte) error { _, err := DecodeManifest(b); return err },
		"FuzzDecodeShard":    func(b []byte) error { _, err := DecodeShard(b); return err },
		"FuzzDecodeMarker":   func(b []byte) error { _, err := DecodeMarker(b); return err },
		"FuzzDecodeCommit":   func(b []byte) error { _, err := DecodeCommit(b); return err },
		"FuzzDecodeFileList": func(b []byte) error { _, err := DecodeFileList(b); return err },
	}
	for fuzz, decode := range decoders {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", fuzz, "valid-*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no valid-* seeds for %s (%v)", fuzz, err)
		}
		for _, file := range files {
			t.Run(fuzz+"/"+filepath.Base(file), func(t *testing.T) {
				raw, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				header, lit, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
				quoted, ok := strings.CutPrefix(lit, "[]byte(")
				quoted, ok2 := strings.CutSuffix(quoted, ")")
				if header != "go test fuzz v1" || !ok || !ok2 {
					t.Fatalf("%s is not a one-[]byte fuzz corpus file", file)
				}
				doc, err := strconv.Unquote(quoted)
				if err != nil {
					t.Fatalf("unquoting %s: %v", file, err)
				}
				if err := decode([]byte(doc)); err != nil {
					t.Errorf("decoding %s: %v, want nil", file, err)
				}
			})
		}
	}
}
