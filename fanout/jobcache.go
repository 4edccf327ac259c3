package fanout

import (
	"container/list"
	"sync"
	"time"
)

// jobCache holds the decoded state (manifest, recent shards) of the jobs
// an engine works on, so that a long-running worker (`fanout work`,
// `fanout serve`, a warm Lambda) does not read a manifest per chunk, yet
// does not grow with the jobs it served: the least recently used jobs
// leave when the cached bytes pass maxBytes, jobs unused for idle leave
// on the next access, and finished jobs are forgotten at once (forgetJob,
// and keepOnly with the queue's list of active jobs).
type jobCache struct {
	maxBytes int64
	idle     time.Duration

	mu    sync.Mutex
	lru   *list.List // of *jobEntry, most recently used first
	items map[string]*list.Element
}

type jobEntry struct {
	js   *jobState
	used time.Time
}

func newJobCache(maxBytes int64, idle time.Duration) *jobCache {
	return &jobCache{maxBytes: maxBytes, idle: idle, lru: list.New(), items: map[string]*list.Element{}}
}

// get returns the cached state of job, nil when it is not cached.
func (c *jobCache) get(job string) *jobState {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.evict(now)
	el := c.items[job]
	if el == nil {
		return nil
	}
	e := el.Value.(*jobEntry)
	e.used = now
	c.lru.MoveToFront(el)
	return e.js
}

// add caches js unless its job is cached already, and returns the cached
// state.
func (c *jobCache) add(js *jobState) *jobState {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if el := c.items[js.job]; el != nil {
		e := el.Value.(*jobEntry)
		e.used = now
		c.lru.MoveToFront(el)
		return e.js
	}
	c.items[js.job] = c.lru.PushFront(&jobEntry{js: js, used: now})
	c.evict(now)
	return js
}

// remove forgets job.
func (c *jobCache) remove(job string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.items[job]; el != nil {
		c.lru.Remove(el)
		delete(c.items, job)
	}
}

// keepOnly forgets every cached job that active does not hold: jobs the
// queue no longer lists were finished (committed, or removed after they
// failed) by some engine.
func (c *jobCache) keepOnly(active map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for job, el := range c.items {
		if !active[job] {
			c.lru.Remove(el)
			delete(c.items, job)
		}
	}
}

// len is the number of cached jobs.
func (c *jobCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// evict drops the jobs idle for longer than c.idle, then the least
// recently used ones while the cached bytes exceed c.maxBytes; the most
// recently used job stays whatever its size. Sizes are read now, since a
// job's cached shards come and go.
func (c *jobCache) evict(now time.Time) {
	for el := c.lru.Back(); el != nil && el != c.lru.Front(); {
		prev := el.Prev()
		if e := el.Value.(*jobEntry); now.Sub(e.used) > c.idle {
			c.lru.Remove(el)
			delete(c.items, e.js.job)
		}
		el = prev
	}
	var total int64
	for el := c.lru.Front(); el != nil; el = el.Next() {
		total += el.Value.(*jobEntry).js.size()
	}
	for total > c.maxBytes && c.lru.Len() > 1 {
		el := c.lru.Back()
		e := el.Value.(*jobEntry)
		total -= e.js.size()
		c.lru.Remove(el)
		delete(c.items, e.js.job)
	}
}
