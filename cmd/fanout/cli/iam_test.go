package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore/miniostore"
)

// renderWorkerPolicy fills localstack/iam-worker-policy.json's placeholders
// as its users do (README: replace INPUT_BUCKET, INPUT_PREFIX, OUTPUT_BUCKET
// and OUTPUT_PREFIX, prefixes without their final "/").
func renderWorkerPolicy(t *testing.T, inBucket, inPrefix, outBucket, outPrefix string) string {
	t.Helper()
	raw, err := os.ReadFile("../../../localstack/iam-worker-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("INPUT_BUCKET", inBucket, "INPUT_PREFIX", inPrefix,
		"OUTPUT_BUCKET", outBucket, "OUTPUT_PREFIX", outPrefix).Replace(string(raw))
}

// restrictedCredentials returns temporary credentials on the local MinIO
// whose permissions are exactly policy: MinIO's STS AssumeRole with the
// policy as the session policy, asked for with the root credentials. A
// session policy is evaluated as an IAM policy attached to a user would be
// (and on AWS, the permissions of such credentials are the intersection of
// the role's and the session policy). MinIO's admin API for users needs
// madmin-go or mc, both AGPL, which the project does not take on.
func restrictedCredentials(t *testing.T, cfg localstack.S3Config, policy string) credentials.Value {
	t.Helper()
	sts, err := credentials.NewSTSAssumeRole(cfg.Endpoint, credentials.STSAssumeRoleOptions{
		AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Location: cfg.Region,
		Policy: policy, DurationSeconds: 3600,
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := sts.GetWithContext(nil)
	if err != nil {
		t.Fatalf("STS AssumeRole with the worker policy: %v", err)
	}
	return v
}

// TestJobUnderTheWorkerPolicy runs a convert job (a driver and two worker
// processes, on MinIO and Redis, with each S3 backend) with credentials
// restricted by
// localstack/iam-worker-policy.json, input and output in two buckets: the
// job commits every input record exactly once (the oracle reads the output
// with root credentials), and with the same credentials a write outside
// the output prefix, a write to the input, a read outside the input
// prefix and a listing of either whole bucket are refused with
// AccessDenied, where root credentials succeed (so the policy refused
// them, not a missing object or bucket).
func TestJobUnderTheWorkerPolicy(t *testing.T) {
	fanoutBinary(t)
	inBucket, cfg := localstack.Bucket(t)
	outBucket, _ := localstack.Bucket(t)
	redisURL, redisPrefix := localstack.RedisNamespace(t)
	root, err := cfg.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(c *minio.Client, bucket, key string, body []byte) error {
		_, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
		return err
	}

	// Input: JSONL under in/, and an object beside it the workers must
	// not read.
	var ids []string
	for o := range 3 {
		var b bytes.Buffer
		for range 400 {
			id := fmt.Sprintf("r%05d", len(ids))
			ids = append(ids, id)
			fmt.Fprintf(&b, `{"id":%q,"grp":"g%d","pad":%q}`+"\n", id, len(ids)%3, strings.Repeat("x", len(ids)%50))
		}
		if err := put(root, inBucket, fmt.Sprintf("in/part-%d.jsonl", o), b.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if err := put(root, inBucket, "private/secret.jsonl", []byte(`{"id":"secret"}`+"\n")); err != nil {
		t.Fatal(err)
	}

	creds := restrictedCredentials(t, cfg, renderWorkerPolicy(t, inBucket, "in", outBucket, "out"))
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"AWS_ENDPOINT_URL_S3=" + cfg.Endpoint, "AWS_REGION=" + cfg.Region,
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey, "AWS_SESSION_TOKEN=" + creds.SessionToken,
		"FANOUT_REDIS_URL=" + redisURL, "FANOUT_REDIS_PREFIX=" + redisPrefix, "FANOUT_OUT_BASES=s3://" + outBucket + "/out/"}

	// The job: a driver that plans, waits and commits, two workers; once
	// with each S3 backend.
	store, err := miniostore.New(ctx, miniostore.Config{Endpoint: cfg.Endpoint, Bucket: outBucket,
		AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Region: cfg.Region})
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"minio", "aws"} {
		t.Run("job with the "+backend+" backend", func(t *testing.T) {
			env := append(slices.Clip(env), "FANOUT_S3_BACKEND="+backend)
			prefix := "out/sales-" + backend + "/"
			w1 := localstack.Start(t, "worker-1", env, fanoutBinary(t), "work", "--concurrency", "2")
			w2 := localstack.Start(t, "worker-2", env, fanoutBinary(t), "work", "--concurrency", "2")
			run := localstack.Start(t, "run", env, fanoutBinary(t), "run", "--json", "--workers", "0",
				"--in", "s3://"+inBucket+"/in/", "--fn", "convert", "--out", "s3://"+outBucket+"/"+prefix, "--out-format", "jsonl",
				"--partition-by", "grp", "--chunk-size", "8KiB")
			if err := run.Wait(t, 3*time.Minute); err != nil || !strings.Contains(run.Stdout(), `"committed"`) {
				t.Fatalf("fanout run under the worker policy: %v\n%s\n%s\nworker 1:\n%s\nworker 2:\n%s", err, run.Stdout(), run.Stderr(), w1.Stderr(), w2.Stderr())
			}
			c := faulttest.CheckCommitted(t, store, prefix, jobOf(t, run.Stdout()), faulttest.JSONField("id"), ids)
			if c.Chunks < 2 {
				t.Errorf("%d chunks: want a job of several chunks", c.Chunks)
			}
			w1.Kill()
			w2.Kill()
		})
	}

	// What the same credentials may not do.
	worker, err := minio.New(strings.TrimPrefix(strings.TrimPrefix(cfg.Endpoint, "http://"), "https://"), &minio.Options{
		Creds:  credentials.NewStaticV4(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken),
		Secure: strings.HasPrefix(cfg.Endpoint, "https://"), Region: cfg.Region, BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	list := func(c *minio.Client, bucket, prefix string) error {
		for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if obj.Err != nil {
				return obj.Err
			}
		}
		return nil
	}
	get := func(c *minio.Client, bucket, key string) error {
		_, err := c.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
		return err
	}
	refused := []struct {
		name string
		op   func(c *minio.Client) error
	}{
		{"write beside the output prefix", func(c *minio.Client) error { return put(c, outBucket, "elsewhere/x", []byte("x")) }},
		{"write in the input bucket", func(c *minio.Client) error { return put(c, inBucket, "in/x", []byte("x")) }},
		{"write the input bucket's output-named prefix", func(c *minio.Client) error { return put(c, inBucket, "out/x", []byte("x")) }},
		{"read beside the input prefix", func(c *minio.Client) error { return get(c, inBucket, "private/secret.jsonl") }},
		{"list the whole input bucket", func(c *minio.Client) error { return list(c, inBucket, "") }},
		{"list the whole output bucket", func(c *minio.Client) error { return list(c, outBucket, "") }},
		{"list the input bucket beside its prefix", func(c *minio.Client) error { return list(c, inBucket, "private/") }},
		{"list the output prefix in the input bucket", func(c *minio.Client) error { return list(c, inBucket, "out/") }},
		{"list the input prefix in the output bucket", func(c *minio.Client) error { return list(c, outBucket, "in/") }},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op(worker)
			var resp minio.ErrorResponse
			if !errors.As(err, &resp) || resp.Code != "AccessDenied" {
				t.Errorf("with the worker policy: got %v, want AccessDenied", err)
			}
			if err := tt.op(root); err != nil {
				t.Errorf("with root credentials: %v (the refusal must be the policy's)", err)
			}
		})
	}
	// And what they may: list and read the prefixes the policy names.
	if err := list(worker, inBucket, "in/"); err != nil {
		t.Errorf("list the input prefix: %v", err)
	}
	if err := list(worker, outBucket, "out/"); err != nil {
		t.Errorf("list the output prefix: %v", err)
	}
}
