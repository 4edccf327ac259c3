package lambdaapp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/fanout/lambdafan"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"", map[string]string{}, false},
		{"where=amount > 0", map[string]string{"where": "amount > 0"}, false},
		{"select=a\\,b,where=x = 'y'", map[string]string{"select": "a,b", "where": "x = 'y'"}, false},
		{"cmd=tr a-z A-Z, shell=true", map[string]string{"cmd": "tr a-z A-Z", "shell": "true"}, false},
		{`pattern=a\\b`, map[string]string{"pattern": `a\b`}, false},
		{"novalue", nil, true},
		{"a=1,a=2", nil, true},
	}
	for _, tt := range tests {
		got, err := parseArgs(tt.in)
		if (err != nil) != tt.wantErr || err == nil && fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("parseArgs(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	clear := func() {
		for _, v := range envVars {
			t.Setenv(v.Name, "")
		}
	}
	clear()
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "FANOUT_REDIS_URL") {
		t.Errorf("no Redis: got %v, want an error naming FANOUT_REDIS_URL", err)
	}
	t.Setenv("FANOUT_REDIS_URL", "redis://127.0.0.1:1/0")
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "FANOUT_OUT_BASES") {
		t.Errorf("a worker serving any output: got %v, want an error naming FANOUT_OUT_BASES", err)
	}
	t.Setenv("FANOUT_OUT_BASES", "s3://b/out/")
	if c, err := loadConfig(); err != nil || c.Trigger != nil {
		t.Errorf("worker configuration: %+v, %v", c, err)
	}
	t.Setenv("FANOUT_FUNCTION", "convert")
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "FANOUT_OUTPUT") {
		t.Errorf("function without output: got %v", err)
	}
	t.Setenv("FANOUT_OUTPUT", "s3://b/out/")
	t.Setenv("FANOUT_PARTITION_BY", "region, day")
	t.Setenv("FANOUT_LEASE", "forever")
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "FANOUT_LEASE") {
		t.Errorf("bad lease: got %v", err)
	}
	t.Setenv("FANOUT_LEASE", "30s")
	c, err := loadConfig()
	if err != nil || c.Trigger == nil || !slices.Equal(c.Trigger.PartitionBy, []string{"region", "day"}) || time.Duration(c.Trigger.Lease) != 30*time.Second {
		t.Errorf("trigger configuration: %+v, %v", c, err)
	}
	if c.MemoryMB != 0 {
		t.Errorf("MemoryMB %d without AWS_LAMBDA_FUNCTION_MEMORY_SIZE, want 0", c.MemoryMB)
	}
	t.Setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")
	if c, err := loadConfig(); err != nil {
		t.Error(err)
	} else if c.MemoryMB != 1769 {
		t.Errorf("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1769: MemoryMB %d, want 1769", c.MemoryMB)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("getenv of an undeclared variable did not panic")
		}
	}()
	getenv("FANOUT_NOT_DECLARED")
}

// actionLog records the IAM actions the S3 calls made by the code need.
type actionLog struct {
	mu      sync.Mutex
	actions map[string]bool
}

func (l *actionLog) add(actions ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.actions == nil {
		l.actions = map[string]bool{}
	}
	for _, a := range actions {
		l.actions[a] = true
	}
}

