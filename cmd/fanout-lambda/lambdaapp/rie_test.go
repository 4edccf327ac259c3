package lambdaapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/fanout/lambdafan"
	"github.com/fanout-dev/fanout/localstack"
)

// TestBootstrapUnderAWSRuntimeInterfaceEmulator runs the stock bootstrap
// (cmd/fanout-lambda) under AWS's Lambda Runtime Interface Emulator, the
// reference for the Runtime API contract beside localstack/lambdaemu:
//
//   - without FANOUT_REDIS_URL the invocation fails with the init error
//     the bootstrap reports (Runtime.ConfigError, naming the variable);
//   - a payload that is neither a bucket event nor a fanout request, and a
//     drive request without its job, fail the invocation with the
//     handler's error, and the instance serves the next invocation;
//   - a job submitted with the stock CLI (grep, on MinIO and Redis) is
//     worked and committed by one {"fanout":"work"} invocation, its output
//     every matching line once (the oracle: strings.Contains over the
//     generated lines).
func TestBootstrapUnderAWSRuntimeInterfaceEmulator(t *testing.T) {
	localstack.RIEBinary(t)
	bucket, s3 := localstack.Bucket(t)
	redisURL, redisPrefix := localstack.RedisNamespace(t)
	bootstrap, cli := binaries(t)
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "AWS_LAMBDA_FUNCTION_TIMEOUT=60"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("configuration error", func(t *testing.T) {
		rie := localstack.StartRIE(t, "aws-lambda-rie (no Redis)", bootstrap, base)
		_, err := rie.Invoke(ctx, lambdafan.Request{Fanout: lambdafan.OpWork, Job: "j"}.Encode())
		var fe *localstack.FunctionError
		if !errors.As(err, &fe) || fe.Type != "Runtime.ConfigError" || !strings.Contains(fe.Message, "FANOUT_REDIS_URL") {
			t.Fatalf("invoke without FANOUT_REDIS_URL: %v; want Runtime.ConfigError naming FANOUT_REDIS_URL\n%s", err, rie.Logs())
		}
	})

	s3env := []string{"AWS_ENDPOINT_URL_S3=" + s3.Endpoint, "AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey,
		"AWS_REGION=" + s3.Region, "FANOUT_REDIS_URL=" + redisURL, "FANOUT_REDIS_PREFIX=" + redisPrefix}
	rie := localstack.StartRIE(t, "aws-lambda-rie", bootstrap, append(append(slices.Clone(base), s3env...), "FANOUT_OUT_BASES=s3://"+bucket+"/out/"))

	t.Run("handler errors", func(t *testing.T) {
		for _, c := range []struct {
			payload, want string
		}{
			{`{"what":"ever"}`, `want a bucket event or {"fanout":"work"|"commit"|"drive",...}`},
			{`{"fanout":"drive"}`, "needs job and function"},
		} {
			_, err := rie.Invoke(ctx, []byte(c.payload))
			var fe *localstack.FunctionError
			if !errors.As(err, &fe) || !strings.Contains(fe.Message, c.want) {
				t.Errorf("invoke %s: %v; want the function's error saying %q", c.payload, err, c.want)
			}
		}
	})

	t.Run("work commits a job", func(t *testing.T) {
		client, err := s3.MinioClient()
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for f := range 5 {
			var b strings.Builder
			for i := range 120 {
				line := fmt.Sprintf("object %d line %d %s", f, i, []string{"GET", "POST", "PUT"}[(i+f)%3])
				b.WriteString(line + "\n")
				if strings.Contains(line, "POST") {
					want = append(want, line)
				}
			}
			body := b.String()
			if _, err := client.PutObject(ctx, bucket, fmt.Sprintf("in/p%d.txt", f), strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(want)
		env := append(slices.Clone(base[:2]), s3env...)
		stdout, stderr, err := localstack.Run(ctx, env, cli, "submit", "--in", "s3://"+bucket+"/in/", "--fn", "grep", "--arg", "pattern=POST",
			"--out", "s3://"+bucket+"/out/", "--out-format", "lines", "--chunk-size", "1KiB")
		if err != nil {
			t.Fatalf("submit: %v\n%s", err, stderr)
		}
		job := strings.TrimSpace(stdout)
		body, err := rie.Invoke(ctx, lambdafan.Request{Fanout: lambdafan.OpWork, Job: job, Concurrency: 2}.Encode())
		if err != nil {
			t.Fatalf("work invocation: %v\n%s", err, rie.Logs())
		}
		var sum lambdafan.WorkSummary
		if err := json.Unmarshal(body, &sum); err != nil || sum.State != "committed" || sum.Chunks < 5 || sum.Failed != 0 {
			t.Fatalf("work invocation answered %s (%v); want committed after 5 chunks or more, none failed", body, err)
		}
		got := localstack.OutputLines(t, client, bucket, "out/")
		if !slices.Equal(got, want) {
			t.Fatalf("output has %d lines, want %d (the input's POST lines)", len(got), len(want))
		}
	})
}
