package localstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a private Redis Cluster of masters without replicas on
// loopback, owned by one test, which may kill and restart any node: the
// slots of a killed master are down until it is back (with its slots and
// without its data, as a master without persistence after a crash).
type RedisCluster struct {
	// Nodes are the masters, in the order of their slot ranges.
	Nodes []*Redis
	t     testing.TB
	// tls is the client configuration of a cluster started by
	// StartRedisClusterTLS, nil for a plain one.
	tls *tls.Config
}

// ClusterNodeTimeout is the cluster-node-timeout of StartRedisCluster's
// nodes: how long a killed master takes to be marked failed, after which
// every node answers CLUSTERDOWN until it is back.
const ClusterNodeTimeout = 2 * time.Second

// StartRedisCluster starts n redis-servers with --cluster-enabled yes,
// joins them with `redis-cli --cluster create ... --cluster-replicas 0`
// and waits until every node reports cluster_state:ok. It skips (fails
// when FANOUT_REQUIRE_SERVICES=1) when redis-server or redis-cli is not
// installed.
func StartRedisCluster(t testing.TB, n int) *RedisCluster {
	t.Helper()
	return startCluster(t, n, "", "", "")
}

// StartRedisClusterTLS is StartRedisCluster with every node speaking
// only TLS, to clients and on the cluster bus, with the server
// certificate and key in certFile and keyFile (valid for 127.0.0.1)
// signed by the CA in caFile; clients need no certificate. Its URL is
// rediss+cluster://; a client must trust caFile (SSL_CERT_FILE).
func StartRedisClusterTLS(t testing.TB, n int, caFile, certFile, keyFile string) *RedisCluster {
	t.Helper()
	return startCluster(t, n, caFile, certFile, keyFile)
}

func startCluster(t testing.TB, n int, caFile, certFile, keyFile string) *RedisCluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		Missing(t, "redis-cli")
	}
	c := &RedisCluster{t: t}
	var tlsArgs, cliTLS []string
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("localstack: no certificate in %s", caFile)
		}
		c.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		tlsArgs = []string{"--port", "0", "--tls-port", "{port}", "--tls-cluster", "yes", "--tls-cert-file", certFile,
			"--tls-key-file", keyFile, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no"}
		cliTLS = []string{"--tls", "--cacert", caFile}
	}
	addrs := make([]string, n)
	for i := range n {
		// The bus port is set, not left at port+10000, which may be taken.
		args := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(FreePort(t)),
			"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout / time.Millisecond))}
		r := StartRedis(t, append(args, tlsArgs...)...)
		c.Nodes = append(c.Nodes, r)
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", r.Port)
	}
	args := append(cliTLS, "--cluster", "create")
	args = append(args, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("localstack: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitOK()
	return c
}

// URL is redis+cluster://127.0.0.1:<port>,... naming every node
// (rediss+cluster:// for a cluster of StartRedisClusterTLS).
func (c *RedisCluster) URL() string {
	hosts := make([]string, len(c.Nodes))
	for i, r := range c.Nodes {
		hosts[i] = fmt.Sprintf("127.0.0.1:%d", r.Port)
	}
	scheme := "redis+cluster://"
	if c.tls != nil {
		scheme = "rediss+cluster://"
	}
	return scheme + strings.Join(hosts, ",")
}

// Client returns a cluster client of every node, closed when the test
// ends.
func (c *RedisCluster) Client() *redis.ClusterClient {
	addrs := make([]string, len(c.Nodes))
	for i, r := range c.Nodes {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", r.Port)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, TLSConfig: c.tls})
	c.t.Cleanup(func() { cc.Close() })
	return cc
}

// WaitOK waits until every node answers and reports cluster_state:ok.
func (c *RedisCluster) WaitOK() {
	c.t.Helper()
	Poll(c.t, 30*time.Second, "the Redis Cluster to report cluster_state:ok on every node", func() bool {
		for _, r := range c.Nodes {
			if !c.nodeOK(r.Port) {
				return false
			}
		}
		return true
	})
}

func (c *RedisCluster) nodeOK(port int) bool {
	cl := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1, TLSConfig: c.tls})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := cl.ClusterInfo(ctx).Result()
	return err == nil && strings.Contains(info, "cluster_state:ok")
}

// MasterOf returns the index in Nodes of the master that serves key.
func (c *RedisCluster) MasterOf(key string) int {
	c.t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", c.Nodes[0].Port), TLSConfig: c.tls})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	slot, err := cl.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		c.t.Fatalf("localstack: CLUSTER KEYSLOT %s: %v", key, err)
	}
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		c.t.Fatalf("localstack: CLUSTER SLOTS: %v", err)
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			for i, r := range c.Nodes {
				if s.Nodes[0].Addr == fmt.Sprintf("127.0.0.1:%d", r.Port) {
					return i
				}
			}
		}
	}
	c.t.Fatalf("localstack: no node serves slot %d of %s", slot, key)
	return -1
}
