package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/parquet-go/parquet-go"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
)

// badRow is a malformed record the generator put into an object: the
// oracle of the rejected-record files.
type badRow struct {
	Object string
	Offset int64
	Record string // as written, without its line terminator
	Rule   string // malformed or encoding
	Reason string // a piece of the reason
}

// rowsObject builds an object from lines, recording for each bad line its
// offset; it returns the body.
type rowsObject struct {
	key  string
	body bytes.Buffer
	bad  []badRow
}

func (o *rowsObject) good(line string) { o.body.WriteString(line + "\n") }

func (o *rowsObject) badLine(line, rule, reason string) {
	o.bad = append(o.bad, badRow{Object: o.key, Offset: int64(o.body.Len()), Record: line, Rule: rule, Reason: reason})
	o.body.WriteString(line + "\n")
}

// rejectedLineJSON is one line of a file under <out>/_rejected/.
type rejectedLineJSON struct {
	Object       string `json:"object"`
	Offset       int64  `json:"offset"`
	Record       string `json:"record"`
	RecordBase64 []byte `json:"record_base64"`
	Violations   []struct {
		Rule    string `json:"rule"`
		Message string `json:"message"`
	} `json:"violations"`
}

// objectLines returns the lines of every object under prefix whose key
// ends in suffix (but under _fanout/, and under _rejected/ unless prefix
// is there), and every key listed.
func objectLines(t *testing.T, client *minio.Client, bucket, prefix, suffix string) (lines []string, keys []string) {
	t.Helper()
	ctx := context.Background()
	for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		keys = append(keys, obj.Key)
		if !strings.HasSuffix(obj.Key, suffix) || strings.Contains(strings.TrimPrefix(obj.Key, prefix), "_fanout/") ||
			(!strings.Contains(prefix, "_rejected/") && strings.Contains(obj.Key, "_rejected/")) {
			continue // bookkeeping, and rejected records unless asked for
		}
		o, err := client.GetObject(ctx, bucket, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(o)
		o.Close()
		if err != nil {
			t.Fatal(err)
		}
		for l := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	return lines, keys
}

// checkRejected compares the rejected-record files under prefix with the
// generator's bad rows: each exactly once, with its object, offset, bytes,
// rule and reason.
func checkRejected(t *testing.T, client *minio.Client, bucket, prefix string, want []badRow) {
	t.Helper()
	lines, _ := objectLines(t, client, bucket, prefix, ".jsonl")
	got := map[string]rejectedLineJSON{}
	for _, l := range lines {
		var r rejectedLineJSON
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("rejected line %q: %v", l, err)
		}
		k := fmt.Sprintf("%s@%d", r.Object, r.Offset)
		if _, dup := got[k]; dup {
			t.Errorf("record %s rejected twice", k)
		}
		got[k] = r
	}
	if len(lines) != len(want) {
		t.Errorf("got %d rejected records, want %d", len(lines), len(want))
	}
	for _, w := range want {
		k := fmt.Sprintf("%s@%d", w.Object, w.Offset)
		g, ok := got[k]
		if !ok {
			t.Errorf("bad record %s (%q) not rejected", k, w.Record)
			continue
		}
		rec := g.Record
		if g.RecordBase64 != nil {
			rec = string(g.RecordBase64)
		}
		if rec != w.Record {
			t.Errorf("rejected %s: got record %q, want %q", k, rec, w.Record)
		}
		if len(g.Violations) != 1 || g.Violations[0].Rule != w.Rule || !strings.Contains(g.Violations[0].Message, w.Reason) {
			t.Errorf("rejected %s: got violations %+v, want rule %s with a reason holding %q", k, g.Violations, w.Rule, w.Reason)
		}
	}
}

// onErrorJSON is what run --json reports of rejected and skipped records.
type onErrorJSON struct {
	runJSON
	Rejected      int64 `json:"rejected"`
	Skipped       int64 `json:"skipped"`
	RejectedFiles int   `json:"rejected_files"`
}

