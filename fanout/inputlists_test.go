package fanout_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// listRig is two simulated buckets: src holds the inputs and the jobs'
// outputs, inv holds inventory reports and key lists.
type listRig struct {
	t        *testing.T
	src, inv *simstore.Store
	e        *fanout.Engine
	keys     []string // the input keys under in/, in listing order
}

func newListRig(t *testing.T) *listRig {
	r := &listRig{t: t, src: simstore.New(simstore.Config{Name: "src"}), inv: simstore.New(simstore.Config{Name: "inv"})}
	for i := range 30 {
		r.put(r.src, fmt.Sprintf("in/%02d/part.txt", i), fmt.Sprintf("line %d\n", i))
	}
	r.put(r.src, "in/a b+c.txt", "spaced\n") // encoded as in/a+b%2Bc.txt in CSV reports
	r.put(r.src, "in/_SUCCESS", "")          // hidden: a listing skips it
	for info, err := range r.src.List(context.Background(), "in/", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(info.Key, "_") {
			r.keys = append(r.keys, info.Key)
		}
	}
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			loc, err := objstore.ParseURL(u)
			switch {
			case err != nil:
				return nil, err
			case loc.StoreURL() == "s3://src":
				return r.src, nil
			case loc.StoreURL() == "s3://inv":
				return r.inv, nil
			}
			return nil, fmt.Errorf("unexpected store %s", u)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	r.e = e
	return r
}

func (r *listRig) put(b *simstore.Store, key, body string) {
	r.t.Helper()
	if _, err := b.Put(context.Background(), key, strings.NewReader(body), nil); err != nil {
		r.t.Fatal(err)
	}
}

// inventoryRows are the CSV rows of a report of src: every object under
// in/ (the hidden one too) as its current version, plus an older version
// and a delete marker, which the planner must leave out.
func (r *listRig) inventoryRows() [][]string {
	r.t.Helper()
	var rows [][]string
	for info, err := range r.src.List(context.Background(), "in/", nil) {
		if err != nil {
			r.t.Fatal(err)
		}
		rows = append(rows, []string{"src", url.QueryEscape(info.Key), "v2", "true", "false", fmt.Sprint(info.Size), info.ETag})
	}
	rows = append(rows,
		[]string{"src", url.QueryEscape("in/00/part.txt"), "v1", "false", "false", "3", "0ld"},
		[]string{"src", url.QueryEscape("in/gone.txt"), "v9", "true", "true", "", ""})
	return rows
}

const inventoryCSVSchema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, ETag"

// writeInventory writes a CSV report whose rows are split over files
// data files and returns its manifest's URL; corrupt changes the first
// file's MD5 in the manifest.
func (r *listRig) writeInventory(dir, schema string, rows [][]string, files int, corrupt bool) string {
	r.t.Helper()
	type file struct {
		Key         string `json:"key"`
		Size        int64  `json:"size"`
		MD5Checksum string `json:"MD5checksum"`
	}
	var list []file
	per := (len(rows) + files - 1) / files
	for f := range files {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for _, row := range rows[min(f*per, len(rows)):min((f+1)*per, len(rows))] {
			fmt.Fprintf(zw, "\"%s\"\n", strings.Join(row, "\",\""))
		}
		zw.Close()
		key := fmt.Sprintf("%s/data/%d.csv.gz", dir, f)
		r.put(r.inv, key, buf.String())
		sum := md5.Sum(buf.Bytes())
		if corrupt && f == 0 {
			sum[0]++
		}
		list = append(list, file{Key: key, Size: int64(buf.Len()), MD5Checksum: hex.EncodeToString(sum[:])})
	}
	m, _ := json.Marshal(map[string]any{"sourceBucket": "src", "destinationBucket": "arn:aws:s3:::inv",
		"version": "2016-11-30", "fileFormat": "CSV", "fileSchema": schema, "files": list})
	r.put(r.inv, dir+"/manifest.json", string(m))
	return "s3://inv/" + dir + "/manifest.json"
}

// inventoryParquetRow is a Parquet report's row (AWS's column names).
type inventoryParquetRow struct {
	Bucket         string  `parquet:"bucket"`
	Key            string  `parquet:"key"`
	VersionID      *string `parquet:"version_id,optional"`
	IsLatest       *bool   `parquet:"is_latest,optional"`
	IsDeleteMarker *bool   `parquet:"is_delete_marker,optional"`
	Size           *int64  `parquet:"size,optional"`
	ETag           *string `parquet:"e_tag,optional"`
}

