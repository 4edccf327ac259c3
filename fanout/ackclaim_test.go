package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// claimCounter is a worker's queue that counts the chunks it got from a
// claim of its own and from an ack that claimed (fanout.AckClaimer).
type claimCounter struct {
	fanout.Queue
	claimed, ackClaimed atomic.Int64
	acked               atomic.Int64 // acks that succeeded, alone or claiming
}

func (c *claimCounter) Claim(ctx context.Context, job, worker string, runs fanout.Runs) (fanout.Lease, error) {
	l, err := c.Queue.Claim(ctx, job, worker, runs)
	if err == nil {
		c.claimed.Add(1)
	}
	return l, err
}

func (c *claimCounter) AckCounted(ctx context.Context, l fanout.Lease, n fanout.TaskCounts) error {
	err := c.Queue.(fanout.AckCounter).AckCounted(ctx, l, n)
	if err == nil {
		c.acked.Add(1)
	}
	return err
}

func (c *claimCounter) AckAndClaim(ctx context.Context, l fanout.Lease, n fanout.TaskCounts, runs fanout.Runs) (fanout.Lease, error) {
	next, err := c.Queue.(fanout.AckClaimer).AckAndClaim(ctx, l, n, runs)
	if err == nil {
		c.ackClaimed.Add(1)
	}
	if err == nil || errors.Is(err, fanout.ErrNoWork) {
		c.acked.Add(1)
	}
	return next, err
}

// chunkIndexOf is the index of the chunk that reads object in/part-<i>.jsonl
// (newFaultRig's objects, one chunk each) or writes marker <chunk>.json.
func chunkIndexOf(t *testing.T, name string) int {
	t.Helper()
	if i, err := manifest.ChunkIndex(strings.TrimSuffix(path.Base(name), ".json")); err == nil {
		return i
	}
	var i int
	if _, err := fmt.Sscanf(path.Base(name), "part-%d.jsonl", &i); err != nil {
		t.Errorf("%s names no chunk: %v", name, err)
	}
	return i
}

// TestAckWaitsToClaimTheNextChunk runs a job on one worker slot (MinIO,
// Redis) whose chunks publish before the next one has computed: a chunk's
// function returns only once the marker of the chunk that ran before it
// (claims come in a spread order, not by index) is written, so that the
// one before comes to its ack while the slot still runs the next. The ack
// waits until the slot needs its next chunk and claims it: only the
// first two chunks come from claims of their own. Before, such an ack
// went alone and the slot claimed each chunk itself, a round trip more a
// chunk (4 chunks in 10 in the scale simulation). Every chunk is
// committed once.
func TestAckWaitsToClaimTheNextChunk(t *testing.T) {
	const chunks = 10
	r := newFaultRig(t, chunks, 50)
	var marked [chunks]atomic.Bool
	var last atomic.Int64 // the index of the chunk whose function ran before, -1 at first
	last.Store(-1)
	reg := registryWith(copyFn{hook: func(ctx context.Context, first *functions.Record) error {
		p := last.Swap(int64(chunkIndexOf(t, first.Object)))
		deadline := time.Now().Add(30 * time.Second)
		for p >= 0 && !marked[p].Load() && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		return nil
	}})
	spec := r.spec("out/", 30*time.Second, "copy")
	info, err := r.engine(engineOptions{name: "planner", functions: reg}).Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	counter := &claimCounter{}
	e := r.engine(engineOptions{name: "worker", functions: reg,
		queue: func(q fanout.Queue) fanout.Queue { counter.Queue = q; return counter },
		store: func(b objstore.Bucket) objstore.Bucket {
			return &afterPut{Bucket: b, keepUploads: uploadsOf(b), after: func(key string) {
				if strings.Contains(key, "/_fanout/"+info.Job+"/chunks/") {
					marked[chunkIndexOf(t, key)].Store(true)
				}
			}}
		}})
	stop := work(t, e, info.Job, 1, nil)
	res, err := e.Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{})
	stop()
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("run: %v, %+v", err, res)
	}
	r.check("out/", info.Job)
	got, gotAck := counter.claimed.Load(), counter.ackClaimed.Load()
	if got+gotAck < chunks {
		t.Fatalf("%d chunks claimed and %d by acks, want %d in all", got, gotAck, chunks)
	}
	// The first chunk, and the second, claimed when the first has
	// computed; one more where a wait ran past its bound on a loaded
	// machine (a second).
	if got > 3 {
		t.Errorf("%d chunks came from claims of their own and %d from acks that claimed; want 2 and %d", got, gotAck, chunks-2)
	}
}

