package simstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/objstoretest"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

func TestConformance(t *testing.T) {
	objstoretest.RunConformance(t, func(t *testing.T) objstore.Bucket {
		return simstore.New(simstore.Config{Name: "conformance"})
	})
}

// TestSlowDownPastThePartitionRate: without retries, a burst past one
// second's worth of a partition's write rate is refused with SlowDown,
// and what was accepted is no more than the bucket held plus the refill.
func TestSlowDownPastThePartitionRate(t *testing.T) {
	const rate = 50
	s := simstore.New(simstore.Config{WriteRate: rate, ReadRate: 1000, Retry: objstore.RetryPolicy{MaxAttempts: 1}})
	ctx := context.Background()
	start := time.Now()
	ok, slow := 0, 0
	for i := range 200 {
		_, err := s.Put(ctx, fmt.Sprintf("k/%03d", i), nil, nil)
		switch {
		case err == nil:
			ok++
		case errors.Is(err, simstore.ErrSlowDown):
			slow++
		default:
			t.Fatalf("put %d: %v", i, err)
		}
	}
	refill := int(time.Since(start).Seconds()*rate) + 1
	if ok < rate || ok > rate+refill || slow != 200-ok {
		t.Fatalf("got %d accepted and %d SlowDown; want %d to %d accepted, the rest SlowDown", ok, slow, rate, rate+refill)
	}
	st := s.Stats()
	if st.SlowDowns != int64(slow) || st.Failed != int64(slow) || st.Requests[simstore.KindPut] != 200 {
		t.Fatalf("stats %+v; want %d SlowDowns and failures of 200 PUTs", st, slow)
	}
	// Reads have their own bucket.
	if _, err := s.Stat(ctx, "k/000"); err != nil {
		t.Fatalf("a HEAD while writes are throttled: %v", err)
	}
}

// TestRetriesAbsorbSlowDown: with the backends' retries, every request of
// a burst four times the rate succeeds, after SlowDowns.
func TestRetriesAbsorbSlowDown(t *testing.T) {
	s := simstore.New(simstore.Config{WriteRate: 200, ReadRate: 200, Retry: objstore.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxAttempts: 100}})
	ctx := context.Background()
	errs := make(chan error, 800)
	for i := range 800 {
		go func() {
			_, err := s.Put(ctx, fmt.Sprintf("r/%03d", i), nil, &objstore.PutOptions{IfNoneMatch: true})
			errs <- err
		}()
	}
	for range 800 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.SlowDowns == 0 || st.Failed != 0 || st.Objects != 800 || st.Requests[simstore.KindPut] != 800+st.SlowDowns {
		t.Fatalf("stats %+v; want SlowDowns, no failure, 800 objects, a PUT per attempt", st)
	}
}

// TestHotPartitionSplits: a partition that keeps throttling splits at the
// median of its recent keys, and the halves have a rate each.
func TestHotPartitionSplits(t *testing.T) {
	s := simstore.New(simstore.Config{WriteRate: 100, ReadRate: 100, SplitAfter: 100 * time.Millisecond, Retry: objstore.RetryPolicy{MaxAttempts: 1}})
	ctx := context.Background()
	throttleUntilSplit(t, s, func(i int) { s.Put(ctx, fmt.Sprintf("%c/%06d", "az"[i%2], i), nil, nil) })
	if st := s.Stats(); st.Partitions != 2 || st.SlowDowns == 0 {
		t.Fatalf("stats %+v; want 2 partitions after SlowDowns", st)
	}
}

// TestWriteThrottledPartitionSplitsAmongItsWrites: a partition serving
// many reads of one key range (a/, within the read rate) and refusing
// writes of another (z/) splits among the writes, so that they go to two
// partitions; the median of all its requests would be an a/ key, moving
// none of the writes.
func TestWriteThrottledPartitionSplitsAmongItsWrites(t *testing.T) {
	s := simstore.New(simstore.Config{WriteRate: 100, ReadRate: 100000, SplitAfter: 100 * time.Millisecond, Retry: objstore.RetryPolicy{MaxAttempts: 1}})
	ctx := context.Background()
	throttleUntilSplit(t, s, func(i int) {
		s.Put(ctx, fmt.Sprintf("z/%06d", i), nil, nil)
		for j := range 3 {
			s.Stat(ctx, fmt.Sprintf("a/%06d", 3*i+j))
		}
	})
	st := s.Stats()
	if len(st.Parts) != 2 || !strings.HasPrefix(st.Parts[1].Lo, "z/") || st.Parts[0].Refused[0] == 0 {
		t.Fatalf("partitions %+v; want the first to have refused writes and the second to start among them (z/)", st.Parts)
	}
	t.Logf("split at %q", st.Parts[1].Lo)
}

// throttleUntilSplit makes request i (0, 1, ...) of s until it has two
// partitions, pausing every 100 so that it keeps throttling for
// SplitAfter, not only in one burst; it fails after 30 s.
func throttleUntilSplit(t *testing.T, s *simstore.Store, request func(i int)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; s.Stats().Partitions < 2; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no split after 30 s of throttling: %+v", s.Stats())
		}
		request(i)
		if i%100 == 99 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
