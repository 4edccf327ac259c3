// Package redisqueue implements fanout.Queue and fanout.QueueAdmin on
// Redis (7.0 or later, standalone or Cluster), for jobs whose workers run
// on many machines.
//
// Every state change of a chunk (enqueue, claim, heartbeat, ack, fail,
// release, reclaim, redrive) is one Lua script from the lua directory,
// atomic on the server and timed by Redis TIME, never by a worker's
// clock.
//
// # Key layout
//
// Every key starts with Config.Prefix ("fanout" by default). The keys of
// one job share the hash tag {<job>}, so that they live in one Cluster
// slot:
//
//	<prefix>:jobs                     set of active job IDs (the only key outside a job's slot)
//	<prefix>:{<job>}:spec             hash: the JobQueueSpec (job, manifest, lease_ns, max_deliveries, max_failures, backoff_base_ns, backoff_max_ns)
//	<prefix>:{<job>}:pending          zset: chunk -> time it becomes claimable (ms), for new, released, retried and reclaimed chunks
//	<prefix>:{<job>}:leases           zset: chunk -> lease deadline (ms)
//	<prefix>:{<job>}:dead             hash: chunk -> dead-letter reason
//	<prefix>:{<job>}:done             set: acked chunks
//	<prefix>:{<job>}:chunk:<chunk>    hash: epoch, worker, deliveries, failures, state, reason, deadline (absent until the first claim, deleted on ack)
//	<prefix>:{<job>}:counted          set: tasks whose records and bytes were counted (fanout.TaskCounter)
//	<prefix>:{<job>}:counts           hash: records_in, records_out, bytes_in summed over counted tasks
//	<prefix>:{<job>}:commit           string: the holder of the job's commit lease, expiring with it (PX)
//	<prefix>:{<job>}:finished         string: a finished job's record (fanout.FinishedJob as JSON), expiring
//	<prefix>:finished                 zset: job -> when its finished record was written (ms); outside every job's slot like jobs
//
// Each script touches the keys of one job only, all in its slot (a
// script that finds chunks in a set builds their hash keys from the
// chunk key prefix it is given). Claim with an empty job first reads the
// jobs set, then runs the per-job claim script on the jobs in turn; no
// script ever reads the jobs set, so the queue is Redis Cluster safe.
//
// # Counters
//
// A chunk's epoch grows with every claim and fences heartbeat, ack, fail
// and release. Deliveries counts claims (a release gives its delivery
// back); failures counts errors reported by Fail. The delivery limit
// (JobQueueSpec.MaxDeliveries) bounds deliveries minus failures: the
// claims that ended with a lost lease rather than an ack or a fail.
package redisqueue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every key when Config.Prefix is empty.
const DefaultPrefix = "fanout"

const (
	// enqueueBatch is the number of chunks one enqueue script call adds.
	enqueueBatch = 1000
	// claimReclaimLimit bounds the expired leases one claim takes back
	// before leasing, keeping the claim script short.
	claimReclaimLimit = 10
	// scanCount is the COUNT hint of the SCAN that Finish runs.
	scanCount = 1000
)

// Config says how to reach Redis and where the queue's keys live.
type Config struct {
	// URL is redis://[user:password@]host:port[/db], or rediss:// for TLS,
	// for one server; redis+cluster://[user:password@]host:port,host:port,...
	// (rediss+cluster:// for TLS) for a Redis Cluster, given by some of its
	// nodes (the client finds the rest), as is go-redis's own form,
	// redis://host:port?addr=host:port&addr=... .
	// The user and password, when given, are sent with AUTH; New fails
	// with an error mentioning AUTH when they are refused, and also when
	// the URL has a password without a user and the server expects none
	// (Redis's "AUTH <password> called without any password configured"),
	// which most likely means the URL names the wrong server. Exactly one
	// of URL and Client is set.
	URL string
	// Prefix starts every key; DefaultPrefix when empty. It must not hold
	// '{' or '}', which would break the per-job hash tags.
	Prefix string
	// Client is an existing client to use instead of URL; the queue does
	// not close it.
	Client redis.UniversalClient
	// PoolSize bounds the connections of the client made from URL (per
	// node of a Cluster); zero leaves go-redis's default, 10 per CPU. A
	// worker uses about two per task in flight (its claims and acks, its
	// heartbeats), and connections are opened only when needed, so the
	// default costs nothing where fewer are used.
	PoolSize int
	// BufferSize is each connection's read and write buffer, in bytes,
	// for the client made from URL; zero means DefaultBufferSize. The
	// URL's pool_size and pipeline_read_buffer_size or
	// pipeline_write_buffer_size parameters win over PoolSize and
	// BufferSize.
	BufferSize int
}

// Sizing of the client made from Config.URL.
const (
	// DefaultBufferSize is a connection's read and write buffer. The
	// queue's requests and replies are a few hundred bytes (the largest,
	// an enqueue of enqueueBatch chunk IDs, some tens of KiB, goes out in
	// a few writes). go-redis's own 32 KiB each way, 128 KiB for its
	// pipeline connections, were 29% of the heap of the scale simulation
	// (docs/scale.md), where every simulated worker holds about four
	// connections, as a worker process or a Lambda invocation does.
	DefaultBufferSize = 4 << 10
	// pipelinePoolSize bounds go-redis's pool of pipeline connections:
	// the queue pipelines only to list jobs.
	pipelinePoolSize = 2
)

// Queue is a fanout.Queue and fanout.QueueAdmin on Redis. It is safe for
// concurrent use.
type Queue struct {
	client redis.UniversalClient
	owned  bool // client was made from Config.URL: Close closes it
	keys   keyspace
	// turn rotates the job that Claim with an empty job tries first.
	turn atomic.Uint64
	// waits are the BLPOPs of WaitForWork calls that returned on their
	// context's end: Close waits for them (each ends when its wait's own
	// list is pushed onto, or within its timeout), so that none finds
	// its client closed under it.
	waits sync.WaitGroup
	// id (random) and waitID, which numbers WaitForWork calls, name each
	// call's own list.
	id     uint64
	waitID atomic.Uint64
}

