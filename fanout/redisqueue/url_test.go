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
			c, _, _, err := dial(tt.url)
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