func runOnError(t *testing.T, env []string, args ...string) onErrorJSON {
	t.Helper()
	stdout, stderr, err := localstack.Run(context.Background(), env, fanoutBinary(t), args...)
	if err != nil {
		t.Fatalf("fanout %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout, stderr)
	}
	var res onErrorJSON
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("fanout --json output: %v: %s", err, stdout)
	}
	return res
}

// TestOnErrorCSVAndJSONLOnMinIOAndRedis runs `fanout run --on-error` on
// MinIO and Redis over CSV and JSONL objects holding malformed records of
// every kind (bad quoting, a wrong field count, invalid UTF-8, a value
// not of its column's type, a line that is not a JSON object, a float met
// after the 10,000-record sample in an int64 column): two small objects
// packed into one chunk (the case where one bad row used to cost 2,000
// good ones) and a big one cut into byte ranges. reject commits every
// good record (the generator is the oracle) and puts each bad one once in
// <out>/_rejected/ with its object, offset, bytes, rule and reason; skip
// commits the same and counts them; fail (the default) fails naming the
// object and offset, and for the late float names the --arg schema= that
// reads it; --max-rejected below the count fails naming both and
// publishes nothing.
func TestOnErrorCSVAndJSONLOnMinIOAndRedis(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(o *rowsObject) {
		t.Helper()
		body := o.body.Bytes()
		if _, err := client.PutObject(ctx, bucket, o.key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s3.Endpoint, "AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey, "AWS_REGION="+s3.Region, "FANOUT_REDIS_URL="+redisURL, "FANOUT_REDIS_PREFIX="+prefix,
		"FANOUT_OUT_BASES=s3://"+bucket+"/")

	// CSV: a.csv (clean, the sample the types are inferred from) and
	// b.csv, 1,000 rows each, packed; c.csv, cut into several chunks.
	var csvWant []string // id|name|qty
	var csvBad []badRow
	id := 0
	csvObj := func(key string, rows int, bad func(o *rowsObject, i int)) {
		o := &rowsObject{key: "csv/" + key}
		o.good("id,name,qty")
		for i := range rows {
			if bad != nil {
				bad(o, i)
			}
			o.good(fmt.Sprintf("%d,name %d,%d", id, id, id%7))
			csvWant = append(csvWant, fmt.Sprintf("%d|name %d|%d", id, id, id%7))
			id++
		}
		put(o)
		csvBad = append(csvBad, o.bad...)
	}
	csvObj("a.csv", 1000, nil)
	csvObj("b.csv", 1000, func(o *rowsObject, i int) {
		if i == 500 {
			o.badLine(`9001,"bad"quote,1`, "malformed", `"`)
		}
	})
	csvObj("c.csv", 12000, func(o *rowsObject, i int) {
		switch i {
		case 10:
			o.badLine("9002,only two fields", "malformed", "fields")
		case 3000:
			o.badLine("9003,name,not a number", "malformed", "--arg schema=id:int64,name:string,qty:string")
		case 6000:
			o.badLine("9004,\xff\xfe,1", "encoding", "UTF-8")
		}
	})

	// JSONL: one object of 12,000 lines whose first float comes after the
	// 10,000-line sample, with malformed lines.
	var jsonWant []string
	var jsonBad []badRow
	o := &rowsObject{key: "jsonl/a.jsonl"}
	for i := range 12000 {
		switch i {
		case 100:
			o.badLine("not json", "malformed", "not a JSON object")
		case 5000:
			o.badLine(`{"id": 9001, "v":`, "malformed", "invalid JSON")
		case 7000:
			o.badLine(`[1, 2]`, "malformed", "not a JSON object")
		case 8000:
			o.badLine("{\"id\": 9002, \"s\": \"\xff\"}", "encoding", "UTF-8")
		case 11000:
			o.badLine(`{"id": 9003, "v": 1.5, "s": "late float"}`, "malformed", "--arg schema=id:int64,v:float64,s:string")
		}
		o.good(fmt.Sprintf(`{"id": %d, "v": %d, "s": "s%d"}`, i, i*3, i))
		jsonWant = append(jsonWant, fmt.Sprintf("%d|%d|s%d", i, i*3, i))
	}
	put(o)
	jsonBad = o.bad

	type format struct {
		name, in string
		want     []string
		bad      []badRow
		row      func(t *testing.T, line string) string
	}
	formats := []format{
		{"csv", "csv/", csvWant, csvBad, func(t *testing.T, l string) string {
			var r struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
				Qty  int64  `json:"qty"`
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("output line %q: %v", l, err)
			}
			return fmt.Sprintf("%d|%s|%d", r.ID, r.Name, r.Qty)
		}},
		{"jsonl", "jsonl/", jsonWant, jsonBad, func(t *testing.T, l string) string {
			var r struct {
				ID int64  `json:"id"`
				V  int64  `json:"v"`
				S  string `json:"s"`
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("output line %q: %v", l, err)
			}
			return fmt.Sprintf("%d|%d|%s", r.ID, r.V, r.S)
		}},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			job := func(out string, extra ...string) []string {
				return append([]string{"run", "--in", "s3://" + bucket + "/" + f.in, "--fn", "convert", "--out", "s3://" + bucket + "/" + out,
					"--out-format", "jsonl", "--chunk-size", "64KiB", "--workers", "2", "--json", "--quiet"}, extra...)
			}
			checkOutput := func(t *testing.T, out string) {
				t.Helper()
				lines, _ := objectLines(t, client, bucket, out, ".jsonl")
				var got []string
				for _, l := range lines {
					got = append(got, f.row(t, l))
				}
				sort.Strings(got)
				want := slices.Clone(f.want)
				sort.Strings(want)
				if !slices.Equal(got, want) {
					t.Fatalf("got %d output records, want the %d good ones (first difference near %v)", len(got), len(want), firstDiff(got, want))
				}
			}
			total := int64(len(f.want) + len(f.bad))

			out := f.name + "-reject/"
			res := runOnError(t, env, job(out, "--on-error", "reject")...)
			if res.State != "committed" || res.RecordsIn != total || res.RecordsOut != int64(len(f.want)) ||
				res.Rejected != int64(len(f.bad)) || res.Skipped != 0 || res.RejectedFiles == 0 {
				t.Fatalf("reject: got %+v, want committed, %d in, %d out, %d rejected", res, total, len(f.want), len(f.bad))
			}
			if f.name == "csv" && res.Chunks < 3 {
				t.Fatalf("reject: %d chunks, want c.csv cut into several", res.Chunks)
			}
			checkOutput(t, out)
			checkRejected(t, client, bucket, out+"_rejected/", f.bad)

			out = f.name + "-skip/"
			res = runOnError(t, env, job(out, "--on-error", "skip")...)
			if res.State != "committed" || res.RecordsOut != int64(len(f.want)) || res.Skipped != int64(len(f.bad)) || res.Rejected != 0 {
				t.Fatalf("skip: got %+v, want committed, %d out, %d skipped", res, len(f.want), len(f.bad))
			}
			checkOutput(t, out)
			if _, keys := objectLines(t, client, bucket, out+"_rejected/", ""); len(keys) != 0 {
				t.Errorf("skip wrote rejected records: %v", keys)
			}

			out = f.name + "-fail/"
			_, stderr, err := localstack.Run(ctx, env, fanoutBinary(t), job(out)...)
			if err == nil {
				t.Fatalf("the default --on-error fail committed a job with malformed records")
			}
			named := false
			for _, b := range f.bad {
				named = named || strings.Contains(stderr, fmt.Sprintf("%s at offset %d", b.Object, b.Offset))
			}
			if !named {
				t.Errorf("fail: the error names no bad record's object and offset:\n%s", stderr)
			}

			out = f.name + "-max/"
			_, stderr, err = localstack.Run(ctx, env, fanoutBinary(t), job(out, "--on-error", "reject", "--max-rejected", "2")...)
			wantMsg := fmt.Sprintf("%d of %d records rejected, more than --max-rejected 2 allows", len(f.bad), total)
			if err == nil || !strings.Contains(stderr, wantMsg) {
				t.Fatalf("--max-rejected 2: got err %v, want a failure saying %q:\n%s", err, wantMsg, stderr)
			}
			if _, keys := objectLines(t, client, bucket, out, ""); slices.ContainsFunc(keys, func(k string) bool {
				return !strings.HasPrefix(k, out+"_fanout/")
			}) {
				t.Errorf("--max-rejected: a failed job published %v", keys)
			}
		})
	}

	// The late float alone: the default fails the job naming the
	// --arg schema= that reads it, and that schema then converts it.
	w := &rowsObject{key: "widen/a.jsonl"}
	for i := range 10500 {
		if i == 10200 {
			w.good(`{"id": 10200, "v": 2.25}`)
			continue
		}
		w.good(fmt.Sprintf(`{"id": %d, "v": %d}`, i, i))
	}
	put(w)
	widen := func(out string, extra ...string) []string {
		return append([]string{"run", "--in", "s3://" + bucket + "/widen/", "--fn", "convert", "--out", "s3://" + bucket + "/" + out,
			"--out-format", "jsonl", "--workers", "1", "--json", "--quiet"}, extra...)
	}
	_, stderr, err := localstack.Run(ctx, env, fanoutBinary(t), widen("widen-fail/")...)
	if err == nil || !strings.Contains(stderr, "--arg schema=id:int64,v:float64") || !strings.Contains(stderr, "widen/a.jsonl at offset") {
		t.Fatalf("a float after the sample: got err %v, want a failure naming the object, offset and --arg schema=id:int64,v:float64:\n%s", err, stderr)
	}
	res := runOnError(t, env, widen("widen-ok/", "--arg", "schema=id:int64,v:float64")...)
	lines, _ := objectLines(t, client, bucket, "widen-ok/", ".jsonl")
	if res.State != "committed" || len(lines) != 10500 || !slices.Contains(lines, `{"id":10200,"v":2.25}`) {
		t.Fatalf("with the schema the error named: got %+v and %d lines, want 10,500 with v 2.25", res, len(lines))
	}

	// A late integer beyond int64: the schema named keeps it exactly
	// (decimal(38,0), not a float64 that would round it).
	w = &rowsObject{key: "widenbig/a.jsonl"}
	for i := range 10500 {
		if i == 10200 {
			w.good(`{"id": 10200, "v": 18446744073709551615}`)
			continue
		}
		w.good(fmt.Sprintf(`{"id": %d, "v": %d}`, i, i))
	}
	put(w)
	widenBig := func(out string, extra ...string) []string {
		return append([]string{"run", "--in", "s3://" + bucket + "/widenbig/", "--fn", "convert", "--out", "s3://" + bucket + "/" + out,
			"--out-format", "jsonl", "--workers", "1", "--json", "--quiet"}, extra...)
	}
	_, stderr, err = localstack.Run(ctx, env, fanoutBinary(t), widenBig("widenbig-fail/")...)
	if err == nil || !strings.Contains(stderr, "--arg schema=id:int64,v:decimal(38,0)") {
		t.Fatalf("an integer beyond int64 after the sample: got err %v, want a failure naming --arg schema=id:int64,v:decimal(38,0):\n%s", err, stderr)
	}
	res = runOnError(t, env, widenBig("widenbig-ok/", "--arg", "schema=id:int64,v:decimal(38,0)")...)
	lines, _ = objectLines(t, client, bucket, "widenbig-ok/", ".jsonl")
	if res.State != "committed" || len(lines) != 10500 || !slices.Contains(lines, `{"id":10200,"v":18446744073709551615}`) {
		t.Fatalf("with the schema the error named: got %+v and %d lines, want 10,500 with v 18446744073709551615", res, len(lines))
	}
}