var (
	_ fanout.Queue            = (*Queue)(nil)
	_ fanout.QueueAdmin       = (*Queue)(nil)
	_ fanout.CommitLeaser     = (*Queue)(nil)
	_ fanout.JobRecorder      = (*Queue)(nil)
	_ fanout.FinishedLister   = (*Queue)(nil)
	_ fanout.TaskCounter      = (*Queue)(nil)
	_ fanout.AckCounter       = (*Queue)(nil)
	_ fanout.AckClaimer       = (*Queue)(nil)
	_ fanout.ExceptClaimer    = (*Queue)(nil)
	_ fanout.WorkWaiter       = (*Queue)(nil)
	_ fanout.DeadLetterPeeker = (*Queue)(nil)
)

// New checks cfg, connects (when cfg.URL is given) and pings Redis, so
// that a wrong address or password fails here.
func New(ctx context.Context, cfg Config) (*Queue, error) {
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("redisqueue: Config.Prefix %q holds '{' or '}', which would break the hash tags", prefix)
	}
	q := &Queue{keys: keyspace{prefix: prefix}, id: rand.Uint64()}
	var password string // from the URL, checked with AUTH
	switch {
	case cfg.URL != "" && cfg.Client != nil:
		return nil, errors.New("redisqueue: Config.URL and Config.Client are both set; set one")
	case cfg.Client != nil:
		q.client = cfg.Client
	case cfg.URL != "":
		if cfg.PoolSize < 0 || cfg.BufferSize < 0 {
			return nil, fmt.Errorf("redisqueue: Config.PoolSize %d and Config.BufferSize %d must not be negative", cfg.PoolSize, cfg.BufferSize)
		}
		c, user, pw, err := dial(cfg.URL, cfg.sizes())
		if err != nil {
			return nil, fmt.Errorf("redisqueue: %w", err)
		}
		q.client = c
		q.owned = true
		password = pw
		if user != "" {
			password = "" // HELLO ... AUTH checked user and password
		}
	default:
		return nil, errors.New("redisqueue: Config.URL or Config.Client is required")
	}
	err := q.client.Ping(ctx).Err()
	if err == nil && password != "" {
		// The client authenticates with HELLO, which a server without a
		// password accepts whatever the password; the legacy AUTH
		// refuses a password the server does not expect, a sign of a
		// URL pointing at the wrong server.
		err = q.client.Do(ctx, "AUTH", password).Err()
	}
	if err == nil && q.owned {
		err = notAClusterNode(ctx, q.client, cfg.URL)
	}
	if err != nil {
		if q.owned {
			err = errors.Join(err, q.client.Close())
		}
		return nil, fmt.Errorf("redisqueue: connect to %s: %w", describe(cfg), authHint(err))
	}
	return q, nil
}

// notAClusterNode refuses a single-server client (redis:// or rediss://)
// of a Redis Cluster node: most keys would fail later with MOVED, far
// from the cause. A server that does not answer INFO (an ACL user
// without it) is taken as it is.
func notAClusterNode(ctx context.Context, c redis.UniversalClient, url string) error {
	if _, single := c.(*redis.Client); !single {
		return nil
	}
	info, err := c.Info(ctx, "cluster").Result()
	if err != nil || !strings.Contains(info, "cluster_enabled:1") {
		return nil
	}
	scheme, rest, _ := strings.Cut(redacted(url), "://")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return fmt.Errorf("Config.URL %s names a node of a Redis Cluster: name the cluster as %s+cluster://%s (its nodes separated by commas)", redacted(url), scheme, rest)
}

// describe names the server of cfg for errors, without the password.
func describe(cfg Config) string {
	if cfg.URL == "" {
		return "Redis (Config.Client)"
	}
	return redacted(cfg.URL)
}

// authHint marks authentication failures as such, since Redis words them
// variously (WRONGPASS, NOAUTH, "AUTH <password> called without any
// password configured").
func authHint(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "AUTH") || strings.Contains(msg, "WRONGPASS") {
		return fmt.Errorf("AUTH failed (check the user and password): %w", err)
	}
	return err
}

// Close waits for the blocking reads of WaitForWork calls that returned
// early (within their timeout) and closes the client when the queue made
// it from Config.URL.
func (q *Queue) Close() error {
	q.waits.Wait()
	if q.owned {
		return q.client.Close()
	}
	return nil
}

// Enqueue registers the job and adds the chunks as pending, in script
// calls of enqueueBatch chunks each. The job joins the jobs set after the
// first batch, so that workers serving every job start on a large job
// while the rest is being added.
func (q *Queue) Enqueue(ctx context.Context, spec fanout.JobQueueSpec, chunks []string) error {
	err := spec.Validate()
	if spec.Job != "" {
		// The hash-tag rule is this queue's own; the rest is every queue's.
		err = errors.Join(err, validateJob(spec.Job))
	}
	if err != nil {
		return fmt.Errorf("redisqueue: %w", err)
	}
	for _, c := range chunks {
		if c == "" {
			return fmt.Errorf("redisqueue: enqueue job %s: empty chunk ID", spec.Job)
		}
	}
	job := spec.Job
	keys := []string{q.keys.spec(job), q.keys.pending(job), q.keys.leases(job), q.keys.dead(job), q.keys.done(job), q.keys.wake(job)}
	head := []any{job, spec.Manifest, int64(spec.Lease), spec.MaxDeliveries, spec.MaxFailures,
		int64(spec.BackoffBase), int64(spec.BackoffMax), spec.Function, spec.FunctionVersion}
	args := make([]any, 0, len(head)+min(len(chunks), enqueueBatch))
	for start := 0; start == 0 || start < len(chunks); start += enqueueBatch {
		batch := chunks[start:min(start+enqueueBatch, len(chunks))]
		args = append(args[:0], head...)
		for _, c := range batch {
			args = append(args, c)
		}
		res, err := q.run(ctx, enqueueScript, keys, args)
		if err != nil {
			return fmt.Errorf("redisqueue: enqueue job %s: %w", job, err)
		}
		if start == 0 {
			if err := q.client.SAdd(ctx, q.keys.jobs(), job).Err(); err != nil {
				return fmt.Errorf("redisqueue: enqueue job %s: register: %w", job, err)
			}
		}
		var added int64
		if err := scan(res[1:], &added); err != nil {
			return fmt.Errorf("redisqueue: enqueue job %s: %w", job, err)
		}
		if err := q.wakeAny(ctx, added); err != nil {
			return fmt.Errorf("redisqueue: enqueue job %s: wake workers: %w", job, err)
		}
	}
	return nil
}

