package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/localstack"
)

// TestJobOnRedisCluster runs a job with two `fanout work` processes on a
// real 3-master Redis Cluster (no replicas) and MinIO, and kills the
// master that holds the job's keys while chunks are in flight and others
// published. `fanout wait` then exits with an error naming the queue
// (not a hang); once the master is back (empty, with its slots), `fanout
// resume` rebuilds the queue from the bucket and the job commits every
// record exactly once.
func TestJobOnRedisCluster(t *testing.T) {
	cluster := localstack.StartRedisCluster(t, 3)
	j := newFaultJob(t, faultSetup{redisURL: cluster.URL()})
	j.submit()
	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	g := newGate(proxy, j.chunks/3)
	j.worker("worker-a", proxy.URL, 2)
	j.worker("worker-b", proxy.URL, 2)
	g.waitHalfway(t)

	master := cluster.MasterOf(j.prefix + ":{" + j.job + "}:spec")
	cluster.Nodes[master].Kill()
	// The user's view: `fanout wait` gives up after the queue timeout (two
	// 2s leases, at least fanout.DefaultQueueTimeout) with an error that
	// says the queue is unavailable and how to go on; it does not hang.
	wait := localstack.Start(t, "wait", j.env(""), fanoutBinary(t), "wait", j.job, "--out", j.out(), "--json", "--quiet")
	if err := wait.Wait(t, fanout.DefaultQueueTimeout+30*time.Second); err == nil {
		t.Fatalf("fanout wait with a master down exited 0; stdout:\n%s\nstderr:\n%s", wait.Stdout(), wait.Stderr())
	}
	if msg := wait.Stderr(); !strings.Contains(msg, "queue unavailable") || !strings.Contains(msg, "resume") {
		t.Fatalf("fanout wait with a master down: stderr %q; want the queue named unavailable and resume suggested", msg)
	}
	t.Logf("fanout wait with the job's master down:\n%s", wait.Stderr())

	cluster.Nodes[master].Start()
	cluster.WaitOK()
	g.Open()
	stdout, stderr, err := localstack.Run(context.Background(), j.env(""), fanoutBinary(t), "resume", j.job, "--out", j.out())
	if err != nil || !strings.Contains(stdout, "without a marker enqueued") {
		t.Fatalf("fanout resume: %v\n%s%s", err, stdout, stderr)
	}
	j.committed(j.driver(""), 2*time.Minute)
	c := j.check()
	t.Logf("master %d of 3 killed after %d markers; resume said %q; %d chunks, %d records committed once", master, j.chunks/3, strings.TrimSpace(stdout), c.Chunks, c.Records)
}

// TestJobOnRedisClusterOverTLS runs a job with two workers on a real
// 3-master Redis Cluster that speaks only TLS (to clients and on its
// bus), named by a rediss+cluster:// URL of its nodes: the client
// verifies every node it is sent to (MOVED, CLUSTER SLOTS) under that
// node's own address against the CA in SSL_CERT_FILE, and the job commits
// every record exactly once. Without the CA it is a certificate error.
func TestJobOnRedisClusterOverTLS(t *testing.T) {
	caFile, certFile, keyFile := writeTestCA(t, t.TempDir())
	cluster := localstack.StartRedisClusterTLS(t, 3, caFile, certFile, keyFile)
	if !strings.HasPrefix(cluster.URL(), "rediss+cluster://") {
		t.Fatalf("cluster URL %s; want rediss+cluster://", cluster.URL())
	}
	j := newFaultJob(t, faultSetup{redisURL: cluster.URL()})
	env := append(j.env(""), "SSL_CERT_FILE="+caFile)
	res := runFanout(t, env, append([]string{"run", "--workers", "2", "--json", "--quiet"}, j.jobArgs()...)...)
	j.job, j.chunks = res.Job, res.Chunks
	if res.State != "committed" {
		t.Fatalf("run on a TLS cluster: %+v", res)
	}
	c := j.check()
	t.Logf("%d chunks, %d records committed once over rediss+cluster://", c.Chunks, c.Records)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, stderr, err := localstack.Run(ctx, j.env(""), fanoutBinary(t), "status", j.job, "--out", j.out())
	if err == nil || ctx.Err() != nil || !strings.Contains(stderr, "certificate") {
		t.Errorf("status without the CA: %v %s; want a prompt certificate error", err, stderr)
	}
}