func (r *listRig) writeParquetInventory(dir string, rows [][]string) string {
	r.t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[inventoryParquetRow](&buf)
	for _, row := range rows {
		key, _ := url.QueryUnescape(row[1])
		p := inventoryParquetRow{Bucket: row[0], Key: key, VersionID: &row[2]}
		latest, deleted := row[3] == "true", row[4] == "true"
		p.IsLatest, p.IsDeleteMarker = &latest, &deleted
		if !deleted {
			var size int64
			fmt.Sscan(row[5], &size)
			p.Size, p.ETag = &size, &row[6]
		}
		if _, err := w.Write([]inventoryParquetRow{p}); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.put(r.inv, dir+"/data/0.parquet", buf.String())
	m, _ := json.Marshal(map[string]any{"sourceBucket": "src", "fileFormat": "Parquet",
		"fileSchema": "message s3.inventory { required binary bucket (STRING); ... }",
		"files":      []map[string]any{{"key": dir + "/data/0.parquet", "size": buf.Len()}}})
	r.put(r.inv, dir+"/manifest.json", string(m))
	return "s3://inv/" + dir + "/manifest.json"
}

// planned plans spec (for real: shards and manifest) and returns the
// objects of its chunks in order.
func (r *listRig) planned(spec manifest.JobSpec) ([]string, error) {
	r.t.Helper()
	info, err := r.e.Plan(context.Background(), spec.WithDefaults())
	if err != nil {
		return nil, err
	}
	var keys []string
	for i := range info.Manifest.Shards {
		rc, _, err := r.src.Get(context.Background(), fmt.Sprintf("%s%06d.json", info.Manifest.ShardPrefix, i), nil)
		if err != nil {
			r.t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(rc)
		rc.Close()
		s, err := manifest.DecodeShard(body.Bytes())
		if err != nil {
			r.t.Fatal(err)
		}
		for _, c := range s.Chunks {
			for _, p := range c.Parts {
				if p.Object.Store != "s3://src" || p.Object.ETag == "" {
					r.t.Errorf("chunk %s: object %+v not pinned in s3://src", c.ID, p.Object)
				}
				keys = append(keys, p.Object.Key)
			}
		}
	}
	return keys, nil
}

func listSpec(out string) manifest.JobSpec {
	return manifest.JobSpec{Function: "convert", Output: "s3://src/" + out, OutputFormat: "jsonl", MaxObjectsPerChunk: 1}
}

// TestPlanFromInventoryAndKeyList plans the same objects from a listing,
// from CSV and Parquet inventory reports (split over data files, with an
// older version, a delete marker and a hidden file to leave out, and a
// key that CSV URL-encodes) and from key lists (plain, gzipped with URLs,
// and S3 Batch Operations CSV): every plan has the listing's objects in
// the listing's order.
func TestPlanFromInventoryAndKeyList(t *testing.T) {
	r := newListRig(t)
	rows := r.inventoryRows()
	var plain, urls, batch, windows strings.Builder
	windows.WriteString("\ufeff") // a byte order mark, as Windows editors write one
	for _, k := range r.keys {
		fmt.Fprintln(&plain, k)
		fmt.Fprintf(&urls, "s3://src/%s\n", k)
		fmt.Fprintf(&batch, "src,%s\n", url.QueryEscape(k))
		fmt.Fprintf(&windows, "%s\r\n\r\n", k)
	}
	plain.WriteString("\n# blank lines and comments name nothing\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(urls.String()))
	zw.Close()
	r.put(r.src, "lists/keys.txt", plain.String())
	r.put(r.inv, "lists/urls.txt.gz", gz.String())
	r.put(r.inv, "lists/batch.csv", batch.String())
	r.put(r.src, "lists/windows.txt", windows.String())

	want, err := r.planned(func() manifest.JobSpec { s := listSpec("listed/"); s.Inputs = []string{"s3://src/in/"}; return s }())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(want, r.keys) || len(want) != 31 {
		t.Fatalf("the listing planned %q, want %q", want, r.keys)
	}
	tests := []struct {
		name string
		spec func(s *manifest.JobSpec)
	}{
		{"csv inventory in 3 files", func(s *manifest.JobSpec) {
			s.Inventories = []string{r.writeInventory("inv/src/cfg/2026-12-06T00-00Z", inventoryCSVSchema, rows, 3, false)}
		}},
		{"parquet inventory", func(s *manifest.JobSpec) {
			s.Inventories = []string{r.writeParquetInventory("pq/src/cfg/2026-12-06T00-00Z", rows)}
		}},
		{"key list of keys in its bucket", func(s *manifest.JobSpec) { s.KeyLists = []string{"s3://src/lists/keys.txt"} }},
		{"key list with a byte order mark and CRLF lines", func(s *manifest.JobSpec) { s.KeyLists = []string{"s3://src/lists/windows.txt"} }},
		{"gzipped key list of URLs", func(s *manifest.JobSpec) { s.KeyLists = []string{"s3://inv/lists/urls.txt.gz"} }},
		{"batch operations csv", func(s *manifest.JobSpec) { s.KeyLists = []string{"s3://inv/lists/batch.csv"} }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := listSpec(fmt.Sprintf("out%d/", i))
			tt.spec(&s)
			got, err := r.planned(s)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("planned %q, want %q", got, want)
			}
		})
	}
}

// TestBadInputListsNameTheListAndLine: an inventory or key list that
// cannot be used fails the plan with an InputListError naming it and,
// where there is one, the line.
func TestBadInputListsNameTheListAndLine(t *testing.T) {
	r := newListRig(t)
	rows := r.inventoryRows()
	r.put(r.inv, "lists/missing.txt", "s3://src/in/00/part.txt\ns3://src/in/nothing-here.txt\n")
	r.put(r.inv, "lists/twice.txt", "s3://src/in/00/part.txt\ns3://src/in/01/part.txt\ns3://src/in/00/part.txt\n")
	r.put(r.src, "bad/x.txt", "x\n")
	r.put(r.inv, "lists/output.txt", "s3://src/bad/x.txt\n")
	r.put(r.inv, "lists/prefix.txt", "s3://src/in/\n")
	r.put(r.inv, "lists/version.csv", "src,in%2F00%2Fpart.txt,v1\n")
	r.put(r.inv, "orc/manifest.json", `{"sourceBucket":"src","fileFormat":"ORC","fileSchema":"struct<bucket:string>","files":[]}`)
	r.put(r.inv, "junk/manifest.json", `<html>`)
	tests := []struct {
		name     string
		spec     func(s *manifest.JobSpec)
		list     string
		line     int64
		contains string
	}{
		{"md5 differs", func(s *manifest.JobSpec) {
			s.Inventories = []string{r.writeInventory("md5", inventoryCSVSchema, rows, 2, true)}
		}, "s3://inv/md5/data/0.csv.gz", 0, "MD5"},
		{"no etag field", func(s *manifest.JobSpec) {
			s.Inventories = []string{r.writeInventory("noetag", "Bucket, Key, Size", nil, 1, false)}
		}, "s3://inv/noetag/manifest.json", 0, "lacks ETag"},
		{"row with a wrong field count", func(s *manifest.JobSpec) {
			s.Inventories = []string{r.writeInventory("short", inventoryCSVSchema, append(slices.Clone(rows[:2]), []string{"src", "x"}), 1, false)}
		}, "s3://inv/short/data/0.csv.gz", 3, "wrong number of fields"},
		{"size not a number", func(s *manifest.JobSpec) {
			bad := slices.Clone(rows[:1])
			bad[0] = slices.Clone(bad[0])
			bad[0][5] = "12kB"
			s.Inventories = []string{r.writeInventory("size", inventoryCSVSchema, bad, 1, false)}
		}, "s3://inv/size/data/0.csv.gz", 1, `size "12kB"`},
		{"row of another bucket", func(s *manifest.JobSpec) {
			bad := slices.Clone(rows[:3])
			bad[1] = slices.Clone(bad[1])
			bad[1][0] = "other"
			s.Inventories = []string{r.writeInventory("otherbucket", inventoryCSVSchema, bad, 1, false)}
		}, "s3://inv/otherbucket/data/0.csv.gz", 2, `bucket "other"`},
		{"parquet row of another bucket", func(s *manifest.JobSpec) {
			bad := slices.Clone(rows[:3])
			bad[2] = slices.Clone(bad[2])
			bad[2][0] = "other"
			s.Inventories = []string{r.writeParquetInventory("pqother", bad)}
		}, "s3://inv/pqother/data/0.parquet", 3, `bucket "other"`},
		{"orc", func(s *manifest.JobSpec) { s.Inventories = []string{"s3://inv/orc/manifest.json"} }, "s3://inv/orc/manifest.json", 0, `"ORC" is not read`},
		{"not a manifest", func(s *manifest.JobSpec) { s.Inventories = []string{"s3://inv/junk/manifest.json"} }, "s3://inv/junk/manifest.json", 0, "not an inventory manifest"},
		{"missing key", func(s *manifest.JobSpec) { s.KeyLists = []string{"s3://inv/lists/missing.txt"} }, "s3://inv/lists/missing.txt", 2, "does not exist"},
		{"key twice", func(s *manifest.JobSpec) { s.KeyLists = []string{"s3://inv/lists/twice.txt"} }, "s3://inv/lists/twice.txt", 3, "named twice (line 1 first)"},
		{"key under the output", func(s *manifest.JobSpec) { s.KeyLists = []string{"s3://inv/lists/output.txt"} }, "s3://inv/lists/output.txt", 1, "under the job's output"},
		{"a prefix", func(s *manifest.JobSpec) { s.KeyLists = []string{"s3://inv/lists/prefix.txt"} }, "s3://inv/lists/prefix.txt", 1, "names a prefix"},
		{"a version", func(s *manifest.JobSpec) { s.KeyLists = []string{"s3://inv/lists/version.csv"} }, "s3://inv/lists/version.csv", 1, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := listSpec("bad/")
			tt.spec(&s)
			_, err := r.planned(s)
			var le *fanout.InputListError
			if !errors.As(err, &le) || le.List != tt.list || le.Line != tt.line || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("got %v, want an InputListError of %s line %d saying %q", err, tt.list, tt.line, tt.contains)
			}
		})
	}
}