// wakeAny pushes n wake-ups (at most fanout.MaxWakeups kept) onto the
// list workers serving every job wait on, in one round trip.
func (q *Queue) wakeAny(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	n = min(n, fanout.MaxWakeups)
	vals := make([]any, n)
	for i := range vals {
		vals[i] = "1"
	}
	key := q.keys.anyWake()
	_, err := q.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, key, vals...)
		p.LTrim(ctx, key, 0, fanout.MaxWakeups-1)
		p.PExpire(ctx, key, time.Minute)
		return nil
	})
	return err
}

// Claim leases a ready chunk of job, or of any active job when job is
// empty: then the jobs are tried in turn from a starting job that rotates
// with every call, so that each active job gets its share. It returns
// fanout.ErrNoWork when no chunk is ready and fanout.ErrUnknownJob for a
// named job the queue does not know. The claim script checks runs against
// the function and version the job's spec advertises (fanout.Runs.CanRun)
// in the same atomic step: a worker never holds a chunk it cannot run.
func (q *Queue) Claim(ctx context.Context, job, worker string, runs fanout.Runs) (fanout.Lease, error) {
	if worker == "" {
		return fanout.Lease{}, errors.New("redisqueue: claim: empty worker name")
	}
	if job != "" {
		return q.claimJob(ctx, job, worker, runs)
	}
	return q.ClaimExcept(ctx, worker, runs, nil)
}

// ClaimExcept implements fanout.ExceptClaimer: Claim of any job but those
// in except, which are not tried.
func (q *Queue) ClaimExcept(ctx context.Context, worker string, runs fanout.Runs, except []string) (fanout.Lease, error) {
	if worker == "" {
		return fanout.Lease{}, errors.New("redisqueue: claim: empty worker name")
	}
	jobs, err := q.client.SMembers(ctx, q.keys.jobs()).Result()
	if err != nil {
		return fanout.Lease{}, fmt.Errorf("redisqueue: claim: list jobs: %w", err)
	}
	jobs = slices.DeleteFunc(jobs, func(j string) bool { return slices.Contains(except, j) })
	if len(jobs) == 0 {
		return fanout.Lease{}, fanout.ErrNoWork
	}
	slices.Sort(jobs)
	first := int(q.turn.Add(1) % uint64(len(jobs)))
	for i := range jobs {
		l, err := q.claimJob(ctx, jobs[(first+i)%len(jobs)], worker, runs)
		if errors.Is(err, fanout.ErrNoWork) || errors.Is(err, fanout.ErrUnknownJob) {
			// A job finished since SMEMBERS is no longer active.
			continue
		}
		return l, err
	}
	return fanout.Lease{}, fanout.ErrNoWork
}

func (q *Queue) claimJob(ctx context.Context, job, worker string, runs fanout.Runs) (fanout.Lease, error) {
	if err := validateJob(job); err != nil {
		return fanout.Lease{}, fmt.Errorf("redisqueue: claim: %w", err)
	}
	keys := []string{q.keys.spec(job), q.keys.pending(job), q.keys.leases(job), q.keys.dead(job), q.keys.wake(job)}
	res, err := q.run(ctx, claimScript, keys, q.claimArgs(job, worker, runs))
	if err != nil {
		return fanout.Lease{}, fmt.Errorf("redisqueue: claim job %s: %w", job, err)
	}
	return claimed(job, worker, res)
}

// claimArgs are claim.lua's ARGV.
func (q *Queue) claimArgs(job, worker string, runs fanout.Runs) []any {
	args := []any{q.keys.chunkPrefix(job), worker, claimReclaimLimit}
	if runs != nil {
		args = append(args, 1)
		for name, version := range runs {
			args = append(args, name, version)
		}
	}
	return args
}

// claimed reads claim.lua's result.
func claimed(job, worker string, res []any) (fanout.Lease, error) {
	switch code(res) {
	case codeNoWork:
		return fanout.Lease{}, fanout.ErrNoWork
	case codeUnknownJob:
		return fanout.Lease{}, fmt.Errorf("redisqueue: claim job %s: %w", job, fanout.ErrUnknownJob)
	}
	var (
		chunk                           string
		epoch, deadline, deliv, failure int64
	)
	if err := scan(res[1:], &chunk, &epoch, &deadline, &deliv, &failure); err != nil {
		return fanout.Lease{}, fmt.Errorf("redisqueue: claim job %s: %w", job, err)
	}
	return fanout.Lease{
		Job:        job,
		Chunk:      chunk,
		Epoch:      epoch,
		Worker:     worker,
		Expires:    time.UnixMilli(deadline),
		Deliveries: int(deliv),
		Failures:   int(failure),
	}, nil
}

// Heartbeat extends the lease by the job's lease duration from now on
// Redis's clock. A lease past its deadline that no claim or Reclaim took
// back yet can still be extended: no other attempt holds the chunk.
func (q *Queue) Heartbeat(ctx context.Context, l fanout.Lease) (fanout.Lease, error) {
	keys := []string{q.keys.chunk(l.Job, l.Chunk), q.keys.leases(l.Job), q.keys.spec(l.Job)}
	res, err := q.fenced(ctx, "heartbeat", heartbeatScript, l, keys)
	if err != nil {
		return fanout.Lease{}, err
	}
	var deadline int64
	if err := scan(res[1:], &deadline); err != nil {
		return fanout.Lease{}, fmt.Errorf("%s: %w", leaseContext("heartbeat", l), err)
	}
	l.Expires = time.UnixMilli(deadline)
	return l, nil
}

