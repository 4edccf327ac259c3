package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/minio/minio-go/v7"
)

// TestRunCSVOptionsSplitOnMinIOAndRedis runs `fanout run --arg ...` on
// MinIO and Redis over a '|'-delimited, header-less object with quote ',
// escape \ and NULL nulls, cut into many byte-range chunks: every record
// comes out once, as the generator wrote it (the generator is the
// oracle), the nulls as JSON null.
func TestRunCSVOptionsSplitOnMinIOAndRedis(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 20000
	var b strings.Builder
	want := make([]string, n)
	for i := range n {
		text := fmt.Sprintf("it's %d | \"q\" \\ end", i)
		esc := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(text)
		note, noteJSON := "NULL", "null"
		if i%3 != 0 {
			note, noteJSON = fmt.Sprintf("n%d", i), fmt.Sprintf("%q", fmt.Sprintf("n%d", i))
		}
		fmt.Fprintf(&b, "%d|'%s'|%s\n", i, esc, note)
		tj, _ := json.Marshal(text)
		want[i] = fmt.Sprintf(`{"column0":%d,"column1":%s,"column2":%s}`, i, tj, noteJSON)
	}
	body := b.String()
	if _, err := client.PutObject(ctx, bucket, "in/d.csv", strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s3.Endpoint, "AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey, "AWS_REGION="+s3.Region, "FANOUT_REDIS_URL="+redisURL, "FANOUT_REDIS_PREFIX="+prefix,
		"FANOUT_OUT_BASES=s3://"+bucket+"/")
	res := runFanout(t, env, "run", "--in", "s3://"+bucket+"/in/", "--fn", "convert", "--out", "s3://"+bucket+"/out/",
		"--arg", "delim=|", "--arg", "quote='", "--arg", `escape=\`, "--arg", "header=false", "--arg", "nullstr=NULL",
		"--out-format", "jsonl", "--chunk-size", "64KiB", "--workers", "2", "--json", "--quiet")
	if res.State != "committed" || res.RecordsIn != n || res.RecordsOut != n || res.Chunks < 5 {
		t.Fatalf("run: got %+v, want committed, %d records in and out, several chunks", res, n)
	}
	var got []string
	for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "out/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		if !strings.HasSuffix(obj.Key, ".jsonl") || strings.HasPrefix(obj.Key, "out/_") {
			continue
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
		got = append(got, strings.Split(strings.TrimSuffix(string(bytes.TrimSpace(data)), "\n"), "\n")...)
	}
	sort.Strings(got)
	sort.Strings(want)
	if len(got) != len(want) {
		t.Fatalf("%d output records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("output record %s, want %s", got[i], want[i])
		}
	}
}
