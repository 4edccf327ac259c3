package redisqueue

import (
	"strconv"
	"strings"
)

// keyspace builds every Redis key redisqueue uses; no key is spelled
// anywhere else. All the keys of one job share the hash tag {<job>}, so
// that each script, which touches one job only, is Redis Cluster safe.
// The jobs set, the finished index and the any-job wake list are the only
// keys outside a job's slot; no script touches them.
type keyspace struct {
	prefix string
}

// jobs is the set of active job IDs: <prefix>:jobs.
func (k keyspace) jobs() string { return k.prefix + ":jobs" }

// job is the start of every key of the job: <prefix>:{<job>}.
func (k keyspace) job(job string) string { return k.prefix + ":{" + job + "}" }

// spec is the job's JobQueueSpec, a hash: <prefix>:{<job>}:spec.
func (k keyspace) spec(job string) string { return k.job(job) + ":spec" }

// pending is the sorted set of chunks waiting to be claimed, scored by the
// time (ms) they become ready: <prefix>:{<job>}:pending.
func (k keyspace) pending(job string) string { return k.job(job) + ":pending" }

// leases is the sorted set of leased chunks, scored by lease deadline
// (ms): <prefix>:{<job>}:leases.
func (k keyspace) leases(job string) string { return k.job(job) + ":leases" }

// dead is the hash of dead-lettered chunks to reasons:
// <prefix>:{<job>}:dead.
func (k keyspace) dead(job string) string { return k.job(job) + ":dead" }

// done is the set of acked chunks: <prefix>:{<job>}:done.
func (k keyspace) done(job string) string { return k.job(job) + ":done" }

// recent is the list of the durations (ms) of the most recently acked
// tasks, newest first: <prefix>:{<job>}:recent.
func (k keyspace) recent(job string) string { return k.job(job) + ":recent" }

// wake is the list a worker bound to the job waits on (BLPOP) while the
// job has nothing to claim: scripts that make chunks claimable push a
// wake-up per chunk (at most fanout.MaxWakeups kept, expiring after a
// minute): <prefix>:{<job>}:wake.
func (k keyspace) wake(job string) string { return k.job(job) + ":wake" }

// anyWake is the list workers serving every job wait on (BLPOP) while no
// job has anything to claim: Enqueue pushes a wake-up per chunk it added
// (at most fanout.MaxWakeups kept, expiring after a minute); the scripts,
// confined to one job's slot, cannot: <prefix>:wake.
func (k keyspace) anyWake() string { return k.prefix + ":wake" }

// ownWake is the list of one WaitForWork call (the n-th of the queue
// whose random ID is id) on the wake list key, in key's hash slot:
// <prefix>:{<job>}:wake:<id>-<n>, or {<prefix>:wake}:<id>-<n> for the
// any-job list (whose slot is that of its whole name). Pushed onto when
// the wait's context ends, it ends the wait's BLPOP; it expires a minute
// later.
func (k keyspace) ownWake(key string, id, n uint64) string {
	own := strconv.FormatUint(id, 36) + "-" + strconv.FormatUint(n, 10)
	if strings.Contains(key, "{") {
		return key + ":" + own
	}
	return "{" + key + "}:" + own
}

// commit holds the name of the holder of the job's commit lease, expiring
// with the lease (see fanout.CommitLeaser): <prefix>:{<job>}:commit.
func (k keyspace) commit(job string) string { return k.job(job) + ":commit" }

// commitProgress is how far the job's commit has got
// (fanout.CommitProgress as JSON, fanout.CommitProgressSharer), expiring
// unless the committer shares it again: <prefix>:{<job>}:commitprogress.
func (k keyspace) commitProgress(job string) string { return k.job(job) + ":commitprogress" }

// counted is the set of tasks whose counts were added (fanout.TaskCounter):
// <prefix>:{<job>}:counted.
func (k keyspace) counted(job string) string { return k.job(job) + ":counted" }

// counts is the hash of the job's summed counts (records_in, records_out,
// bytes_in): <prefix>:{<job>}:counts.
func (k keyspace) counts(job string) string { return k.job(job) + ":counts" }

// finished is the record of a finished job (fanout.FinishedJob as JSON),
// expiring after its TTL: <prefix>:{<job>}:finished.
func (k keyspace) finished(job string) string { return k.job(job) + ":finished" }

// finishedIndex is the sorted set of jobs with a finished record, scored
// by when it was written (ms): <prefix>:finished. Like jobs, it lies
// outside every job's slot, and no script touches it.
func (k keyspace) finishedIndex() string { return k.prefix + ":finished" }

// chunkPrefix is what a chunk's ID is appended to for its hash; scripts
// that find chunks in a set get it as an argument.
func (k keyspace) chunkPrefix(job string) string { return k.job(job) + ":chunk:" }

// chunk is the chunk's hash (epoch, worker, deliveries, failures, state,
// reason, deadline): <prefix>:{<job>}:chunk:<chunk>.
func (k keyspace) chunk(job, chunk string) string { return k.chunkPrefix(job) + chunk }

// jobPattern is a SCAN pattern matching every key of the job.
func (k keyspace) jobPattern(job string) string { return globEscape(k.job(job)) + ":*" }

// globEscape quotes the characters special to Redis glob patterns.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