// Ack marks the chunk done. Acking a chunk that is already done succeeds,
// whatever the lease. Acking a backup task completes its chunk; either
// twin's ack forgets the other (fanout.BackupSuffix).
func (q *Queue) Ack(ctx context.Context, l fanout.Lease) error {
	twin := fanout.BackupTask(l.Chunk)
	if base, ok := fanout.BackupOf(l.Chunk); ok {
		twin = base
	}
	keys := []string{q.keys.chunk(l.Job, l.Chunk), q.keys.leases(l.Job), q.keys.done(l.Job), q.keys.spec(l.Job),
		q.keys.chunk(l.Job, twin), q.keys.pending(l.Job), q.keys.dead(l.Job), q.keys.recent(l.Job)}
	_, err := q.fenced(ctx, "ack", ackScript, l, keys, twin, fanout.RecentTasks)
	return err
}

// AckCounted implements fanout.AckCounter: Ack and CountTask in one
// script, so one round trip.
func (q *Queue) AckCounted(ctx context.Context, l fanout.Lease, c fanout.TaskCounts) error {
	twin, task := fanout.BackupTask(l.Chunk), l.Chunk
	if base, ok := fanout.BackupOf(l.Chunk); ok {
		twin, task = base, base
	}
	keys := []string{q.keys.chunk(l.Job, l.Chunk), q.keys.leases(l.Job), q.keys.done(l.Job), q.keys.spec(l.Job),
		q.keys.chunk(l.Job, twin), q.keys.pending(l.Job), q.keys.dead(l.Job), q.keys.recent(l.Job),
		q.keys.counted(l.Job), q.keys.counts(l.Job)}
	_, err := q.fenced(ctx, "ack", ackScript, l, keys, twin, fanout.RecentTasks, task, c.RecordsIn, c.RecordsOut, c.BytesIn)
	return err
}

// AckAndClaim implements fanout.AckClaimer: AckCounted and, when the ack
// succeeded, a claim of the job's next ready chunk, in one script.
func (q *Queue) AckAndClaim(ctx context.Context, l fanout.Lease, c fanout.TaskCounts, runs fanout.Runs) (fanout.Lease, error) {
	twin, task := fanout.BackupTask(l.Chunk), l.Chunk
	if base, ok := fanout.BackupOf(l.Chunk); ok {
		twin, task = base, base
	}
	keys := []string{q.keys.chunk(l.Job, l.Chunk), q.keys.leases(l.Job), q.keys.done(l.Job), q.keys.spec(l.Job),
		q.keys.chunk(l.Job, twin), q.keys.pending(l.Job), q.keys.dead(l.Job), q.keys.recent(l.Job),
		q.keys.counted(l.Job), q.keys.counts(l.Job), q.keys.wake(l.Job)}
	ackArgs := []any{l.Chunk, l.Worker, strconv.FormatInt(l.Epoch, 10), twin, fanout.RecentTasks, task, c.RecordsIn, c.RecordsOut, c.BytesIn}
	args := append(append([]any{len(ackArgs)}, ackArgs...), q.claimArgs(l.Job, l.Worker, runs)...)
	if err := validateJob(l.Job); err != nil {
		return fanout.Lease{}, fmt.Errorf("%s: %w", leaseContext("ack", l), err)
	}
	res, err := q.run(ctx, ackClaimScript, keys, args)
	if err != nil {
		return fanout.Lease{}, fmt.Errorf("%s: %w", leaseContext("ack and claim", l), err)
	}
	switch code(res) {
	case codeOK:
		return claimed(l.Job, l.Worker, res[1:])
	case codeLeaseLost:
		return fanout.Lease{}, fmt.Errorf("%s: %w", leaseContext("ack", l), fanout.ErrLeaseLost)
	case codeUnknownJob:
		return fanout.Lease{}, fmt.Errorf("%s: %w: %w", leaseContext("ack", l), fanout.ErrLeaseLost, fanout.ErrUnknownJob)
	}
	return fanout.Lease{}, fmt.Errorf("%s: unexpected script result %v", leaseContext("ack and claim", l), res)
}

// Fail records a function error: the chunk is dead-lettered when the
// error is permanent or the job's failure limit is reached, and is
// otherwise claimable again after min(BackoffMax,
// BackoffBase*2^(failures-1)) scaled by a random factor in [0.5, 1).
func (q *Queue) Fail(ctx context.Context, l fanout.Lease, reason string, permanent bool) (fanout.FailOutcome, error) {
	perm := "0"
	if permanent {
		perm = "1"
	}
	keys := []string{q.keys.chunk(l.Job, l.Chunk), q.keys.leases(l.Job), q.keys.pending(l.Job), q.keys.dead(l.Job), q.keys.spec(l.Job)}
	res, err := q.fenced(ctx, "fail", failScript, l, keys, reason, perm, strconv.FormatFloat(rand.Float64(), 'f', 6, 64))
	if err != nil {
		return fanout.FailOutcome{}, err
	}
	var dead, ready int64
	if err := scan(res[1:2], &dead); err != nil {
		return fanout.FailOutcome{}, fmt.Errorf("%s: %w", leaseContext("fail", l), err)
	}
	if dead == 1 {
		return fanout.FailOutcome{Dead: true}, nil
	}
	if err := scan(res[2:], &ready); err != nil {
		return fanout.FailOutcome{}, fmt.Errorf("%s: %w", leaseContext("fail", l), err)
	}
	return fanout.FailOutcome{RetryAt: time.UnixMilli(ready)}, nil
}

// Release gives the chunk back, claimable at once, and refunds the
// delivery.
func (q *Queue) Release(ctx context.Context, l fanout.Lease) error {
	keys := []string{q.keys.chunk(l.Job, l.Chunk), q.keys.leases(l.Job), q.keys.pending(l.Job), q.keys.spec(l.Job), q.keys.wake(l.Job)}
	_, err := q.fenced(ctx, "release", releaseScript, l, keys)
	return err
}

