package redisqueue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/queuetest"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/redis/go-redis/v9"
)

// newQueue returns a queue on the local Redis under a key namespace of
// its own, deleted when the test ends.
func newQueue(tb testing.TB) *redisqueue.Queue {
	tb.Helper()
	url, prefix := localstack.RedisNamespace(tb)
	q, err := redisqueue.New(context.Background(), redisqueue.Config{URL: url, Prefix: prefix})
	if err != nil {
		tb.Fatalf("redisqueue.New: %v", err)
	}
	tb.Cleanup(func() {
		if err := q.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return q
}

func newQueues(tb testing.TB) (fanout.Queue, fanout.QueueAdmin) {
	q := newQueue(tb)
	return q, q
}

// redisClient is a client of the local Redis, closed when the test ends.
func redisClient(tb testing.TB) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(localstack.RedisURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	c := redisClient(t)
	// The suite reads Redis's clock, the one the scripts use.
	now := func() time.Time {
		tm, err := c.Time(context.Background()).Result()
		if err != nil {
			t.Fatalf("Redis TIME: %v", err)
		}
		return tm
	}
	queuetest.RunConformance(t, func(t *testing.T) (fanout.Queue, fanout.QueueAdmin) {
		return newQueues(t)
	}, queuetest.RealClock(now, 300*time.Millisecond))
}

func TestNewRejectsBadConfig(t *testing.T) {
	url := localstack.RedisURL(t)
	tests := []struct {
		name string
		cfg  redisqueue.Config
		want string
	}{
		{"nothing", redisqueue.Config{}, "Config.URL or Config.Client"},
		{"both", redisqueue.Config{URL: url, Client: redisClient(t)}, "both set"},
		{"scheme", redisqueue.Config{URL: "http://127.0.0.1:16379"}, "Config.URL"},
		{"unparsable", redisqueue.Config{URL: "redis://:pass word@%zz"}, "Config.URL"},
		{"prefix with a brace", redisqueue.Config{URL: url, Prefix: "a{b"}, "Config.Prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := redisqueue.New(t.Context(), tt.cfg)
			if err == nil {
				q.Close()
				t.Fatalf("New(%+v) = nil error, want one mentioning %q", tt.cfg, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: got %q, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "pass word") {
				t.Fatalf("New: error %q shows the password", err)
			}
		})
	}
}

func TestWrongPasswordFailsWithAuthError(t *testing.T) {
	localstack.RedisURL(t) // skips when Redis is not running
	_, err := redisqueue.New(t.Context(), redisqueue.Config{URL: "redis://:wrong@127.0.0.1:16379"})
	if err == nil {
		t.Fatal("New with a wrong password = nil error, want an AUTH error")
	}
	if !strings.Contains(err.Error(), "AUTH") {
		t.Fatalf("New with a wrong password: got %q, want it to mention AUTH", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("New: error %q shows the password", err)
	}
	t.Logf("New with a wrong password: %v", err)
}

func TestExistingClient(t *testing.T) {
	_, prefix := localstack.RedisNamespace(t)
	c := redisClient(t)
	q, err := redisqueue.New(t.Context(), redisqueue.Config{Client: c, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	// Close leaves a client the queue was given open.
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("Ping after Close: %v", err)
	}
}

// TestKeysAreHashTaggedByJob checks that every key of a job, in every
// state, carries the job's hash tag, and that Finish deletes them all.
func TestKeysAreHashTaggedByJob(t *testing.T) {
	url, prefix := localstack.RedisNamespace(t)
	ctx := t.Context()
	q, err := redisqueue.New(ctx, redisqueue.Config{URL: url, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	c := redisClient(t)
	spec := fanout.JobQueueSpec{Job: "j1", Lease: time.Minute, MaxDeliveries: 3, MaxFailures: 1,
		BackoffBase: time.Second, BackoffMax: time.Second}
	if err := q.Enqueue(ctx, spec, []string{"c1", "c2", "c3", "c4"}); err != nil {
		t.Fatal(err)
	}
	other := spec
	other.Job = "j2"
	if err := q.Enqueue(ctx, other, []string{"c1"}); err != nil {
		t.Fatal(err)
	}
	// One chunk of j1 done, one dead, one running, one pending.
	for _, step := range []func(fanout.Lease) error{
		func(l fanout.Lease) error { return q.Ack(ctx, l) },
		func(l fanout.Lease) error { _, err := q.Fail(ctx, l, "bad", true); return err },
		func(fanout.Lease) error { return nil },
	} {
		l, err := q.Claim(ctx, "j1", "w1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := step(l); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := c.Keys(ctx, prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var j1 []string
	for _, k := range keys {
		switch {
		case k == prefix+":jobs", k == prefix+":wake": // no script touches them
		case strings.HasPrefix(k, prefix+":{j1}:"):
			j1 = append(j1, k)
		case strings.HasPrefix(k, prefix+":{j2}:"):
		default:
			t.Errorf("key %s has no job hash tag", k)
		}
	}
	for _, want := range []string{"spec", "pending", "leases", "dead", "done", "chunk:c2", "chunk:c3"} {
		if !strings.Contains(strings.Join(j1, " "), prefix+":{j1}:"+want) {
			t.Errorf("keys of j1 %v lack %s", j1, want)
		}
	}
	if err := q.Finish(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	left, err := c.Keys(ctx, prefix+":{j1}*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("Finish left keys %v", left)
	}
	// The finished job's record is the job's one key after Finish, with a TTL.
	if err := q.RecordFinished(ctx, fanout.FinishedJob{Job: "j1", Output: "s3://b/out/", State: fanout.StateCommitted}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl, err := c.PTTL(ctx, prefix+":{j1}:finished").Result(); err != nil || ttl <= 0 || ttl > time.Hour {
		t.Errorf("the finished record's TTL is %v, %v; want in (0, 1h]", ttl, err)
	}
	if n, err := c.Exists(ctx, prefix+":{j2}:spec", prefix+":{j2}:pending").Result(); err != nil || n != 2 {
		t.Errorf("Finish of j1 touched j2: %d of its keys left, %v", n, err)
	}
}

func BenchmarkClaimAck(b *testing.B) { queuetest.BenchmarkClaimAck(b, newQueues) }

func BenchmarkEnqueue(b *testing.B) { queuetest.BenchmarkEnqueue(b, newQueues) }

// scriptHook records the names (redisqueue.ScriptNames) of the scripts a
// client runs by EVALSHA or EVAL.
type scriptHook struct {
	names map[string]string
	ran   []string
}

func (h *scriptHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *scriptHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *scriptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); cmd.Name() == "evalsha" && len(args) > 1 {
			sha, _ := args[1].(string)
			name, ok := h.names[sha]
			if !ok {
				name = "unknown " + sha
			}
			h.ran = append(h.ran, name)
		}
		return next(ctx, cmd)
	}
}

// TestScriptNames finds the scripts a claim, a heartbeat and an ack that
// claims run under their names in ScriptNames, which names each of the
// queue's scripts once.
func TestScriptNames(t *testing.T) {
	names := redisqueue.ScriptNames()
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("ScriptNames names %q twice", n)
		}
		seen[n] = true
	}
	if len(names) != 16 {
		t.Errorf("ScriptNames has %d scripts, want 16 (one per file in lua/ but common.lua)", len(names))
	}
	url, prefix := localstack.RedisNamespace(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	hook := &scriptHook{names: names}
	c.AddHook(hook)
	q, err := redisqueue.New(context.Background(), redisqueue.Config{Client: c, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	spec := fanout.JobQueueSpec{Job: "names", Manifest: "m", Lease: time.Minute, MaxDeliveries: 3, MaxFailures: 3,
		BackoffBase: time.Second, BackoffMax: time.Minute}
	defer q.Finish(ctx, spec.Job)
	if err := q.Enqueue(ctx, spec, []string{"c0", "c1"}); err != nil {
		t.Fatal(err)
	}
	hook.ran = nil
	l, err := q.Claim(ctx, spec.Job, "w", nil)
	if err != nil {
		t.Fatal(err)
	}
	if l, err = q.Heartbeat(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := q.AckAndClaim(ctx, l, fanout.TaskCounts{}, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(hook.ran, " "), "claim heartbeat ackclaim"; got != want {
		t.Errorf("scripts run: %q, want %q", got, want)
	}
}

// TestCloseAfterACancelledWait cancels a WaitForWork of an hour (for a
// job and for any job) and closes the queue: the wait returns its
// context's error, and Close returns without waiting out the blocking
// read's hour (it pushes onto the wait's own list, which ends it).
func TestCloseAfterACancelledWait(t *testing.T) {
	url, prefix := localstack.RedisNamespace(t)
	name := "closewait-" + prefix
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	q, err := redisqueue.New(context.Background(), redisqueue.Config{URL: url + sep + "client_name=" + name, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	// blocked says whether one of q's connections is blocked (BLPOP).
	c := redisClient(t)
	blocked := func() bool {
		list, err := c.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(list, "\n") {
			if strings.Contains(l, " name="+name+" ") && strings.Contains(l, " flags=b ") {
				return true
			}
		}
		return false
	}
	for _, job := range []string{"quiet", ""} {
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan error, 1)
		go func() { got <- q.WaitForWork(ctx, job, time.Hour) }()
		for deadline := time.Now().Add(30 * time.Second); !blocked(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no BLPOP of the wait after 30 s")
			}
		}
		cancel()
		if err := <-got; !errors.Is(err, context.Canceled) {
			t.Errorf("WaitForWork(%q) cancelled: %v; want context.Canceled", job, err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- q.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close still waits a minute after the waits were cancelled (their blocking reads run on for an hour)")
	}
}
