package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/fanout-dev/fanout/localstack"
)

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output for polling.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startFanout starts a long-running fanout command and stops it (SIGTERM)
// when the test ends.
func startFanout(t *testing.T, env []string, args ...string) *lockedBuffer {
	t.Helper()
	cmd := exec.Command(fanoutBinary(t), args...)
	cmd.Env = env
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("fanout %s exited with %v after SIGTERM", args[0], err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("fanout %s did not stop within 30s of SIGTERM", args[0])
		}
		if t.Failed() {
			t.Logf("fanout %s output:\n%s", args[0], logs.String())
		}
	})
	return logs
}

// poll calls cond until it is true or the deadline passes.
func poll(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond) // polling the outside world with a deadline
	}
}

// listKeys lists a prefix; a failed listing is logged and yields what was
// listed so far, so that polls simply look again.
func listKeys(t *testing.T, c *minio.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Logf("listing %s: %v", prefix, o.Err)
			return keys
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// committedRecords reads every JSONL data file of the committed jobs under
// out/ (bookkeeping and markers left out) and returns their lines, sorted.
// Read errors are logged: the caller polls or compares with what it wants.
func committedRecords(t *testing.T, c *minio.Client, bucket, prefix string) []string {
	t.Helper()
	var lines []string
	for _, k := range listKeys(t, c, bucket, prefix) {
		if strings.Contains(k, "/_") || !strings.HasSuffix(k, ".jsonl") {
			continue
		}
		obj, err := c.GetObject(context.Background(), bucket, k, minio.GetObjectOptions{})
		if err != nil {
			t.Logf("reading %s: %v", k, err)
			continue
		}
		sc := bufio.NewScanner(obj)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if err := sc.Err(); err != nil {
			t.Logf("reading %s: %v", k, err)
		}
		obj.Close()
	}
	slices.Sort(lines)
	return lines
}

// TestServeMinIOWebhook points a MinIO's webhook targets at `fanout serve`
// and checks that the uploads become one committed job with exactly their
// records, although MinIO sends every event twice (two targets on the same
// endpoint) and one object is uploaded again with the same bytes.
func TestServeMinIOWebhook(t *testing.T) {
	redisURL, redisPrefix := localstack.RedisNamespace(t)
	const secret = "webhook-secret-for-tests"
	servePort := freePort(t)
	hook := fmt.Sprintf("http://127.0.0.1:%d/minio/events", servePort)
	var env []string
	for _, id := range []string{"PRIMARY", "SECONDARY"} {
		env = append(env, "MINIO_NOTIFY_WEBHOOK_ENABLE_"+id+"=on", "MINIO_NOTIFY_WEBHOOK_ENDPOINT_"+id+"="+hook,
			"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_"+id+"="+secret)
	}
	// serve first, so that MinIO finds its targets up.
	name := localstack.UniqueName(t)
	bucket := "webhook-" + name[len(name)-8:]
	// The private MinIO starts later; serve is told its endpoint now.
	m := localstack.NewMinIO(t, env...)
	serveEnv := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"FANOUT_REDIS_URL=" + redisURL, "FANOUT_REDIS_PREFIX=" + redisPrefix, "FANOUT_WEBHOOK_SECRET=" + secret}, m.AWSEnv("")...)
	logs := startFanout(t, serveEnv, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", servePort),
		"--in", "s3://"+bucket+"/in/", "--fn", "convert", "--out", "s3://"+bucket+"/out/", "--out-format", "jsonl",
		"--window", "2s", "--workers", "2", "--chunk-size", "1KiB")
	poll(t, 30*time.Second, "fanout serve to listen", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", servePort))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	// The webhook refuses what it should.
	for _, tc := range []struct {
		method, auth, body string
		want               int
	}{
		{"POST", "", minioBody(bucket, "in/x.csv"), http.StatusUnauthorized},
		{"POST", "Bearer wrong", minioBody(bucket, "in/x.csv"), http.StatusForbidden},
		{"GET", "Bearer " + secret, "", http.StatusMethodNotAllowed},
		{"POST", "Bearer " + secret, `{"not":"an event"}`, http.StatusBadRequest},
		{"POST", "Bearer " + secret, minioBody(bucket, "elsewhere/x.csv"), http.StatusOK}, // filtered: accepted 0
	} {
		req, _ := http.NewRequest(tc.method, hook, strings.NewReader(tc.body))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s with %q: got %d, want %d", tc.method, tc.auth, resp.StatusCode, tc.want)
		}
	}

	// Now the private MinIO, on the port serve was told about.
	m.Start()
	client := m.Client()
	ctx := context.Background()
	if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	cfg := notification.Configuration{}
	for _, id := range []string{"PRIMARY", "SECONDARY"} {
		q := notification.NewConfig(notification.NewArn("minio", "sqs", "", id, "webhook"))
		q.AddEvents(notification.ObjectCreatedAll)
		q.AddFilterPrefix("in/")
		cfg.AddQueue(q)
	}
	// MinIO brings its notification targets online in the background after
	// it answers health checks (slower on a loaded machine), and until then
	// refuses their ARNs: retry that one error for a while.
	var notifyErr error
	poll(t, 60*time.Second, "MinIO to accept the webhook targets' ARNs", func() bool {
		notifyErr = client.SetBucketNotification(ctx, bucket, cfg)
		if notifyErr != nil && !strings.Contains(notifyErr.Error(), "ARN does not exist") {
			t.Fatalf("SetBucketNotification: %v", notifyErr)
		}
		return notifyErr == nil
	})

	// Five objects (keys that need encoding among them) within one window.
	want := map[string][]string{}
	var all []string
	keys := []string{"in/a.csv", "in/b b+c.csv", "in/x%41y.csv", "in/sub/d.csv", "in/Zürich.csv"}
	var wg sync.WaitGroup
	for i, key := range keys {
		var body strings.Builder
		body.WriteString("id,name\n")
		for r := range 20 + i*7 {
			id := i*1000 + r
			fmt.Fprintf(&body, "%d,row %d of %s\n", id, r, strings.ReplaceAll(key, ",", ""))
			rec, _ := json.Marshal(map[string]any{"id": id, "name": fmt.Sprintf("row %d of %s", r, key)})
			want[key] = append(want[key], string(rec))
			all = append(all, string(rec))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := body.String()
			if _, err := client.PutObject(ctx, bucket, key, strings.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	slices.Sort(all)

	success := func() []string {
		var s []string
		for _, k := range listKeys(t, client, bucket, "out/") {
			if strings.HasSuffix(k, "/_SUCCESS") {
				s = append(s, k)
			}
		}
		return s
	}
	// The uploads land in one window, so one job, unless the machine is
	// slow enough to split them; every record must be committed once.
	// A job's files are visible before its _SUCCESS: wait for both, for
	// every job the trigger started.
	var got []string
	poll(t, 2*time.Minute, "the triggered jobs to commit every record", func() bool {
		got = committedRecords(t, client, bucket, "out/")
		n := len(success())
		return len(got) >= len(all) && n > 0 && n == len(listKeys(t, client, bucket, "out/_fanout/trigger/jobs/"))
	})
	if !slices.Equal(got, all) {
		t.Fatalf("committed %d records, want exactly the %d uploaded (first difference: %s)", len(got), len(all), firstDiff(got, all))
	}
	jobs := len(success())
	t.Logf("%d uploads became %d committed job(s)", len(keys), jobs)
	// serve's /metrics counts its workers' published chunks.
	poll(t, 30*time.Second, "serve's /metrics to count published chunks", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", servePort))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && regexp.MustCompile(`(?m)^fanout_chunks_total\{outcome="done"\} [1-9]`).Match(body)
	})
	// The dashboard shares the listener; its actions take the secret.
	serveUI := func(method, path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", servePort, path), nil)
		if token != "" {
			req.Header.Set("X-Fanout-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, c := range []struct {
		method, path, token string
		status              int
		holds               string
	}{
		{"GET", "/ui/", "", http.StatusOK, `src="/ui/static/app.js"`},
		{"GET", "/ui/api/jobs", "", http.StatusOK, `"actions":true`},
		{"POST", "/ui/api/jobs/j0123456789abcdef0123/redrive", "", http.StatusUnauthorized, "missing X-Fanout-Token"},
		{"POST", "/ui/api/jobs/j0123456789abcdef0123/redrive", "not-the-secret", http.StatusForbidden, "wrong token"},
		{"POST", "/ui/api/jobs/j0123456789abcdef0123/redrive", secret, http.StatusNotFound, "no job"},
	} {
		if status, body := serveUI(c.method, c.path, c.token); status != c.status || !strings.Contains(body, c.holds) {
			t.Errorf("serve's dashboard: %s %s: got %d %s, want %d holding %q", c.method, c.path, status, body, c.status, c.holds)
		}
	}
	// MinIO delivered every event twice (one per target).
	received := func(key string) int {
		return strings.Count(logs.String(), bucket+"/"+key)
	}
	poll(t, 30*time.Second, "both targets' deliveries", func() bool { return received("in/a.csv") >= 2 })

	// The same bytes again: a new event (twice again) for the same ETag.
	first, err := client.StatObject(ctx, bucket, "in/a.csv", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := client.GetObject(ctx, bucket, "in/a.csv", minio.GetObjectOptions{})
	same, _ := io.ReadAll(obj)
	obj.Close()
	again, err := client.PutObject(ctx, bucket, "in/a.csv", bytes.NewReader(same), int64(len(same)), minio.PutObjectOptions{})
	if err != nil || again.ETag != first.ETag {
		t.Fatalf("re-upload: %v, ETag %s, want the same ETag %s", err, again.ETag, first.ETag)
	}
	poll(t, 30*time.Second, "the repeated uploads' events", func() bool { return received("in/a.csv") >= 4 })
	// A later object proves serve still starts jobs after the duplicates.
	late := "id,name\n9999,late\n"
	if _, err := client.PutObject(ctx, bucket, "in/late.csv", strings.NewReader(late), int64(len(late)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	all = append(all, `{"id":9999,"name":"late"}`)
	slices.Sort(all)
	poll(t, 2*time.Minute, "the late object's job", func() bool { return len(success()) >= jobs+1 })
	if s := success(); len(s) != jobs+1 {
		t.Errorf("got %d committed jobs %v, want %d: the duplicates started one", len(s), s, jobs+1)
	}
	if got := committedRecords(t, client, bucket, "out/"); !slices.Equal(got, all) {
		t.Fatalf("after the duplicates: %d records, want %d (first difference: %s)", len(got), len(all), firstDiff(got, all))
	}
	if n := len(listKeys(t, client, bucket, "out/_fanout/trigger/jobs/")); n != jobs+1 {
		t.Errorf("trigger recorded %d jobs, want %d", n, jobs+1)
	}
	poll(t, 30*time.Second, "the inbox to empty", func() bool { return len(listKeys(t, client, bucket, "out/_fanout/trigger/inbox/")) == 0 })
	t.Logf("deliveries of in/a.csv seen by serve: %d", received("in/a.csv"))
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("got %s, want %s", got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}

// minioBody is a webhook body as MinIO sends it, for the refusal checks.
func minioBody(bucket, key string) string {
	b, _ := json.Marshal(map[string]any{"EventName": "s3:ObjectCreated:Put", "Key": bucket + "/" + key, "Records": []any{map[string]any{
		"eventVersion": "2.0", "eventSource": "minio:s3", "eventTime": time.Now().UTC().Format(time.RFC3339Nano), "eventName": "s3:ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": key, "eTag": "0123", "size": 1}}}}})
	return string(b)
}