// fenced runs one of the scripts fenced on the lease's worker and epoch,
// whose ARGV start with chunk, worker and epoch.
func (q *Queue) fenced(ctx context.Context, op string, s *redis.Script, l fanout.Lease, keys []string, extra ...any) ([]any, error) {
	if err := validateJob(l.Job); err != nil {
		return nil, fmt.Errorf("%s: %w", leaseContext(op, l), err)
	}
	args := append([]any{l.Chunk, l.Worker, strconv.FormatInt(l.Epoch, 10)}, extra...)
	res, err := q.run(ctx, s, keys, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", leaseContext(op, l), err)
	}
	switch code(res) {
	case codeOK:
		return res, nil
	case codeLeaseLost:
		return nil, fmt.Errorf("%s: %w", leaseContext(op, l), fanout.ErrLeaseLost)
	case codeUnknownJob:
		return nil, fmt.Errorf("%s: %w: %w", leaseContext(op, l), fanout.ErrLeaseLost, fanout.ErrUnknownJob)
	}
	return nil, fmt.Errorf("%s: unexpected script result %v", leaseContext(op, l), res)
}

func leaseContext(op string, l fanout.Lease) string {
	return fmt.Sprintf("redisqueue: %s job %s chunk %s epoch %d", op, l.Job, l.Chunk, l.Epoch)
}

// Reclaim takes back every expired lease of the job in one script.
func (q *Queue) Reclaim(ctx context.Context, job string) (int, error) {
	if err := validateJob(job); err != nil {
		return 0, fmt.Errorf("redisqueue: reclaim: %w", err)
	}
	keys := []string{q.keys.spec(job), q.keys.pending(job), q.keys.leases(job), q.keys.dead(job), q.keys.wake(job)}
	return q.count(ctx, "reclaim", job, reclaimScript, keys, q.keys.chunkPrefix(job))
}

// Redrive moves the job's dead-lettered chunks back to pending with their
// deliveries and failures reset.
func (q *Queue) Redrive(ctx context.Context, job string) (int, error) {
	if err := validateJob(job); err != nil {
		return 0, fmt.Errorf("redisqueue: redrive: %w", err)
	}
	keys := []string{q.keys.spec(job), q.keys.pending(job), q.keys.dead(job), q.keys.wake(job)}
	return q.count(ctx, "redrive", job, redriveScript, keys, q.keys.chunkPrefix(job))
}

// Activity lists the job's leased tasks, longest running first, with the
// durations of the last acked ones, newest first.
func (q *Queue) Activity(ctx context.Context, job string) (fanout.Activity, error) {
	if err := validateJob(job); err != nil {
		return fanout.Activity{}, fmt.Errorf("redisqueue: activity: %w", err)
	}
	keys := []string{q.keys.spec(job), q.keys.leases(job), q.keys.recent(job)}
	res, err := q.runRO(ctx, activityScript, keys, []any{q.keys.chunkPrefix(job), fanout.RecentTasks})
	if err != nil {
		return fanout.Activity{}, fmt.Errorf("redisqueue: activity of job %s: %w", job, err)
	}
	if code(res) == codeUnknownJob {
		return fanout.Activity{}, fmt.Errorf("redisqueue: activity of job %s: %w", job, fanout.ErrUnknownJob)
	}
	bad := fmt.Errorf("redisqueue: activity of job %s: unexpected script result %v", job, res)
	if len(res) != 3 {
		return fanout.Activity{}, bad
	}
	running, ok1 := res[1].([]any)
	recent, ok2 := res[2].([]any)
	if !ok1 || !ok2 || len(running)%4 != 0 {
		return fanout.Activity{}, bad
	}
	var a fanout.Activity
	for i := 0; i < len(running); i += 4 {
		task, _ := running[i].(string)
		worker, _ := running[i+1].(string)
		epoch, _ := running[i+2].(int64)
		ms, _ := running[i+3].(int64)
		a.Running = append(a.Running, fanout.RunningTask{Chunk: task, Worker: worker, Epoch: epoch, Running: time.Duration(ms) * time.Millisecond})
	}
	slices.SortStableFunc(a.Running, func(x, y fanout.RunningTask) int {
		if c := cmp.Compare(y.Running, x.Running); c != 0 {
			return c
		}
		return strings.Compare(x.Chunk, y.Chunk)
	})
	for _, v := range recent {
		s, _ := v.(string)
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fanout.Activity{}, bad
		}
		a.Recent = append(a.Recent, time.Duration(ms)*time.Millisecond)
	}
	return a, nil
}

// Backup adds chunk's backup task, claimable now, when chunk is running
// and has none.
func (q *Queue) Backup(ctx context.Context, job, chunk string) (bool, error) {
	if err := validateJob(job); err != nil {
		return false, fmt.Errorf("redisqueue: backup: %w", err)
	}
	if _, backup := fanout.BackupOf(chunk); backup || chunk == "" {
		return false, fmt.Errorf("redisqueue: backup of job %s: %q is not a chunk ID", job, chunk)
	}
	task := fanout.BackupTask(chunk)
	keys := []string{q.keys.spec(job), q.keys.pending(job), q.keys.leases(job), q.keys.chunk(job, task), q.keys.chunk(job, chunk), q.keys.wake(job)}
	n, err := q.count(ctx, "backup", job, backupScript, keys, chunk, task)
	return n == 1, err
}

// count runs a script whose result is {OK, n} or {UNKNOWN_JOB}.
func (q *Queue) count(ctx context.Context, op, job string, s *redis.Script, keys []string, args ...any) (int, error) {
	res, err := q.run(ctx, s, keys, args)
	if err != nil {
		return 0, fmt.Errorf("redisqueue: %s job %s: %w", op, job, err)
	}
	if code(res) == codeUnknownJob {
		return 0, fmt.Errorf("redisqueue: %s job %s: %w", op, job, fanout.ErrUnknownJob)
	}
	var n int64
	if err := scan(res[1:], &n); err != nil {
		return 0, fmt.Errorf("redisqueue: %s job %s: %w", op, job, err)
	}
	return int(n), nil
}