func (l *actionLog) sorted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for a := range l.actions {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// recordingBucket maps each call onto the IAM actions S3 checks for it.
type recordingBucket struct {
	objstore.Bucket
	log *actionLog
}

func (b recordingBucket) List(ctx context.Context, prefix string, opts *objstore.ListOptions) iter.Seq2[objstore.ObjectInfo, error] {
	b.log.add("s3:ListBucket")
	return b.Bucket.List(ctx, prefix, opts)
}
func (b recordingBucket) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	b.log.add("s3:GetObject") // HeadObject
	return b.Bucket.Stat(ctx, key)
}
func (b recordingBucket) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	b.log.add("s3:GetObject")
	return b.Bucket.Get(ctx, key, opts)
}
func (b recordingBucket) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	// A multipart upload that fails is aborted.
	b.log.add("s3:PutObject", "s3:AbortMultipartUpload")
	return b.Bucket.Put(ctx, key, r, opts)
}
func (b recordingBucket) Copy(ctx context.Context, dst, src string, opts *objstore.CopyOptions) (objstore.ObjectInfo, error) {
	b.log.add("s3:GetObject", "s3:PutObject")
	return b.Bucket.Copy(ctx, dst, src, opts)
}
func (b recordingBucket) Delete(ctx context.Context, key string) error {
	b.log.add("s3:DeleteObject")
	return b.Bucket.Delete(ctx, key)
}

// The store's uploads (objstore.Uploader) are kept, so that the handler
// writes and commits as on S3: without copies.
var _ objstore.Uploader = recordingBucket{}

func (b recordingBucket) PutUpload(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.Upload, error) {
	// CreateMultipartUpload and UploadPart are s3:PutObject; a failed
	// upload is aborted.
	b.log.add("s3:PutObject", "s3:AbortMultipartUpload")
	return b.Bucket.(objstore.Uploader).PutUpload(ctx, key, r, opts)
}
func (b recordingBucket) CompleteUpload(ctx context.Context, u objstore.Upload) (objstore.ObjectInfo, error) {
	b.log.add("s3:PutObject", "s3:GetObject") // the completion; a HEAD when the upload is gone
	return b.Bucket.(objstore.Uploader).CompleteUpload(ctx, u)
}
func (b recordingBucket) AbortUpload(ctx context.Context, key, id string) error {
	b.log.add("s3:AbortMultipartUpload")
	return b.Bucket.(objstore.Uploader).AbortUpload(ctx, key, id)
}

// ListUploads records nothing: the commit's sweep of stray uploads is best
// effort, and the template does not grant s3:ListBucketMultipartUploads
// (it has no s3:prefix condition key to keep it to the output prefix), so
// on AWS the sweep is refused and the bucket's lifecycle rule
// (AbortIncompleteMultipartUpload) removes what it would have.
func (b recordingBucket) ListUploads(ctx context.Context, prefix string) iter.Seq2[objstore.Upload, error] {
	return b.Bucket.(objstore.Uploader).ListUploads(ctx, prefix)
}

// inProcessLambda runs each asynchronous invocation as a goroutine calling
// the app's handler, as Lambda would in a fresh instance, and records the
// invoke action.
type inProcessLambda struct {
	app     *app
	log     *actionLog
	wg      sync.WaitGroup
	mu      sync.Mutex
	invoked map[string]int
}

func (l *inProcessLambda) InvokeAsync(_ context.Context, function string, payload []byte) error {
	l.log.add("lambda:InvokeFunction")
	l.mu.Lock()
	l.invoked[function]++
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		l.app.handle(ctx, payload)
	}()
	return nil
}

// testApp wires an app on the local MinIO and Redis with its S3 calls
// recorded.
func testApp(t *testing.T, log *actionLog, env map[string]string) *app {
	t.Helper()
	for _, v := range envVars {
		t.Setenv(v.Name, env[v.Name])
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, builtin.Registry(), slog.New(slog.NewTextHandler(io.Discard, nil)), func(b objstore.Bucket) objstore.Bucket {
		return recordingBucket{Bucket: b, log: log}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.engine.Close()
		if a.trig != nil {
			a.trig.Close()
		}
	})
	return a
}

func s3Event(bucket, key, etag string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": at.UTC().Format(time.RFC3339Nano),
		"eventName": "ObjectCreated:Put", "s3": map[string]any{"bucket": map[string]any{"name": bucket},
			"object": map[string]any{"key": strings.ReplaceAll(key, " ", "+"), "eTag": etag, "size": 10, "sequencer": "0A"}}}}})
	return b
}

