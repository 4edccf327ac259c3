package lambdaapp

import (
	"strings"
	"testing"
)

// TestChunkSize checks that FANOUT_CHUNK_SIZE takes the CLI's sizes: the
// Lambda's own copy of the parser once refused TiB.
func TestChunkSize(t *testing.T) {
	for _, v := range envVars {
		t.Setenv(v.Name, "")
	}
	t.Setenv("FANOUT_REDIS_URL", "redis://127.0.0.1:1/0")
	t.Setenv("FANOUT_FUNCTION", "convert")
	t.Setenv("FANOUT_OUTPUT", "s3://b/out/")
	for _, tt := range []struct {
		in   string
		want int64
	}{{"1TiB", 1 << 40}, {"1TB", 1e12}, {"64MiB", 64 << 20}, {"1KB", 1000}} {
		t.Setenv("FANOUT_CHUNK_SIZE", tt.in)
		c, err := loadConfig()
		if err != nil || c.Trigger == nil || c.Trigger.ChunkBytes != tt.want {
			t.Errorf("FANOUT_CHUNK_SIZE=%s: config %+v, %v; want ChunkBytes %d", tt.in, c, err, tt.want)
		}
	}
	t.Setenv("FANOUT_CHUNK_SIZE", "lots")
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "FANOUT_CHUNK_SIZE") {
		t.Errorf("FANOUT_CHUNK_SIZE=lots: got %v, want an error naming FANOUT_CHUNK_SIZE", err)
	}
}