// Stats counts the job's chunks by state in one consistent read. Leases
// past their deadline count as running until taken back.
func (q *Queue) Stats(ctx context.Context, job string) (fanout.QueueStats, error) {
	if err := validateJob(job); err != nil {
		return fanout.QueueStats{}, fmt.Errorf("redisqueue: stats: %w", err)
	}
	keys := []string{q.keys.spec(job), q.keys.pending(job), q.keys.leases(job), q.keys.done(job), q.keys.dead(job), q.keys.counts(job)}
	res, err := q.runRO(ctx, statsScript, keys, nil)
	if err != nil {
		return fanout.QueueStats{}, fmt.Errorf("redisqueue: stats job %s: %w", job, err)
	}
	if code(res) == codeUnknownJob {
		return fanout.QueueStats{}, fmt.Errorf("redisqueue: stats job %s: %w", job, fanout.ErrUnknownJob)
	}
	var pending, running, done, dead, retrying, recIn, recOut, bytesIn int64
	if err := scan(res[1:], &pending, &running, &done, &dead, &retrying, &recIn, &recOut, &bytesIn); err != nil {
		return fanout.QueueStats{}, fmt.Errorf("redisqueue: stats job %s: %w", job, err)
	}
	return fanout.QueueStats{
		Pending:    int(pending),
		Running:    int(running),
		Done:       int(done),
		Dead:       int(dead),
		Retrying:   int(retrying),
		RecordsIn:  recIn,
		RecordsOut: recOut,
		BytesIn:    bytesIn,
	}, nil
}

// CountTask implements fanout.TaskCounter: one script adds the counts
// and remembers the task in the job's counted set.
func (q *Queue) CountTask(ctx context.Context, job, task string, c fanout.TaskCounts) error {
	if err := validateJob(job); err != nil {
		return fmt.Errorf("redisqueue: count: %w", err)
	}
	keys := []string{q.keys.spec(job), q.keys.counted(job), q.keys.counts(job)}
	_, err := q.count(ctx, "count task "+task+" of", job, countScript, keys, task, c.RecordsIn, c.RecordsOut, c.BytesIn)
	return err
}

// DeadLetters lists the job's dead-lettered chunks, sorted by chunk ID.
func (q *Queue) DeadLetters(ctx context.Context, job string) ([]fanout.DeadLetter, error) {
	return q.deadLetters(ctx, job, 0)
}

// PeekDeadLetters implements fanout.DeadLetterPeeker: at most n of the
// job's dead letters (those an HSCAN finds first), sorted by chunk ID.
func (q *Queue) PeekDeadLetters(ctx context.Context, job string, n int) ([]fanout.DeadLetter, error) {
	if n <= 0 {
		return nil, fmt.Errorf("redisqueue: dead letters of job %s: n is %d, want at least 1", job, n)
	}
	return q.deadLetters(ctx, job, n)
}

// deadLetters lists at most n of the job's dead letters (0: every one).
func (q *Queue) deadLetters(ctx context.Context, job string, n int) ([]fanout.DeadLetter, error) {
	if err := validateJob(job); err != nil {
		return nil, fmt.Errorf("redisqueue: dead letters: %w", err)
	}
	keys := []string{q.keys.spec(job), q.keys.dead(job)}
	res, err := q.runRO(ctx, deadLettersScript, keys, []any{q.keys.chunkPrefix(job), n})
	if err != nil {
		return nil, fmt.Errorf("redisqueue: dead letters of job %s: %w", job, err)
	}
	if code(res) == codeUnknownJob {
		return nil, fmt.Errorf("redisqueue: dead letters of job %s: %w", job, fanout.ErrUnknownJob)
	}
	res = res[1:]
	if len(res)%4 != 0 {
		return nil, fmt.Errorf("redisqueue: dead letters of job %s: unexpected script result of %d values", job, len(res))
	}
	out := make([]fanout.DeadLetter, 0, len(res)/4)
	for i := 0; i < len(res); i += 4 {
		var d fanout.DeadLetter
		var deliv, failures int64
		if err := scan(res[i:i+4], &d.Chunk, &d.Reason, &deliv, &failures); err != nil {
			return nil, fmt.Errorf("redisqueue: dead letters of job %s: %w", job, err)
		}
		d.Deliveries, d.Failures = int(deliv), int(failures)
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b fanout.DeadLetter) int { return strings.Compare(a.Chunk, b.Chunk) })
	return out, nil
}

