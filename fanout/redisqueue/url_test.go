package redisqueue

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestDialForms checks which client each URL form makes, without a
// server: TLS for the rediss forms, every seed of a cluster, each node of
// a TLS cluster verified under its own host name, and the password kept
// out of errors.
func TestDialForms(t *testing.T) {
	tests := []struct {
		url     string
		cluster bool
		addrs   []string
		tls     bool
	}{
		{"redis://:pw@h1:6379/2", false, []string{"h1:6379"}, false},
		{"rediss://h1:6380", false, []string{"h1:6380"}, true},
		{"redis+cluster://:pw@h1:7000,h2:7001,h3:7002", true, []string{"h1:7000", "h2:7001", "h3:7002"}, false},
		{"rediss+cluster://user:pw@h1:7000,h2:7001/0?dial_timeout=3s", true, []string{"h1:7000", "h2:7001"}, true},
		{"redis://h1:7000?addr=h2:7001", true, []string{"h1:7000", "h2:7001"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, _, _, err := dial(tt.url, Config{}.sizes())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			switch c := c.(type) {
			case *redis.ClusterClient:
				if !tt.cluster {
					t.Fatal("got a cluster client, want a single-server one")
				}
				o := c.Options()
				if strings.Join(o.Addrs, ",") != strings.Join(tt.addrs, ",") {
					t.Errorf("seeds %v, want %v", o.Addrs, tt.addrs)
				}
				if (o.TLSConfig != nil) != tt.tls {
					t.Errorf("TLS %v, want %v", o.TLSConfig != nil, tt.tls)
				}
				if o.TLSConfig != nil && o.TLSConfig.ServerName != "" {
					t.Errorf("TLS server name %q for every node, want none (each node's own host name)", o.TLSConfig.ServerName)
				}
				if !o.ContextTimeoutEnabled {
					t.Error("ContextTimeoutEnabled is off: heartbeats would not honour their deadlines")
				}
			case *redis.Client:
				if tt.cluster {
					t.Fatal("got a single-server client, want a cluster one")
				}
				o := c.Options()
				if o.Addr != tt.addrs[0] || (o.TLSConfig != nil) != tt.tls {
					t.Errorf("addr %s TLS %v, want %s TLS %v", o.Addr, o.TLSConfig != nil, tt.addrs[0], tt.tls)
				}
			default:
				t.Fatalf("client %T", c)
			}
		})
	}
}

// TestDialSizes checks that Config's pool size and buffer size reach the
// client made from a URL, single server and Cluster, with DefaultBufferSize
// when unset, and that the URL's own parameters win.
func TestDialSizes(t *testing.T) {
	tests := []struct {
		name                   string
		url                    string
		cfg                    Config
		pool, read, write, ppr int // ppr: pipeline read buffer (0: not checked, a Cluster)
	}{
		{"defaults", "redis://h1:6379", Config{}, 0, DefaultBufferSize, DefaultBufferSize, DefaultBufferSize},
		{"configured", "redis://h1:6379", Config{PoolSize: 6, BufferSize: 16 << 10}, 6, 16 << 10, 16 << 10, 16 << 10},
		{"the URL wins", "redis://h1:6379?pool_size=3&pipeline_read_buffer_size=65536", Config{PoolSize: 6, BufferSize: 16 << 10}, 3, 16 << 10, 16 << 10, 64 << 10},
		{"cluster defaults", "redis+cluster://h1:7000,h2:7001", Config{}, 0, DefaultBufferSize, DefaultBufferSize, 0},
		{"cluster configured", "redis+cluster://h1:7000,h2:7001", Config{PoolSize: 5, BufferSize: 8 << 10}, 5, 8 << 10, 8 << 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _, err := dial(tt.url, tt.cfg.sizes())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			var pool, read, write, ppr, pps int
			switch c := c.(type) {
			case *redis.ClusterClient:
				o := c.Options()
				pool, read, write = o.PoolSize, o.ReadBufferSize, o.WriteBufferSize
			case *redis.Client:
				o := c.Options()
				pool, read, write, ppr, pps = o.PoolSize, o.ReadBufferSize, o.WriteBufferSize, o.PipelineReadBufferSize, o.PipelinePoolSize
				if pps != pipelinePoolSize {
					t.Errorf("pipeline pool size %d, want %d", pps, pipelinePoolSize)
				}
			}
			if tt.pool != 0 && pool != tt.pool {
				t.Errorf("pool size %d, want %d", pool, tt.pool)
			}
			if read != tt.read || write != tt.write {
				t.Errorf("buffers %d read, %d write, want %d and %d", read, write, tt.read, tt.write)
			}
			if tt.ppr != 0 && ppr != tt.ppr {
				t.Errorf("pipeline read buffer %d, want %d", ppr, tt.ppr)
			}
		})
	}
}