// TestOnErrorRejectsOnceWhenAChunkIsRetried kills a worker with SIGKILL
// after it staged the rejected records of a chunk (on MinIO: opened an
// upload of their final key) and before its marker:
// another worker reruns the chunk once the lease expires and stages them
// again. The committed <out>/_rejected/ holds each malformed record
// exactly once (the killed attempt's file is never published), the
// commit record counts them once, and the fault oracle finds every good
// record once and nothing left in staging.
func TestOnErrorRejectsOnceWhenAChunkIsRetried(t *testing.T) {
	j := newFaultJob(t, faultSetup{})
	o := &rowsObject{key: "in/part-99-bad.jsonl"}
	for i := range 40 {
		switch i {
		case 3:
			o.badLine("not json at all", "malformed", "not a JSON object")
		case 9:
			o.badLine(`{"id": "x",`, "malformed", "invalid JSON")
		case 15:
			o.badLine("{\"id\": \"\xff\"}", "encoding", "UTF-8")
		}
		id := fmt.Sprintf("b%06d", i)
		j.ids = append(j.ids, id)
		o.good(fmt.Sprintf(`{"id":%q,"grp":"g%d","n":%d,"pad":"p"}`, id, i%4, i))
	}
	j.put(o.key, o.body.Bytes())
	j.submit("--on-error", "reject")

	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	caught := make(chan string, 1)
	var mu sync.Mutex
	rejecting := map[string]bool{} // chunks whose attempt staged rejected records
	stem := "part-" + j.job + "-"  // a rejected file's name: <stem><chunk>-<n>.jsonl
	proxy.Before(func(r *http.Request) error {
		if chunk, _, ok := faulttest.StagingChunk(r); ok && strings.Contains(faulttest.ObjectKey(r), "/_rejected/") {
			mu.Lock()
			rejecting[chunk] = true
			mu.Unlock()
			return nil
		}
		// On MinIO the attempt writes its rejected records as an open
		// upload of their final key under out/_rejected/.
		if k := faulttest.ObjectKey(r); strings.HasPrefix(k, "out/_rejected/"+stem) {
			chunk, _, _ := strings.Cut(strings.TrimPrefix(k, "out/_rejected/"+stem), "-")
			mu.Lock()
			rejecting[chunk] = true
			mu.Unlock()
			return nil
		}
		if !faulttest.IsMarkerPut(r) {
			return nil
		}
		k := faulttest.ObjectKey(r)
		chunk := strings.TrimSuffix(k[strings.LastIndex(k, "/")+1:], ".json")
		mu.Lock()
		held := rejecting[chunk]
		mu.Unlock()
		if !held {
			return nil
		}
		select {
		case caught <- chunk:
			return hold(r, proxy, nil) // until the worker is dead
		default:
			return nil
		}
	})
	chunk := j.killWorkerWhenCaught(t, proxy.URL, caught, "staged rejected records")
	staged := 0
	for info, err := range j.store.List(context.Background(), "out/_fanout/"+j.job+"/staging/", nil) {
		if err == nil && strings.Contains(info.Key, "/"+chunk+"/") && strings.Contains(info.Key, "/_rejected/") {
			staged++
		}
	}
	for u, err := range fanout.JobUploads(context.Background(), j.store, manifest.NewLayout("out/"), j.job) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(u.Key, "out/_rejected/"+stem+chunk+"-") {
			staged++
		}
	}
	if staged != 1 {
		t.Fatalf("chunk %s has %d staged rejected files (or open uploads) after the kill, want the killed attempt's one", chunk, staged)
	}

	j.worker("worker-b", "", 2)
	res := j.committed(j.driver(""), 2*time.Minute)
	c := j.check()
	if m := c.Markers[chunk]; m.Epoch < 2 {
		t.Errorf("chunk %s was published by epoch %d, want a later attempt than the killed one", chunk, m.Epoch)
	}
	checkRejected(t, j.s3.client, j.bucket, "out/_rejected/", o.bad)
	body, _, err := j.store.Get(context.Background(), "out/_fanout/"+j.job+"/_COMMITTED", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Rejected  int64 `json:"rejected"`
		RecordsIn int64 `json:"records_in"`
	}
	data, err := io.ReadAll(body)
	body.Close()
	if err != nil || json.Unmarshal(data, &rec) != nil {
		t.Fatalf("reading the commit record: %v: %s", err, data)
	}
	if rec.Rejected != int64(len(o.bad)) || rec.RecordsIn != int64(len(j.ids)+len(o.bad)) || res.RecordsIn != rec.RecordsIn {
		t.Errorf("commit record: %d rejected of %d records (run: %d), want %d of %d", rec.Rejected, rec.RecordsIn, res.RecordsIn, len(o.bad), len(j.ids)+len(o.bad))
	}
	t.Logf("killed worker a before the marker of %s with its rejected records staged; %d chunks, %d records committed once, %d rejected once",
		chunk, c.Chunks, c.Records, len(o.bad))
}

