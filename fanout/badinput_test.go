package fanout_test

// Bad input through the whole engine: each malformed input fails its
// chunk (or the plan, when the planner reads it) with an error naming the
// object, the chunk and the offset; nothing panics; malformed data is
// never silently dropped. Keys that some stores refuse are in
// TestHostileKeysOnMinIO and TestHostileKeysFromAStoreThatHoldsThem.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// parquetFile writes rows of id:int64,name:string in row groups of 1,000.
func parquetFile(t *testing.T, rows int) []byte {
	t.Helper()
	var b bytes.Buffer
	s, err := functions.ParseSchema("id:int64,name:string")
	if err != nil {
		t.Fatal(err)
	}
	w, err := codec.NewWriter(&b, "parquet", s, codec.WriterOptions{Compression: "none", RowGroupRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if err := w.Write(functions.Row{functions.IntValue(int64(i)), functions.StringValue(fmt.Sprintf("name-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipped(t *testing.T, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(body)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestBadInput runs one job per kind of bad input, each object in a chunk
// of its own, and checks what the job reports.
func TestBadInput(t *testing.T) {
	good := parquetFile(t, 3000)
	corruptPage := bytes.Clone(good)
	for i := len(corruptPage) / 3; i < len(corruptPage)/3+400; i++ {
		corruptPage[i] ^= 0x5a // inside the data pages; the footer is intact
	}
	hugeFooter := bytes.Clone(good)
	binary.LittleEndian.PutUint32(hugeFooter[len(hugeFooter)-8:], 0x7fffffff)
	lines := []byte(strings.Repeat("a line of text\n", 2000))
	gz := gzipped(t, lines)
	bomb := gzipped(t, bytes.Repeat([]byte(strings.Repeat("0", 1023)+"\n"), 64<<10)) // 64 MiB from ~140 KB

	type want struct {
		// plan: the planner refuses the job with these substrings.
		plan []string
		// chunk: the chunk fails with these substrings in its reason
		// (and its ID, added by the test).
		chunk     string
		reason    []string
		failures  int // how often it ran: 1 for errors retrying cannot fix
		committed int // records committed when the job succeeds
	}
	tests := []struct {
		name  string
		files map[string][]byte
		spec  func(*manifest.JobSpec)
		want  want
	}{
		{"csv ragged row", map[string][]byte{"a.csv": []byte("k,v\na,1\n"), "b.csv": []byte("k,v\nc,3\nd,4,extra\n")}, nil,
			want{chunk: "c00000001", reason: []string{"b.csv at offset 8", "record has 3 fields, the header has 2"}, failures: 1}},
		{"csv unbalanced quote", map[string][]byte{"a.csv": []byte("k,v\na,1\n"), "b.csv": []byte("k,v\nc,\"3\nd,4\n")}, nil,
			want{chunk: "c00000001", reason: []string{"b.csv at offset 4", "quoted field not closed"}, failures: 1}},
		{"csv invalid UTF-8", map[string][]byte{"a.csv": []byte("k,v\na,1\n"), "b.csv": []byte("k,v\nc,3\nd,\xff\xfe\n")}, nil,
			want{chunk: "c00000001", reason: []string{"b.csv at offset 8", "not valid UTF-8"}, failures: 1}},
		{"csv invalid UTF-8 in the sampled object", map[string][]byte{"a.csv": []byte("k,v\na,\xff\n")}, nil,
			want{plan: []string{"a.csv", "offset 4", "not valid UTF-8", "--arg schema="}}},
		{"jsonl malformed", map[string][]byte{"a.jsonl": []byte(`{"k":"a"}` + "\n"), "b.jsonl": []byte(`{"k":"b"}` + "\n" + `{"k":` + "\n")}, nil,
			want{chunk: "c00000001", reason: []string{"b.jsonl at offset 10", "invalid JSON"}, failures: 1}},
		{"jsonl not an object", map[string][]byte{"a.jsonl": []byte(`{"k":"a"}` + "\n"), "b.jsonl": []byte(`{"k":"b"}` + "\n[1,2]\n")}, nil,
			want{chunk: "c00000001", reason: []string{"b.jsonl at offset 10"}, failures: 1}},
		{"jsonl invalid UTF-8", map[string][]byte{"a.jsonl": []byte(`{"k":"a"}` + "\n"), "b.jsonl": []byte(`{"k":"b"}` + "\n{\"k\":\"\xff\"}\n")}, nil,
			want{chunk: "c00000001", reason: []string{"b.jsonl at offset 10", "not valid UTF-8"}, failures: 1}},
		{"parquet bad magic", map[string][]byte{"a.parquet": good, "b.parquet": []byte("PAR1 this is not a parquet file at all")}, nil,
			want{plan: []string{"b.parquet", "corrupt Parquet file", "PAR1"}}},
		{"parquet footer length claiming gigabytes", map[string][]byte{"a.parquet": hugeFooter}, nil,
			want{plan: []string{"a.parquet", "footer length 2147483647 does not fit a file of"}}},
		{"parquet corrupt page", map[string][]byte{"a.parquet": good, "b.parquet": corruptPage}, nil,
			want{chunk: "c0000000", reason: []string{"b.parquet at offset", "corrupt Parquet file"}, failures: 1}},
		{"parquet empty object", map[string][]byte{"a.parquet": good, "b.parquet": nil}, nil,
			want{plan: []string{"b.parquet", "0 bytes is too small for a Parquet file"}}},
		{"truncated gzip", map[string][]byte{"a.txt": lines, "b.txt.gz": gz[:len(gz)/2]}, nil,
			want{chunk: "c00000001", reason: []string{`"b.txt.gz" at decompressed offset`, "unexpected EOF"}}},
		{"gzip bomb", map[string][]byte{"a.txt": lines, "b.txt.gz": bomb},
			func(s *manifest.JobSpec) { s.MaxDecompressedBytes = 4 << 20 },
			want{chunk: "c00000001", reason: []string{`"b.txt.gz"`, "decompressed data exceeds the limit (more than 4194304 bytes)"}, failures: 1}},
		{"line longer than --max-record-size", map[string][]byte{"a.txt": lines, "b.txt": []byte("x\n" + strings.Repeat("y", 2<<20) + "\nz\n")},
			func(s *manifest.JobSpec) { s.MaxRecordBytes = 1 << 20 },
			want{chunk: "c00000001", reason: []string{"b.txt at offset 2", "record too large", "1048576"}, failures: 1}},
		{"csv record longer than --max-record-size", map[string][]byte{"a.csv": []byte("k,v\na,1\n"), "b.csv": []byte("k,v\nc,\"" + strings.Repeat("q", 2<<20) + "\"\n")},
			func(s *manifest.JobSpec) { s.MaxRecordBytes = 1 << 20 },
			want{chunk: "c00000001", reason: []string{"b.csv at offset 4", "record too large"}, failures: 1}},
		{"empty objects among lines", map[string][]byte{"a.txt": []byte("x\ny\n"), "b.txt": nil, "c.txt.gz": gzipped(t, nil)}, nil,
			want{committed: 2}},
		{"empty objects among csv", map[string][]byte{"a.csv": []byte("k,v\na,1\n"), "b.csv": nil}, nil,
			want{committed: 1}},
		{"empty objects among jsonl", map[string][]byte{"a.jsonl": nil, "b.jsonl": []byte(`{"k":"b"}` + "\n"), "c.jsonl": nil}, nil,
			want{committed: 1}},
		{"only empty objects", map[string][]byte{"a.jsonl": nil, "b.jsonl": nil}, nil,
			want{committed: 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
			writeFiles(t, in, tc.files)
			q := memqueue.New(memqueue.Config{})
			e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
				Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
					b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
					return b, err
				}})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			fn, format := "convert", "jsonl"
			for name := range tc.files {
				if strings.Contains(name, ".txt") {
					fn, format = "grep", "lines" // lines input: copy every line
				}
			}
			spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: fn, Args: map[string]string{},
				Output: "file://" + out + "/", OutputFormat: format, MaxObjectsPerChunk: 1}
			if fn == "grep" {
				spec.Args["pattern"] = "."
			}
			if tc.spec != nil {
				tc.spec(&spec)
			}
			info, err := e.Submit(context.Background(), spec.WithDefaults())
			if len(tc.want.plan) > 0 {
				if err == nil {
					t.Fatalf("the plan succeeded, want it refused with %q", tc.want.plan)
				}
				for _, s := range tc.want.plan {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("plan error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := e.Wait(ctx, info.Manifest.Spec.Output, info.Job, fanout.RunOptions{Workers: 2})
			if tc.want.reason == nil {
				if err != nil || res.State != fanout.StateCommitted || res.RecordsOut != int64(tc.want.committed) {
					t.Fatalf("got %v, %+v; want committed with %d records", err, res, tc.want.committed)
				}
				return
			}
			var jf *fanout.JobFailedError
			if !errors.As(err, &jf) || len(jf.Failed) != 1 {
				t.Fatalf("got %v, want the job failed with one chunk", err)
			}
			f := jf.Failed[0]
			if !strings.HasPrefix(f.Chunk, tc.want.chunk) || !strings.Contains(f.Reason, "chunk "+f.Chunk) || !strings.Contains(err.Error(), f.Chunk) {
				t.Errorf("failed chunk %s (%q), want %s... named in the reason and the job's error", f.Chunk, f.Reason, tc.want.chunk)
			}
			for _, s := range tc.want.reason {
				if !strings.Contains(f.Reason, s) {
					t.Errorf("reason %q does not say %q", f.Reason, s)
				}
			}
			if tc.want.failures > 0 {
				dead, err := q.DeadLetters(context.Background(), info.Job)
				if err != nil || len(dead) != 1 || dead[0].Failures != tc.want.failures {
					t.Errorf("dead letters %+v (%v): want the chunk run %d time(s): retrying cannot help", dead, err, tc.want.failures)
				}
			}
		})
	}
}

// TestHostileKeysOnMinIO runs a job on MinIO whose input keys are long
// (about 1,000 characters) or start with "/", and whose partition values
// hold NUL bytes, "../", a leading "/" and 1,000 characters. Keys MinIO
// refuses are refused with ErrInvalidKey and a message that says why; a
// partition value too long for a key fails its chunk naming the key.
func TestHostileKeysOnMinIO(t *testing.T) {
	r := newFaultRig(t, 0, 0)
	long := "in/" + strings.Repeat(strings.Repeat("k", 240)+"/", 4) + "long.csv" // 976 bytes, segments of 240
	r.put(long, []byte("grp,v\nplain,1\n"+"nul\x00byte,2\n"+"../up,3\n"+"/lead,4\n"))
	r.put("/in/lead.csv", []byte("grp,v\nleading-slash-key,5\n")) // MinIO drops the leading "/"
	for _, k := range []string{"in/../x.csv", "in/nul\x00.csv", "in/" + strings.Repeat("c", 1100)} {
		_, err := r.store.Put(context.Background(), k, strings.NewReader("grp,v\n"), nil)
		if !errors.Is(err, objstore.ErrInvalidKey) || !strings.Contains(err.Error(), "put") {
			t.Errorf("put %.40q: got %v, want ErrInvalidKey naming the key", k, err)
		}
	}
	e := r.engine(engineOptions{name: "a"})
	spec := manifest.JobSpec{Inputs: []string{"s3://" + r.bucket + "/in/"}, Function: "convert", Output: "s3://" + r.bucket + "/out/",
		OutputFormat: "jsonl", PartitionBy: []string{"grp"}, MaxObjectsPerChunk: 1}.WithDefaults()
	res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	if err != nil || res.RecordsOut != 5 || res.Objects != 2 {
		t.Fatalf("got %v, %+v; want 5 records from 2 objects committed", err, res)
	}
	for info, err := range r.store.List(context.Background(), "", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(info.Key, "in/") && !strings.HasPrefix(info.Key, "out/") {
			t.Errorf("key %q escaped the output prefix", info.Key)
		}
		if strings.HasPrefix(info.Key, "out/grp=") && !strings.HasPrefix(info.Key, "out/grp=plain/") &&
			!strings.HasPrefix(info.Key, "out/grp=nul%00byte/") && !strings.HasPrefix(info.Key, "out/grp=%2E.%2Fup/") &&
			!strings.HasPrefix(info.Key, "out/grp=%2Flead/") && !strings.HasPrefix(info.Key, "out/grp=leading-slash-key/") {
			t.Errorf("unexpected partition key %q", info.Key)
		}
	}

	// A 1,000-character partition value would make a key segment S3
	// stores refuse: the value is cut, with a hash of the whole value, to
	// a segment that fits (documented in codec.PartitionPath), and the job
	// commits.
	r.put("in2/a.csv", []byte("grp,v\n"+strings.Repeat("v", 1000)+",1\n"))
	spec.Inputs, spec.Output = []string{"s3://" + r.bucket + "/in2/"}, "s3://"+r.bucket+"/out2/"
	res, err = e.Run(context.Background(), spec, fanout.RunOptions{Workers: 1})
	if err != nil || res.RecordsOut != 1 {
		t.Fatalf("got %v, %+v; want the record committed", err, res)
	}
	for info, err := range r.store.List(context.Background(), "out2/grp=", nil) {
		if err != nil {
			t.Fatal(err)
		}
		seg := strings.Split(info.Key, "/")[1]
		if len(seg) > 255 || !strings.Contains(seg, "~") {
			t.Errorf("partition segment of %d bytes (%.40q...), want a cut value with a hash within 255 bytes", len(seg), seg)
		}
	}
}

// keyBucket is a read-only store holding keys that MinIO and file stores
// refuse but AWS S3 (or another store) may list: "..", "//", a leading
// "/", NUL bytes, 1,000 characters.
type keyBucket struct{ objects map[string][]byte }

func etagOf(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func (k keyBucket) List(ctx context.Context, prefix string, _ *objstore.ListOptions) iter.Seq2[objstore.ObjectInfo, error] {
	return func(yield func(objstore.ObjectInfo, error) bool) {
		var keys []string
		for key := range k.objects {
			if strings.HasPrefix(key, prefix) {
				keys = append(keys, key)
			}
		}
		sort.Strings(keys)
		for _, key := range keys {
			if !yield(objstore.ObjectInfo{Key: key, Size: int64(len(k.objects[key])), ETag: etagOf(k.objects[key])}, nil) {
				return
			}
		}
	}
}

func (k keyBucket) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	b, ok := k.objects[key]
	if !ok {
		return objstore.ObjectInfo{}, objstore.ErrNotFound
	}
	return objstore.ObjectInfo{Key: key, Size: int64(len(b)), ETag: etagOf(b)}, nil
}

func (k keyBucket) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	info, err := k.Stat(ctx, key)
	if err != nil {
		return nil, info, err
	}
	b := k.objects[key]
	if opts == nil {
		opts = &objstore.GetOptions{}
	}
	if opts.IfMatch != "" && opts.IfMatch != info.ETag {
		return nil, info, objstore.ErrPrecondition
	}
	start := min(opts.Offset, int64(len(b)))
	end := int64(len(b))
	if opts.Length > 0 {
		end = min(end, start+opts.Length)
	}
	return io.NopCloser(bytes.NewReader(b[start:end])), info, nil
}

var errReadOnly = errors.New("keyBucket is read-only")

func (keyBucket) Put(context.Context, string, io.Reader, *objstore.PutOptions) (objstore.ObjectInfo, error) {
	return objstore.ObjectInfo{}, errReadOnly
}
func (keyBucket) Copy(context.Context, string, string, *objstore.CopyOptions) (objstore.ObjectInfo, error) {
	return objstore.ObjectInfo{}, errReadOnly
}
func (keyBucket) Delete(context.Context, string) error { return errReadOnly }

// TestHostileKeysFromAStoreThatHoldsThem reads input keys holding "..",
// "//", a leading "/", a NUL byte and 1,000 characters from a store that
// lists them. Keys with a ".." segment are skipped like every hidden name
// (a segment starting with "." or "_", as Hive and Spark do, see the
// README); every other record is committed exactly once, and no output
// key leaves the output prefix.
func TestHostileKeysFromAStoreThatHoldsThem(t *testing.T) {
	objects := map[string][]byte{}
	var want []string
	add := func(key string, hidden bool) {
		var b strings.Builder
		for i := range 3 {
			line := fmt.Sprintf("%q line %d", key, i)
			b.WriteString(line + "\n")
			if !hidden {
				want = append(want, line)
			}
		}
		objects[key] = []byte(b.String())
	}
	add("in/../escape.txt", true)
	add("in/a/../../up.txt", true)
	add("in//double.txt", false)
	add("/lead.txt", false)
	add("in/nul\x00byte.txt", false)
	add("in/"+strings.Repeat("l", 1000)+".txt", false)
	add("in/plain.txt", false)
	out := filepath.Join(t.TempDir(), "out")
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			if loc, err := objstore.ParseURL(u); err == nil && loc.StoreURL() == "s3://keys" {
				return keyBucket{objects}, nil
			}
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return b, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	res, err := e.Run(context.Background(), manifest.JobSpec{Inputs: []string{"s3://keys"}, Function: "grep", Args: map[string]string{"pattern": "line"},
		Output: "file://" + out + "/", OutputFormat: "lines", MaxObjectsPerChunk: 2}.WithDefaults(), fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("got %v, %+v", err, res)
	}
	b, _, err := bucketurl.Open(context.Background(), "file://"+out, bucketurl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := faulttest.CheckCommitted(t, b, "", res.Job, faulttest.Line, want)
	if res.Objects != int64(len(objects)-2) || c.Records != len(want) {
		t.Errorf("read %d objects and %d records, want %d and %d", res.Objects, c.Records, len(objects)-2, len(want))
	}
	got := readOutputLines(t, out)
	if !slices.Contains(got, fmt.Sprintf("%q line 1", "in/nul\x00byte.txt")) {
		t.Errorf("the record of the key with a NUL byte is missing")
	}
}