// TestHandlerAndTemplate runs bucket events through the handler in
// process (working in place, then fanning out), records the IAM actions
// their S3 and Lambda calls need, and checks the deployment template
// against them and against the code's handler, runtime and environment.
func TestHandlerAndTemplate(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Setenv("AWS_ENDPOINT_URL_S3", s3.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	t.Setenv("AWS_REGION", s3.Region)
	put := func(key, body string) string {
		info, err := client.PutObject(ctx, bucket, key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return info.ETag
	}
	log := &actionLog{}
	env := map[string]string{"FANOUT_REDIS_URL": redisURL, "FANOUT_REDIS_PREFIX": prefix, "FANOUT_FUNCTION": "convert",
		"FANOUT_FUNCTION_ARGS": "where=amount > 1", "FANOUT_OUTPUT": "s3://" + bucket + "/out/", "FANOUT_OUTPUT_FORMAT": "jsonl",
		"FANOUT_PARTITION_BY": "region", "FANOUT_INPUTS": "s3://" + bucket + "/in/", "FANOUT_CHUNK_SIZE": "64", "FANOUT_LEASE": "5s"}

	t.Run("in place", func(t *testing.T) {
		a := testApp(t, log, env)
		etag := put("in/sales 1.csv", "id,region,amount\n1,eu,5\n2,us,1\n3,eu,7\n4,ap,9\n")
		event := s3Event(bucket, "in/sales 1.csv", etag, time.Now())
		out, err := a.handle(ctx, event)
		if err != nil {
			t.Fatal(err)
		}
		sum := out.(triggerSummary)
		if len(sum.Outcomes) != 1 || sum.Outcomes[0].State != "committed" || len(sum.Jobs) != 1 || !sum.Jobs[0].New {
			t.Fatalf("summary %+v: want one new job, committed", sum)
		}
		// The same invocation again (Lambda retrying it): the same batch,
		// the same job, found committed.
		out, err = a.handle(ctx, event)
		if err != nil {
			t.Fatal(err)
		}
		if again := out.(triggerSummary); len(again.Jobs) != 1 || again.Jobs[0].Job != sum.Jobs[0].Job || again.Jobs[0].New ||
			len(again.Outcomes) != 1 || again.Outcomes[0].State != "committed" {
			t.Fatalf("retry: %+v, want the first job, not new, committed", again)
		}
		// The event delivered again later (a new batch): a duplicate, the
		// owner's job reported and nothing run.
		out, err = a.handle(ctx, s3Event(bucket, "in/sales 1.csv", etag, time.Now().Add(time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		if again := out.(triggerSummary); len(again.Outcomes) != 0 || len(again.Jobs) != 1 || again.Jobs[0].Job != sum.Jobs[0].Job ||
			!again.Jobs[0].Duplicate || again.Duplicates != 1 {
			t.Fatalf("repeat: %+v, want the first job reported as a duplicate and nothing run", again)
		}
		// Its own output does not trigger; S3's test event does nothing.
		out, err = a.handle(ctx, s3Event(bucket, "out/"+sum.Jobs[0].Batch+"/region=eu/part-c00000000-0.jsonl", "x", time.Now()))
		if err != nil || len(out.(triggerSummary).Jobs) != 0 {
			t.Fatalf("own output: %+v, %v; want nothing", out, err)
		}
		if _, err := a.handle(ctx, []byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := a.handle(ctx, []byte(`{"what":"ever"}`)); err == nil {
			t.Errorf("an unknown payload was accepted")
		}
		res, err := a.engine.Status(ctx, sum.Jobs[0].Output, sum.Jobs[0].Job)
		if err != nil || res.RecordsIn != 4 || res.RecordsOut != 3 {
			t.Fatalf("job status %+v, %v: want 4 records in, 3 out (amount > 1)", res, err)
		}
	})

	// A worker function serving only out/ refuses a job queued elsewhere
	// (finding 1 of issue 21): its work invocation releases the chunk,
	// runs nothing and returns at once instead of claiming it again.
	t.Run("refuses a job outside its output bases", func(t *testing.T) {
		planner := testApp(t, log, env)
		put("in/refused.csv", "id,region,amount\n1,eu,5\n")
		plan, err := planner.engine.Submit(ctx, manifest.JobSpec{Inputs: []string{"s3://" + bucket + "/in/refused.csv"}, Function: "convert",
			Output: "s3://" + bucket + "/elsewhere/", OutputFormat: "jsonl"}.WithDefaults())
		if err != nil {
			t.Fatal(err)
		}
		worker := testApp(t, log, map[string]string{"FANOUT_REDIS_URL": redisURL, "FANOUT_REDIS_PREFIX": prefix,
			"FANOUT_OUT_BASES": "s3://" + bucket + "/out/"})
		out, err := worker.handle(ctx, []byte(`{"fanout":"work","job":"`+plan.Job+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		if sum := out.(lambdafan.WorkSummary); sum.Chunks != 0 || sum.Failed != 0 || sum.Released == 0 || sum.Stopped != "idle" {
			t.Fatalf("work summary %+v: want the chunk released, none run or failed, stopped idle", sum)
		}
		if st, err := worker.admin.Stats(ctx, plan.Job); err != nil || st.Pending != plan.Manifest.Chunks || st.Dead != 0 {
			t.Fatalf("queue %+v, %v: want the job's %d chunks pending", st, err, plan.Manifest.Chunks)
		}
	})

	t.Run("fanned out", func(t *testing.T) {
		fanEnv := maps(env, "FANOUT_WORKER_FUNCTION", "worker", "FANOUT_CONCURRENCY", "3", "FANOUT_START_GRACE", "2s")
		a := testApp(t, log, fanEnv)
		lambda := &inProcessLambda{app: a, log: log, invoked: map[string]int{}}
		a.invoker = func(context.Context) (lambdafan.Invoker, error) { return lambda, nil }
		var b strings.Builder
		b.WriteString("id,region,amount\n")
		for i := range 200 {
			fmt.Fprintf(&b, "%d,r%d,%d\n", i, i%3, i%5)
		}
		etag := put("in/many.csv", b.String())
		// Through SQS, as an EventBridge event.
		eb, _ := json.Marshal(map[string]any{"source": "aws.s3", "detail-type": "Object Created", "time": time.Now().UTC(),
			"detail": map[string]any{"bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": "in/many.csv", "etag": etag}, "reason": "PutObject"}})
		sqs, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{"eventSource": "aws:sqs", "body": string(eb)}}})
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		out, err := a.handle(cctx, sqs)
		lambda.wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		sum := out.(triggerSummary)
		if len(sum.Outcomes) != 1 || sum.Outcomes[0].State != "committed" {
			t.Fatalf("summary %+v: want the job committed", sum)
		}
		if lambda.invoked["worker"] == 0 {
			t.Fatalf("no work invocation was sent")
		}
		res, err := a.engine.Status(ctx, sum.Outcomes[0].Output, sum.Outcomes[0].Job)
		if err != nil || res.RecordsIn != 200 || res.RecordsOut != 120 || res.Chunks < 3 {
			t.Fatalf("job status %+v, %v: want 200 records in, 120 out, several chunks", res, err)
		}
		// A sweep finds nothing left to do.
		if out, err := a.handle(ctx, []byte(`{"fanout":"commit"}`)); err != nil {
			t.Fatalf("sweep: %v (%+v)", err, out)
		}
		t.Logf("%d chunks over %d work invocations", res.Chunks, lambda.invoked["worker"])
	})

	t.Run("template", func(t *testing.T) {
		checkTemplate(t, log.sorted())
	})
}

// maps returns a copy of m with more key-value pairs.
func maps(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