// TestOnErrorParquetRowOnMinIOAndRedis runs --on-error over a Parquet file
// one of whose rows holds bytes that are not UTF-8 in a STRING column (a
// value fanout cannot hold as written): reject commits the other rows and
// puts that one in <out>/_rejected/ with the object, its row index as the
// offset and the reason; the default fails naming the object and the row.
// (A page that does not decode fails its chunk whatever --on-error says:
// README, Formats.)
func TestOnErrorParquetRowOnMinIOAndRedis(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	env := append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s3.Endpoint, "AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey, "AWS_REGION="+s3.Region, "FANOUT_REDIS_URL="+redisURL, "FANOUT_REDIS_PREFIX="+prefix,
		"FANOUT_OUT_BASES=s3://"+bucket+"/")
	type row struct {
		ID   int64  `parquet:"id"`
		Name string `parquet:"name"`
	}
	const n, badAt = 2000, 1234
	rows := make([]row, n)
	var want []string
	for i := range rows {
		rows[i] = row{int64(i), fmt.Sprintf("n%d", i)}
		if i == badAt {
			rows[i].Name = "bad \xff bytes"
			continue
		}
		want = append(want, fmt.Sprintf(`{"id":%d,"name":"n%d"}`, i, i))
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, bucket, "pq/a.parquet", bytes.NewReader(buf.Bytes()), int64(buf.Len()), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	job := func(out string, extra ...string) []string {
		return append([]string{"run", "--in", "s3://" + bucket + "/pq/", "--fn", "convert", "--out", "s3://" + bucket + "/" + out,
			"--out-format", "jsonl", "--workers", "1", "--json", "--quiet"}, extra...)
	}
	res := runOnError(t, env, job("reject/", "--on-error", "reject")...)
	if res.State != "committed" || res.RecordsIn != n || res.RecordsOut != n-1 || res.Rejected != 1 {
		t.Fatalf("reject: got %+v, want committed, %d in, %d out, 1 rejected", res, n, n-1)
	}
	got, _ := objectLines(t, client, bucket, "reject/", ".jsonl")
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("reject: %d output rows, want the %d good ones: %s", len(got), len(want), firstDiff(got, want))
	}
	checkRejected(t, client, bucket, "reject/_rejected/", []badRow{{Object: "pq/a.parquet", Offset: badAt, Rule: "malformed", Reason: "not UTF-8"}})

	_, stderr, err := localstack.Run(ctx, env, fanoutBinary(t), job("fail/")...)
	if err == nil || !strings.Contains(stderr, fmt.Sprintf("pq/a.parquet at offset %d", badAt)) {
		t.Fatalf("fail: got err %v, want a failure naming pq/a.parquet at offset %d:\n%s", err, badAt, stderr)
	}
}