// Jobs lists the active jobs' specs, sorted by job ID.
func (q *Queue) Jobs(ctx context.Context) ([]fanout.JobQueueSpec, error) {
	jobs, err := q.client.SMembers(ctx, q.keys.jobs()).Result()
	if err != nil {
		return nil, fmt.Errorf("redisqueue: list jobs: %w", err)
	}
	slices.Sort(jobs)
	cmds := make([]*redis.MapStringStringCmd, len(jobs))
	_, err = q.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, job := range jobs {
			cmds[i] = p.HGetAll(ctx, q.keys.spec(job))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisqueue: list jobs: %w", err)
	}
	specs := make([]fanout.JobQueueSpec, 0, len(jobs))
	for i, cmd := range cmds {
		h := cmd.Val()
		if len(h) == 0 {
			continue // finished since SMEMBERS
		}
		spec, err := parseSpec(h)
		if err != nil {
			return nil, fmt.Errorf("redisqueue: list jobs: job %s: %w", jobs[i], err)
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// WaitForWork implements fanout.WorkWaiter: a BLPOP on the job's wake
// list (scripts that make chunks claimable push onto it), or with job
// empty on the any-job wake list (Enqueue pushes onto it). A timeout of a
// second or more is rounded to whole seconds; a shorter one is kept to the
// millisecond (Redis takes fractions of seconds since 6.0). It returns as
// soon as ctx ends. go-redis does not cut a blocking read short, so the
// BLPOP also waits on a list of this wait's own (in the same hash slot),
// onto which a wait whose ctx ended pushes: the BLPOP then ends at once
// instead of at its timeout, which Close would wait for.
func (q *Queue) WaitForWork(ctx context.Context, job string, timeout time.Duration) error {
	key := q.keys.anyWake()
	if job != "" {
		if err := validateJob(job); err != nil {
			return fmt.Errorf("redisqueue: wait for work: %w", err)
		}
		key = q.keys.wake(job)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	own := q.keys.ownWake(key, q.id, q.waitID.Add(1))
	done := make(chan error, 1)
	q.waits.Add(1)
	go func() {
		defer q.waits.Done()
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout+10*time.Second)
		defer cancel()
		var err error
		if timeout >= time.Second {
			err = q.client.BLPop(bctx, timeout.Round(time.Second), key, own).Err()
		} else {
			// go-redis's BLPop counts whole seconds (one at least); a
			// worker serving every job waits as long as it would poll.
			secs := strconv.FormatFloat(max(timeout, time.Millisecond).Seconds(), 'f', 3, 64)
			err = q.client.Do(bctx, "blpop", key, own, secs).Err()
		}
		if errors.Is(err, redis.Nil) {
			err = nil // timed out
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && job == "" {
			return fmt.Errorf("redisqueue: wait for work of any job: %w", err)
		} else if err != nil {
			return fmt.Errorf("redisqueue: wait for work of job %s: %w", job, err)
		}
		return nil
	case <-ctx.Done():
		// End the BLPOP now. Pushed after it ended (timed out, woken),
		// the wake-up is left to expire.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		q.client.Pipelined(wctx, func(p redis.Pipeliner) error { // best effort: else it ends at its timeout
			p.LPush(wctx, own, "1")
			p.PExpire(wctx, own, time.Minute)
			return nil
		})
		return ctx.Err()
	}
}

// Finish removes the job from the jobs set, deletes its spec (from then on
// every script sees an unknown job and writes nothing) and then every
// other key of the job, found by SCAN on the job's key prefix. Finishing
// an unknown job does nothing.
func (q *Queue) Finish(ctx context.Context, job string) error {
	if err := validateJob(job); err != nil {
		return fmt.Errorf("redisqueue: finish: %w", err)
	}
	if err := q.client.SRem(ctx, q.keys.jobs(), job).Err(); err != nil {
		return fmt.Errorf("redisqueue: finish job %s: %w", job, err)
	}
	if err := q.client.Del(ctx, q.keys.spec(job)).Err(); err != nil {
		return fmt.Errorf("redisqueue: finish job %s: %w", job, err)
	}
	if err := q.client.ZRem(ctx, q.keys.finishedIndex(), job).Err(); err != nil {
		return fmt.Errorf("redisqueue: finish job %s: %w", job, err)
	}
	pattern := q.keys.jobPattern(job)
	var err error
	if cc, ok := q.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return deleteMatching(ctx, c, pattern)
		})
	} else {
		err = deleteMatching(ctx, q.client, pattern)
	}
	if err != nil {
		return fmt.Errorf("redisqueue: finish job %s: delete keys: %w", job, err)
	}
	return nil
}

// RecordFinished implements fanout.JobRecorder: one key holding the
// record as JSON, expiring on Redis's clock.
func (q *Queue) RecordFinished(ctx context.Context, rec fanout.FinishedJob, ttl time.Duration) error {
	if err := validateJob(rec.Job); err != nil {
		return fmt.Errorf("redisqueue: record finished job: %w", err)
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("redisqueue: record finished job %s: ttl %v is under 1ms", rec.Job, ttl)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("redisqueue: record finished job %s: %w", rec.Job, err)
	}
	if err := q.client.Set(ctx, q.keys.finished(rec.Job), b, ttl).Err(); err != nil {
		return fmt.Errorf("redisqueue: record finished job %s: %w", rec.Job, err)
	}
	// The index only orders and finds records; each record's own key, expiring
	// on Redis's clock, says whether it is still there.
	if err := q.client.ZAdd(ctx, q.keys.finishedIndex(), redis.Z{Score: float64(time.Now().UnixMilli()), Member: rec.Job}).Err(); err != nil {
		return fmt.Errorf("redisqueue: record finished job %s: index: %w", rec.Job, err)
	}
	return nil
}

// finishedListed bounds the records RecentFinished returns.
const finishedListed = 1000

// RecentFinished implements fanout.FinishedLister: the index's newest
// jobs whose record has not expired; expired ones leave the index.
func (q *Queue) RecentFinished(ctx context.Context) ([]fanout.FinishedJob, error) {
	jobs, err := q.client.ZRevRange(ctx, q.keys.finishedIndex(), 0, finishedListed-1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisqueue: recent finished jobs: %w", err)
	}
	cmds := make([]*redis.StringCmd, len(jobs))
	_, err = q.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, job := range jobs {
			cmds[i] = p.Get(ctx, q.keys.finished(job))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisqueue: recent finished jobs: %w", err)
	}
	var out []fanout.FinishedJob
	var gone []any
	for i, cmd := range cmds {
		b, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			gone = append(gone, jobs[i])
			continue
		}
		var rec fanout.FinishedJob
		if err != nil || json.Unmarshal(b, &rec) != nil {
			continue
		}
		out = append(out, rec)
	}
	if len(gone) > 0 {
		q.client.ZRem(ctx, q.keys.finishedIndex(), gone...) // best effort: the next listing tries again
	}
	return out, nil
}

// Finished implements fanout.JobRecorder.
func (q *Queue) Finished(ctx context.Context, job string) (fanout.FinishedJob, error) {
	if err := validateJob(job); err != nil {
		return fanout.FinishedJob{}, fmt.Errorf("redisqueue: finished job: %w", err)
	}
	b, err := q.client.Get(ctx, q.keys.finished(job)).Bytes()
	if errors.Is(err, redis.Nil) {
		return fanout.FinishedJob{}, fmt.Errorf("redisqueue: finished job %s: %w", job, fanout.ErrUnknownJob)
	}
	if err != nil {
		return fanout.FinishedJob{}, fmt.Errorf("redisqueue: finished job %s: %w", job, err)
	}
	var rec fanout.FinishedJob
	if err := json.Unmarshal(b, &rec); err != nil {
		return fanout.FinishedJob{}, fmt.Errorf("redisqueue: finished job %s: bad record: %w", job, err)
	}
	return rec, nil
}

