package localstack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestMinIOBinaryIsThePinnedVersion checks that the binary tests start is
// the one scripts/services.sh pins.
func TestMinIOBinaryIsThePinnedVersion(t *testing.T) {
	if os.Getenv("FANOUT_MINIO_BIN") != "" {
		t.Skip("FANOUT_MINIO_BIN names the binary explicitly (scripts/test.sh does not set it, so there this test runs)")
	}
	v := pinnedMinIOVersion(repoRoot())
	if v == "" || !strings.HasPrefix(v, "v") {
		t.Fatalf("MINIO_VERSION of scripts/services.sh = %q, want a module version", v)
	}
	bin := MinIOBinary(t)
	if got := filepath.Base(bin); got != "minio-"+v {
		t.Errorf("MinIOBinary() = %s, want minio-%s", bin, v)
	}
}

// TestPrivateRedisRestartsEmpty checks that a private Redis forgets
// everything on Restart, as a Redis without persistence after a crash.
func TestPrivateRedisRestartsEmpty(t *testing.T) {
	r := StartRedis(t)
	c := r.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET k = %q, %v; want v", got, err)
	}
	r.Restart()
	Poll(t, 10*time.Second, "the restarted Redis to answer", func() bool { return c.Ping(ctx).Err() == nil })
	if got, err := c.Get(ctx, "k").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET k after Restart = %q, %v; want redis.Nil", got, err)
	}
}