// TestAckWaitIsBounded runs a job on one worker slot whose functions
// each return only once the chunk that ran before it is acked: an ack that waited for
// the slot to need its next chunk would wait for ever. It waits a bounded
// time (at most a second), then acks alone: the job commits exactly, and
// no function waited until its deadline.
func TestAckWaitIsBounded(t *testing.T) {
	const chunks = 4
	r := newFaultRig(t, chunks, 20)
	counter := &claimCounter{}
	var timedOut, ran atomic.Int64
	reg := registryWith(copyFn{hook: func(ctx context.Context, first *functions.Record) error {
		i := ran.Add(1) - 1 // the functions that ran before this one
		deadline := time.Now().Add(20 * time.Second)
		for counter.acked.Load() < i && ctx.Err() == nil {
			if time.Now().After(deadline) {
				timedOut.Add(1)
				break
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	}})
	spec := r.spec("out/", 30*time.Second, "copy")
	info, err := r.engine(engineOptions{name: "planner", functions: reg}).Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	e := r.engine(engineOptions{name: "worker", functions: reg,
		queue: func(q fanout.Queue) fanout.Queue { counter.Queue = q; return counter }})
	stop := work(t, e, info.Job, 1, nil)
	res, err := e.Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{})
	stop()
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("run: %v, %+v", err, res)
	}
	r.check("out/", info.Job)
	if n := timedOut.Load(); n > 0 {
		t.Errorf("%d functions waited 20 s for the ack of the chunk before theirs; want none (the ack waits a second at most)", n)
	}
}

// TestAckOfAChunkPublishingBehindClaimsTheNext runs a job on one worker
// slot (MinIO, Redis) whose chunks publish behind the next one's run
// (b340ee9): each chunk's marker write waits until the next chunk's
// function has returned, so that the slot always waits for the chunk
// publishing behind before it can go on (as when uploads take longer
// than functions: the scale simulation's 20 ms tasks against S3's
// latency). That chunk's ack then claims the
// slot's next chunk, one round trip instead of an ack and a claim: only
// the first two chunks come from claims of their own (before, every chunk
// did). Every chunk is committed once.
func TestAckOfAChunkPublishingBehindClaimsTheNext(t *testing.T) {
	const chunks = 8
	r := newFaultRig(t, chunks, 50)
	// mapped counts the chunks whose function returned; mappedAt holds
	// that count as each chunk's function returned, by the chunk's
	// object (chunk i reads in/part-<i>.jsonl).
	var mapped atomic.Int64
	var mappedAt sync.Map
	reg := registryWith(copyFn{hook: func(_ context.Context, first *functions.Record) error {
		mappedAt.Store(first.Object, mapped.Add(1))
		return nil
	}})
	spec := r.spec("out/", 30*time.Second, "copy")
	info, err := r.engine(engineOptions{name: "planner", functions: reg}).Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	counter := &claimCounter{}
	e := r.engine(engineOptions{name: "worker", functions: reg,
		queue: func(q fanout.Queue) fanout.Queue { counter.Queue = q; return counter },
		store: func(b objstore.Bucket) objstore.Bucket {
			return withUploads(b, &ctxStore{Bucket: b, put: func(ctx context.Context, key string, _ *objstore.PutOptions) (context.Context, error) {
				if !strings.Contains(key, "/_fanout/"+info.Job+"/chunks/") {
					return ctx, nil
				}
				// A chunk's marker waits until another chunk's function
				// has returned since its own did (none for the job's last).
				i, err := manifest.ChunkIndex(strings.TrimSuffix(path.Base(key), ".json"))
				if err != nil {
					return ctx, err
				}
				at, _ := mappedAt.Load(fmt.Sprintf("in/part-%02d.jsonl", i))
				deadline := time.Now().Add(30 * time.Second)
				for n, _ := at.(int64); mapped.Load() <= n && n < chunks && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				return ctx, nil
			}})
		}})
	stop := work(t, e, info.Job, 1, nil)
	res, err := e.Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{})
	stop()
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("run: %v, %+v", err, res)
	}
	r.check("out/", info.Job)
	got, gotAck := counter.claimed.Load(), counter.ackClaimed.Load()
	if got+gotAck < chunks {
		t.Fatalf("%d chunks claimed and %d by acks, want %d in all", got, gotAck, chunks)
	}
	// The first chunk, and the second, claimed when the first has
	// computed: no chunk publishes behind yet.
	if got > 2 {
		t.Errorf("%d chunks came from claims of their own and %d from acks that claimed; want 2 and %d", got, gotAck, chunks-2)
	}
}
