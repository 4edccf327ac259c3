package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/localstack"
)

// driftJSON is what run --json reports of schema drift.
type driftJSON struct {
	runJSON
	Drift map[string]struct {
		Filled  map[string]int64 `json:"filled"`
		Dropped map[string]int64 `json:"dropped"`
	} `json:"drift"`
}

// canonical renders one row (column -> value) so that fanout's JSONL and
// DuckDB's JSON compare: numbers as their shortest decimal, nulls as
// null, columns sorted by name.
func canonical(row map[string]any) string {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range row {
			if !yield(k) {
				return
			}
		}
	})
	var b strings.Builder
	for _, k := range names {
		v := row[k]
		switch x := v.(type) {
		case nil:
			v = "null"
		case json.Number:
			f, _ := strconv.ParseFloat(string(x), 64)
			v = strconv.FormatFloat(f, 'g', -1, 64)
		case float64:
			v = strconv.FormatFloat(x, 'g', -1, 64)
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil && !math.IsInf(f, 0) {
				v = strconv.FormatFloat(f, 'g', -1, 64) // DuckDB's BIGINT comes as a string
			}
		}
		fmt.Fprintf(&b, "%s=%v|", k, v)
	}
	return b.String()
}

// TestSchemaDriftUnionByNameOnMinIOAndRedis runs `fanout run` on MinIO
// and Redis over two CSV objects, two JSONL objects and two Parquet files
// where the second says qty instead of quantity and adds discount. The
// default --schema-mode union reads the union of the columns: the output
// equals DuckDB's read_csv / read_json / read_parquet with
// union_by_name=true over the same files, and the result counts per
// object the records given null for each column it lacks. --schema-mode
// fixed fails the plan naming the object and the difference.
func TestSchemaDriftUnionByNameOnMinIOAndRedis(t *testing.T) {
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
	local := t.TempDir()
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := client.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(local, filepath.FromSlash(key))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const n = 3000 // rows per object; b.csv is cut into several chunks
	var a, b bytes.Buffer
	var aj, bj bytes.Buffer
	a.WriteString("id,product,quantity\n")
	b.WriteString("id,product,qty,discount\n")
	for i := range n {
		fmt.Fprintf(&a, "%d,p%d,%d\n", i, i%13, i%7)
		fmt.Fprintf(&aj, `{"id": %d, "product": "p%d", "quantity": %d}`+"\n", i, i%13, i%7)
		j := n + i
		fmt.Fprintf(&b, "%d,p%d,%d,0.%d5\n", j, j%13, j%5, j%10)
		fmt.Fprintf(&bj, `{"id": %d, "product": "p%d", "qty": %d, "discount": 0.%d5}`+"\n", j, j%13, j%5, j%10)
	}
	put("csv/a.csv", a.Bytes())
	put("csv/b.csv", b.Bytes())
	put("jsonl/a.jsonl", aj.Bytes())
	put("jsonl/b.jsonl", bj.Bytes())
	// Parquet files written by DuckDB, from the CSV files.
	for _, name := range []string{"a", "b"} {
		dst := filepath.Join(local, "pq-src", name+".parquet")
		os.MkdirAll(filepath.Dir(dst), 0o755)
		localstack.DuckDB(t, fmt.Sprintf(`COPY (SELECT * FROM read_csv('%s')) TO '%s' (FORMAT parquet)`, filepath.Join(local, "csv", name+".csv"), dst))
		body, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		put("parquet/"+name+".parquet", body)
	}

	cases := []struct {
		name, in, oracle string
		first, second    string
	}{
		{"csv", "csv/", "read_csv(['%[1]s/csv/a.csv', '%[1]s/csv/b.csv'], union_by_name=true)", "csv/a.csv", "csv/b.csv"},
		{"jsonl", "jsonl/", "read_json(['%[1]s/jsonl/a.jsonl', '%[1]s/jsonl/b.jsonl'], union_by_name=true, format='newline_delimited')", "jsonl/a.jsonl", "jsonl/b.jsonl"},
		{"parquet", "parquet/", "read_parquet(['%[1]s/parquet/a.parquet', '%[1]s/parquet/b.parquet'], union_by_name=true)", "parquet/a.parquet", "parquet/b.parquet"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := func(out string, extra ...string) []string {
				return append([]string{"run", "--in", "s3://" + bucket + "/" + c.in, "--fn", "convert", "--out", "s3://" + bucket + "/" + out,
					"--out-format", "jsonl", "--chunk-size", "16KiB", "--workers", "2", "--json", "--quiet"}, extra...)
			}
			stdout, stderr, err := localstack.Run(ctx, env, fanoutBinary(t), job(c.name+"-union/")...)
			if err != nil {
				t.Fatalf("union: %v\n%s%s", err, stdout, stderr)
			}
			var res driftJSON
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("run --json: %v: %s", err, stdout)
			}
			if res.State != "committed" || res.RecordsOut != 2*n {
				t.Fatalf("union: got %+v, want committed with %d records", res.runJSON, 2*n)
			}
			// What each object lacked was filled with null in each of its
			// records; nothing was dropped.
			wantDrift := map[string]map[string]int64{
				c.first:  {"qty": n, "discount": n},
				c.second: {"quantity": n},
			}
			if len(res.Drift) != 2 {
				t.Errorf("drift: got %+v, want the two objects", res.Drift)
			}
			for obj, want := range wantDrift {
				got := res.Drift[obj]
				if !maps.Equal(got.Filled, want) || len(got.Dropped) != 0 {
					t.Errorf("drift of %s: got filled %v dropped %v, want filled %v", obj, got.Filled, got.Dropped, want)
				}
			}
			lines, _ := objectLines(t, client, bucket, c.name+"-union/", ".jsonl")
			var got []string
			for _, l := range lines {
				dec := json.NewDecoder(strings.NewReader(l))
				dec.UseNumber()
				var row map[string]any
				if err := dec.Decode(&row); err != nil {
					t.Fatalf("output line %q: %v", l, err)
				}
				got = append(got, canonical(row))
			}
			var want []string
			for _, row := range localstack.DuckDB(t, "SELECT * FROM "+fmt.Sprintf(c.oracle, local)) {
				want = append(want, canonical(row))
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Fatalf("union: %d rows differ from DuckDB's union_by_name (%d rows): %s", len(got), len(want), firstDiff(got, want))
			}
			if !strings.Contains(got[0], "discount=") || !strings.Contains(got[0], "qty=") || !strings.Contains(got[0], "quantity=") {
				t.Fatalf("union: output row %s lacks a column of the union", got[0])
			}

			// fixed: the first object's columns, which the second lacks.
			_, stderr, err = localstack.Run(ctx, env, fanoutBinary(t), job(c.name+"-fixed/", "--schema-mode", "fixed")...)
			lacks := `it lacks "quantity"; `
			if c.name == "jsonl" {
				lacks = "" // a JSON object without a key holds a null
			}
			wantMsg := fmt.Sprintf(`input %s: its columns differ from the job's schema under --schema-mode fixed: %sit has "qty", "discount", which the schema lacks`, c.second, lacks)
			if err == nil || !strings.Contains(stderr, wantMsg) {
				t.Fatalf("fixed: got err %v, want a failure saying %q:\n%s", err, wantMsg, stderr)
			}
			if _, keys := objectLines(t, client, bucket, c.name+"-fixed/", ""); slices.ContainsFunc(keys, func(k string) bool {
				return !strings.Contains(k, "/_fanout/")
			}) {
				t.Errorf("fixed: a refused plan wrote %v", keys)
			}
		})
	}
}