// TestInventoryAndKeyListCommitWhatListingCommitsOnMinIO runs one job
// planned by listing a prefix, one planned from an inventory report of
// it (a CSV.gz report in two data files, the URL-encoded key of an object
// whose name holds a space and a '+') and one from a key list, on MinIO
// and Redis: the oracle finds every input record committed exactly once
// in each of the three outputs.
func TestInventoryAndKeyListCommitWhatListingCommitsOnMinIO(t *testing.T) {
	r := newFaultRig(t, 6, 40)
	var b bytes.Buffer
	for i := range 25 {
		id := fmt.Sprintf("spaced%03d", i)
		r.ids = append(r.ids, id)
		fmt.Fprintf(&b, `{"id":%q,"grp":"g%d","pad":""}`+"\n", id, i%3)
	}
	r.put("in/part a+b.jsonl", b.Bytes())
	r.put("in/_SUCCESS", nil) // hidden: neither the listing nor the inventory reads it

	// The report and the list, made from a listing of in/ by minio.
	var rows, keys []string
	for info, err := range r.store.List(context.Background(), "in/", nil) {
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, fmt.Sprintf("%q,%q,%q,%q", r.bucket, url.QueryEscape(info.Key), fmt.Sprint(info.Size), info.ETag))
		if !strings.Contains(info.Key, "_") {
			keys = append(keys, info.Key)
		}
	}
	var files []map[string]any
	for i, part := range [][]string{rows[:len(rows)/2], rows[len(rows)/2:]} {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte(strings.Join(part, "\n") + "\n"))
		zw.Close()
		key := fmt.Sprintf("inv/%s/cfg/2026-12-06T00-00Z/data/%d.csv.gz", r.bucket, i)
		r.put(key, gz.Bytes())
		sum := md5.Sum(gz.Bytes())
		files = append(files, map[string]any{"key": key, "size": gz.Len(), "MD5checksum": hex.EncodeToString(sum[:])})
	}
	m, _ := json.Marshal(map[string]any{"sourceBucket": r.bucket, "destinationBucket": "arn:aws:s3:::" + r.bucket,
		"version": "2016-11-30", "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size, ETag", "files": files})
	r.put(fmt.Sprintf("inv/%s/cfg/2026-12-06T00-00Z/manifest.json", r.bucket), m)
	r.put("lists/keys.txt", []byte(strings.Join(keys, "\n")+"\n"))

	e := r.engine(engineOptions{name: "a"})
	for _, tt := range []struct {
		out  string
		spec func(*manifest.JobSpec)
	}{
		{"listed/", func(*manifest.JobSpec) {}},
		{"inventory/", func(s *manifest.JobSpec) {
			s.Inputs = nil
			s.Inventories = []string{fmt.Sprintf("s3://%s/inv/%s/cfg/2026-12-06T00-00Z/manifest.json", r.bucket, r.bucket)}
		}},
		{"keys/", func(s *manifest.JobSpec) {
			s.Inputs, s.KeyLists = nil, []string{"s3://" + r.bucket + "/lists/keys.txt"}
		}},
	} {
		t.Run(strings.TrimSuffix(tt.out, "/"), func(t *testing.T) {
			spec := r.spec(tt.out, 10*time.Second, "convert")
			tt.spec(&spec)
			res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 3})
			if err != nil {
				t.Fatal(err)
			}
			if res.Chunks != len(keys) {
				t.Errorf("%d chunks, want one per input object: %d", res.Chunks, len(keys))
			}
			r.check(tt.out, res.Job)
		})
	}
}

