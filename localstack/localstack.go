// Package localstack gives tests and developers fanout's real services on
// loopback: MinIO and Redis started by scripts/services.sh (see
// docker-compose.yml for Docker users), plus a fresh bucket or Redis key
// namespace per test that is removed when the test ends; private MinIO and
// Redis servers a test owns and may kill, stop and restart (StartMinIO,
// StartRedis); and the processes under test (Start, Proc).
//
// Endpoints come from the environment that `scripts/services.sh up` prints
// (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_REGION, FANOUT_REDIS_URL); when they are unset, the file
// .services/env that `up` writes at the repository root is read instead.
// A test whose service is missing skips with a message naming
// scripts/test.sh, unless FANOUT_REQUIRE_SERVICES=1, when it fails.
package localstack

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"
)

// S3Config is how to reach the local MinIO.
type S3Config struct {
	Endpoint  string // http://127.0.0.1:19000
	AccessKey string
	SecretKey string
	Region    string
}

var loadEnvOnce sync.Once

// loadServicesEnv fills unset variables from .services/env, found by
// walking up from the working directory.
func loadServicesEnv() {
	loadEnvOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			f, err := os.Open(filepath.Join(dir, ".services", "env"))
			if err == nil {
				sc := bufio.NewScanner(f)
				for sc.Scan() {
					line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
					k, v, ok := strings.Cut(line, "=")
					if ok && os.Getenv(k) == "" {
						os.Setenv(k, v)
					}
				}
				f.Close()
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
}

// Required reports whether missing services must fail tests
// (FANOUT_REQUIRE_SERVICES=1, set by scripts/test.sh and CI).
func Required() bool { return os.Getenv("FANOUT_REQUIRE_SERVICES") == "1" }

// Missing skips the test because what is not available, with a message
// naming scripts/test.sh, or fails it when Required. It is the one place
// that decides: every test that needs a service, a program or a tool
// calls it.
func Missing(t testing.TB, what string) {
	t.Helper()
	msg := fmt.Sprintf("%s is not available: run the tests with scripts/test.sh (it installs and starts what they need)", what)
	if Required() {
		t.Fatalf("FANOUT_REQUIRE_SERVICES=1 but %s", msg)
	}
	t.Skip(msg) // msg names scripts/test.sh
}

// S3 returns the local MinIO's settings, or skips (fails when required)
// when it is not configured or not healthy.
func S3(t testing.TB) S3Config {
	t.Helper()
	loadServicesEnv()
	cfg := S3Config{
		Endpoint:  os.Getenv("AWS_ENDPOINT_URL_S3"),
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Region:    os.Getenv("AWS_REGION"),
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	if cfg.Endpoint == "" || cfg.AccessKey == "" {
		Missing(t, "MinIO (AWS_ENDPOINT_URL_S3)")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if err := probeHTTP(cfg.Endpoint + "/minio/health/live"); err != nil {
		Missing(t, fmt.Sprintf("MinIO at %s (%v)", cfg.Endpoint, err))
	}
	return cfg
}

// MinioClient returns a minio-go client for the local MinIO.
func (c S3Config) MinioClient() (*minio.Client, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("localstack: endpoint %q: %w", c.Endpoint, err)
	}
	return minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       c.Region,
		BucketLookup: minio.BucketLookupPath,
	})
}

var nameCleaner = regexp.MustCompile(`[^a-z0-9-]+`)

// UniqueName returns a short name unique to this test run, made of the
// test's name and random hex, usable as a bucket name or key prefix.
func UniqueName(t testing.TB) string {
	base := strings.Trim(nameCleaner.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	var b [4]byte
	rand.Read(b[:])
	return strings.Trim("t-"+base, "-") + "-" + hex.EncodeToString(b[:])
}

// Bucket creates a fresh bucket on the local MinIO for this test and
// removes it, with everything in it, when the test ends. It returns the
// bucket's name and the service settings.
func Bucket(t testing.TB) (string, S3Config) {
	t.Helper()
	cfg := S3(t)
	client, err := cfg.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	name := UniqueName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
		t.Fatalf("localstack: make bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := RemoveBucket(ctx, client, name); err != nil {
			t.Logf("localstack: removing bucket %s: %v", name, err)
		}
	})
	return name, cfg
}

// RemoveBucket deletes every object of the bucket and then the bucket.
func RemoveBucket(ctx context.Context, client *minio.Client, name string) error {
	objects := client.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true})
	for res := range client.RemoveObjects(ctx, name, objects, minio.RemoveObjectsOptions{}) {
		if res.Err != nil {
			return res.Err
		}
	}
	return client.RemoveBucket(ctx, name)
}

// RedisURL returns the local Redis URL, or skips (fails when required).
func RedisURL(t testing.TB) string {
	t.Helper()
	loadServicesEnv()
	u := os.Getenv("FANOUT_REDIS_URL")
	if u == "" {
		Missing(t, "Redis (FANOUT_REDIS_URL)")
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("localstack: FANOUT_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		Missing(t, fmt.Sprintf("Redis at %s (%v)", opts.Addr, err))
	}
	return u
}

// RedisNamespace returns the Redis URL and a key prefix unique to this
// test; every key under the prefix is deleted when the test ends.
func RedisNamespace(t testing.TB) (redisURL, prefix string) {
	t.Helper()
	u := RedisURL(t)
	prefix = "fanout-" + UniqueName(t)
	t.Cleanup(func() {
		opts, err := redis.ParseURL(u)
		if err != nil {
			return
		}
		c := redis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := DeleteKeys(ctx, c, prefix); err != nil {
			t.Logf("localstack: cleaning Redis prefix %s: %v", prefix, err)
		}
	})
	return u, prefix
}

// DeleteKeys deletes every key that starts with prefix (SCAN, not KEYS).
func DeleteKeys(ctx context.Context, c *redis.Client, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := c.Del(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return c.Del(ctx, batch...).Err()
	}
	return nil
}

// OutputLines returns every line of the data files under prefix in the
// bucket (keys with a path element starting with "_", the job's records
// and _SUCCESS, are skipped), sorted: the output of a lines or jsonl job,
// to compare with a serial computation.
func OutputLines(t testing.TB, client *minio.Client, bucket, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var lines []string
	for o := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if strings.Contains("/"+o.Key, "/_") {
			continue
		}
		obj, err := client.GetObject(ctx, bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatalf("localstack: reading %s: %v", o.Key, err)
		}
		if len(b) > 0 {
			lines = append(lines, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
		}
	}
	slices.Sort(lines)
	return lines
}
