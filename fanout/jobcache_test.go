package fanout

import (
	"testing"
	"time"
)

func cachedJob(job string, bytes int64) *jobState {
	return &jobState{job: job, manifestBytes: bytes}
}

// TestJobCacheEvicts checks the job cache's bounds: least recently used
// jobs leave past the byte budget (the most recent stays whatever its
// size), idle ones leave, and keepOnly forgets jobs the queue no longer
// lists.
func TestJobCacheEvicts(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		c := newJobCache(100, time.Hour)
		c.add(cachedJob("a", 40))
		c.add(cachedJob("b", 40))
		c.get("a") // a is now more recent than b
		c.add(cachedJob("c", 40))
		if c.get("b") != nil || c.get("a") == nil || c.get("c") == nil {
			t.Fatalf("after a, b, get a, c at 40 bytes each in 100: b should have left, a and c stayed (%d cached)", c.len())
		}
		c.add(cachedJob("huge", 1000))
		if c.get("huge") == nil || c.len() != 1 {
			t.Fatalf("a job larger than the budget: cached %v, %d jobs; want it alone", c.get("huge") != nil, c.len())
		}
	})
	t.Run("idle", func(t *testing.T) {
		c := newJobCache(1<<30, 20*time.Millisecond)
		c.add(cachedJob("old", 1))
		c.add(cachedJob("new", 1))
		deadline := time.Now().Add(10 * time.Second)
		for {
			c.get("new") // an access evicts what is idle
			// len, unlike get("old"), does not touch "old" (a get every
			// 5ms would keep it in use for ever on a fast machine).
			if c.len() == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("an idle job stayed cached")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if c.get("new") == nil {
			t.Fatal("the job in use left")
		}
	})
	t.Run("keepOnly", func(t *testing.T) {
		c := newJobCache(1<<30, time.Hour)
		for _, j := range []string{"a", "b", "c"} {
			c.add(cachedJob(j, 1))
		}
		c.keepOnly(map[string]bool{"b": true})
		if c.len() != 1 || c.get("b") == nil {
			t.Fatalf("keepOnly(b): %d cached; want only b", c.len())
		}
	})
}