// TestInputsNamedTwiceAreRefused: a plan whose inputs name the same
// objects twice (the same URL twice among the inputs, reports or key
// lists, an s3:// input under another, a report listing a data file
// twice) is refused, naming what repeats, instead of reading and
// counting those objects twice; inputs that only look alike plan.
func TestInputsNamedTwiceAreRefused(t *testing.T) {
	r := newListRig(t)
	inv := r.writeInventory("twice/src/cfg/2026-12-06T00-00Z", inventoryCSVSchema, r.inventoryRows(), 2, false)
	r.put(r.inv, "lists/keys.txt", "s3://src/in/00/part.txt\n")
	// The report again, its first data file listed twice.
	rc, _, err := r.inv.Get(context.Background(), "twice/src/cfg/2026-12-06T00-00Z/manifest.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	files := m["files"].([]any)
	m["files"] = append(files, files[0])
	b, _ := json.Marshal(m)
	r.put(r.inv, "dupfile/manifest.json", string(b))
	tests := []struct {
		name     string
		spec     func(s *manifest.JobSpec)
		contains string
	}{
		{"the same input twice", func(s *manifest.JobSpec) { s.Inputs = []string{"s3://src/in/", "s3://src/in/"} }, "input s3://src/in/ is named twice"},
		{"an input under another", func(s *manifest.JobSpec) { s.Inputs = []string{"s3://src/in/0", "s3://src/in/01/"} }, "input s3://src/in/01/ lies under input s3://src/in/0"},
		{"an input over another", func(s *manifest.JobSpec) { s.Inputs = []string{"s3://src/in/01/", "s3://src/in/"} }, "input s3://src/in/01/ lies under input s3://src/in/"},
		{"the same report twice", func(s *manifest.JobSpec) { s.Inventories = []string{inv, inv} }, "inventory report " + inv + " is named twice"},
		{"the same key list twice", func(s *manifest.JobSpec) { s.KeyLists = []string{"s3://inv/lists/keys.txt", "s3://inv/lists/keys.txt"} }, "key list s3://inv/lists/keys.txt is named twice"},
		{"a data file listed twice", func(s *manifest.JobSpec) { s.Inventories = []string{"s3://inv/dupfile/manifest.json"} }, "data file twice/src/cfg/2026-12-06T00-00Z/data/0.csv.gz is listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := listSpec("twice/")
			tt.spec(&s)
			_, err := r.planned(s)
			if err == nil || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("got %v, want an error saying %q", err, tt.contains)
			}
		})
	}
	// Alike but distinct: siblings, and a glob beside its directory.
	s := listSpec("distinct/")
	s.Inputs = []string{"s3://src/in/00/", "s3://src/in/01/", "s3://src/in/*.txt"}
	got, err := r.planned(s)
	if err != nil || len(got) != 3 {
		t.Fatalf("planned %q, %v; want in/00, in/01 and the one .txt directly under in/", got, err)
	}
}