// ShareCommitProgress implements fanout.CommitProgressSharer: a key
// expiring on Redis's clock, deleted when p's Step is empty.
func (q *Queue) ShareCommitProgress(ctx context.Context, job string, p fanout.CommitProgress, ttl time.Duration) error {
	if err := validateJob(job); err != nil {
		return fmt.Errorf("redisqueue: share commit progress: %w", err)
	}
	if p.Step == "" {
		if err := q.client.Del(ctx, q.keys.commitProgress(job)).Err(); err != nil {
			return fmt.Errorf("redisqueue: drop the commit progress of job %s: %w", job, err)
		}
		return nil
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("redisqueue: share the commit progress of job %s: want a ttl of at least 1ms", job)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("redisqueue: share the commit progress of job %s: %w", job, err)
	}
	if err := q.client.Set(ctx, q.keys.commitProgress(job), b, ttl).Err(); err != nil {
		return fmt.Errorf("redisqueue: share the commit progress of job %s: %w", job, err)
	}
	return nil
}

// SharedCommitProgress implements fanout.CommitProgressSharer.
func (q *Queue) SharedCommitProgress(ctx context.Context, job string) (fanout.CommitProgress, bool, error) {
	if err := validateJob(job); err != nil {
		return fanout.CommitProgress{}, false, fmt.Errorf("redisqueue: shared commit progress: %w", err)
	}
	b, err := q.client.Get(ctx, q.keys.commitProgress(job)).Bytes()
	if errors.Is(err, redis.Nil) {
		return fanout.CommitProgress{}, false, nil
	}
	if err != nil {
		return fanout.CommitProgress{}, false, fmt.Errorf("redisqueue: shared commit progress of job %s: %w", job, err)
	}
	var p fanout.CommitProgress
	if err := json.Unmarshal(b, &p); err != nil {
		return fanout.CommitProgress{}, false, fmt.Errorf("redisqueue: shared commit progress of job %s: bad value: %w", job, err)
	}
	return p, true, nil
}

// LeaseCommit implements fanout.CommitLeaser: the lease is a key expiring
// on Redis's clock, holding the holder's name.
func (q *Queue) LeaseCommit(ctx context.Context, job, holder string, ttl time.Duration) (bool, error) {
	if err := validateJob(job); err != nil {
		return false, fmt.Errorf("redisqueue: lease commit: %w", err)
	}
	if holder == "" || ttl < time.Millisecond {
		return false, fmt.Errorf("redisqueue: lease commit of job %s: want a holder and a ttl of at least 1ms", job)
	}
	res, err := q.run(ctx, leaseCommitScript, []string{q.keys.commit(job)}, []any{holder, ttl.Milliseconds()})
	if err != nil {
		return false, fmt.Errorf("redisqueue: lease commit of job %s: %w", job, err)
	}
	var held int64
	if err := scan(res[1:], &held); err != nil {
		return false, fmt.Errorf("redisqueue: lease commit of job %s: %w", job, err)
	}
	return held == 1, nil
}

// ReleaseCommit implements fanout.CommitLeaser.
func (q *Queue) ReleaseCommit(ctx context.Context, job, holder string) error {
	if err := validateJob(job); err != nil {
		return fmt.Errorf("redisqueue: release commit: %w", err)
	}
	if _, err := q.run(ctx, releaseCommitScript, []string{q.keys.commit(job)}, []any{holder}); err != nil {
		return fmt.Errorf("redisqueue: release the commit lease of job %s: %w", job, err)
	}
	return nil
}

// deleteMatching unlinks every key matching pattern on one server.
func deleteMatching(ctx context.Context, c redis.Cmdable, pattern string) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, scanCount).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func (q *Queue) run(ctx context.Context, s *redis.Script, keys []string, args []any) ([]any, error) {
	return result(s.Run(ctx, q.client, keys, args...))
}

func (q *Queue) runRO(ctx context.Context, s *redis.Script, keys []string, args []any) ([]any, error) {
	return result(s.RunRO(ctx, q.client, keys, args...))
}

func result(cmd *redis.Cmd) ([]any, error) {
	v, err := cmd.Result()
	if err != nil {
		return nil, err
	}
	res, ok := v.([]any)
	if !ok || len(res) == 0 {
		return nil, fmt.Errorf("unexpected script result %v", v)
	}
	return res, nil
}

// code is the status code that starts every script's result.
func code(res []any) int64 {
	c, _ := res[0].(int64)
	return c
}

// scan copies script result values into strings and int64s.
func scan(vals []any, dst ...any) error {
	if len(vals) < len(dst) {
		return fmt.Errorf("unexpected script result: %d values, want %d", len(vals), len(dst))
	}
	for i, d := range dst {
		switch d := d.(type) {
		case *string:
			s, ok := vals[i].(string)
			if !ok {
				return fmt.Errorf("unexpected script result: value %d is %T, want a string", i, vals[i])
			}
			*d = s
		case *int64:
			n, ok := vals[i].(int64)
			if !ok {
				return fmt.Errorf("unexpected script result: value %d is %T, want an integer", i, vals[i])
			}
			*d = n
		default:
			panic(fmt.Sprintf("redisqueue: scan into %T", d))
		}
	}
	return nil
}

// parseSpec reads a spec hash written by enqueue.lua.
func parseSpec(h map[string]string) (fanout.JobQueueSpec, error) {
	var errs []error
	num := func(field string) int64 {
		n, err := strconv.ParseInt(h[field], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("spec field %s: %w", field, err))
		}
		return n
	}
	spec := fanout.JobQueueSpec{
		Job:           h["job"],
		Manifest:      h["manifest"],
		Lease:         time.Duration(num("lease_ns")),
		MaxDeliveries: int(num("max_deliveries")),
		MaxFailures:   int(num("max_failures")),
		BackoffBase:   time.Duration(num("backoff_base_ns")),
		BackoffMax:    time.Duration(num("backoff_max_ns")),
		// Absent in the spec of a job enqueued before jobs named their
		// function: any worker claims it.
		Function:        h["function"],
		FunctionVersion: h["function_version"],
	}
	return spec, errors.Join(errs...)
}

// validateJob rejects job IDs that cannot be part of a hash-tagged key.
func validateJob(job string) error {
	if job == "" {
		return errors.New("empty job ID")
	}
	if strings.ContainsAny(job, "{}") {
		return fmt.Errorf("job ID %q holds '{' or '}', which would break the hash tags", job)
	}
	return nil
}
