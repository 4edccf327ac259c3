package fanout

import (
	"context"
	"iter"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fanout-dev/fanout/objstore"
)

// Listing a prefix of S3 with several LIST requests at once.
//
// A listing is one LIST request per 1,000 keys, each after the other
// (the next page starts after the last key of this one): a million keys
// are a thousand round trips in a row. parallelList starts like that and,
// once a listing has gone on for listSplitAfter pages, splits the key
// range it has not listed yet at a key halfway between its last key and
// the range's end, and lists the upper part in a listing of its own
// (start-after the split key), again halfway to that key, and so on up to
// listParallel listings at once. Every listing splits its range again
// after each page while there is room, so the ranges close in on where
// the keys are. The keys come out in the order one listing gives
// (each range's keys before the next range's), so a plan is the same
// whichever way it was listed. A range's listing reads at most a page
// past its end (that page's keys belong to the next range), and a split
// into a range without keys costs one empty LIST.
//
// By directory: when the caller asks (JobSpec.ListDirs) or when the first
// page's keys lie in more than one sub-prefix one level below the prefix
// (a wide tree: directories smaller than a page), the sub-prefixes are
// listed with the delimiter "/" (objstore.ListDirs, a LIST per 1,000
// of them, up to listMaxDirs) and a range splits at the middle one of
// those it holds instead of at midKey: the ranges end where the keys
// change directory, no split falls between keys into an empty range, and
// keys midKey cannot split (past printable ASCII) split too. When asked,
// the listing starts as listParallel ranges cut at the sub-prefixes.
const (
	listParallel   = 8
	listSplitAfter = 2
	listPageKeys   = 1000
	listWideDirs   = 2
	listMaxDirs    = 100_000
)

// listRange is the keys in (after, upTo] of one listing; upTo "" is no
// end. Its listing goroutine sends its keys on batches, sets err and next
// (a range split off it) before closing batches.
type listRange struct {
	after, upTo string
	batches     chan []objstore.ObjectInfo
	err         error
	next        *listRange
}

// parallelList lists prefix in b as b.List does (every key under prefix,
// in key order), with up to listParallel LIST requests at once once the
// listing is long; byDir lists the sub-prefixes first and splits at them
// from the start. Its goroutines end before it returns.
func parallelList(ctx context.Context, b objstore.Bucket, prefix string, byDir bool) iter.Seq2[objstore.ObjectInfo, error] {
	return func(yield func(objstore.ObjectInfo, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() {
			cancel()
			wg.Wait()
		}()
		var mu sync.Mutex // guards every range's next, and dirs
		var active atomic.Int32
		// dirs are the sub-prefixes one level below prefix listed so far,
		// in key order (appended to only: a copy of the slice stays valid).
		var dirs []string
		var dirsListed atomic.Bool
		dirsOK := prefix == "" || strings.HasSuffix(prefix, "/")
		listDirs := func() {
			if !dirsOK || !dirsListed.CompareAndSwap(false, true) {
				return
			}
			// An error leaves the splits to midKey: the listing itself
			// reports what is wrong with the bucket.
			for d, err := range objstore.ListDirs(ctx, b, prefix) {
				if err != nil {
					return
				}
				mu.Lock()
				dirs = append(dirs, d)
				n := len(dirs)
				mu.Unlock()
				if n >= listMaxDirs {
					return
				}
			}
		}
		// split returns a key to split the range after last (up to end,
		// "" for none) at: the middle sub-prefix within it when there is
		// one, else midKey's.
		split := func(last, end string) (string, bool) {
			mu.Lock()
			ds := dirs
			mu.Unlock()
			i := sort.SearchStrings(ds, last)
			for i < len(ds) && ds[i] <= last {
				i++
			}
			j := len(ds)
			if end != "" {
				j = sort.SearchStrings(ds, end) // the dirs before end
			}
			if i < j {
				return ds[(i+j)/2], true
			}
			if end == "" {
				end = prefix + "~" // past every printable ASCII key; the split-off range has no end anyway
			}
			return midKey(last, end)
		}
		// wide says whether a page's keys lie in more than one
		// sub-prefix.
		wide := func(page []objstore.ObjectInfo) bool {
			n, last := 0, ""
			for _, info := range page {
				rest := strings.TrimPrefix(info.Key, prefix)
				i := strings.IndexByte(rest, '/')
				if i < 0 || rest[:i] == last {
					continue
				}
				last = rest[:i]
				if n++; n >= listWideDirs {
					return true
				}
			}
			return false
		}
		var run func(r *listRange)
		start := func(r *listRange) {
			active.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer active.Add(-1)
				defer close(r.batches)
				run(r)
			}()
		}
		send := func(r *listRange, batch []objstore.ObjectInfo) bool {
			select {
			case r.batches <- batch:
				return true
			case <-ctx.Done():
				return false
			}
		}
		run = func(r *listRange) {
			pages := 0
			batch := make([]objstore.ObjectInfo, 0, listPageKeys)
			for info, err := range b.List(ctx, prefix, &objstore.ListOptions{StartAfter: r.after}) {
				if err != nil {
					if len(batch) == 0 || send(r, batch) {
						r.err = err
					}
					return
				}
				if r.after != "" && info.Key <= r.after {
					continue // a store that ignores StartAfter: the range before's
				}
				if r.upTo != "" && info.Key > r.upTo {
					break // the next range's
				}
				if batch = append(batch, info); len(batch) < listPageKeys {
					continue
				}
				if r.after == "" && pages == 0 && !byDir && wide(batch) {
					wg.Add(1)
					go func() {
						defer wg.Done()
						listDirs()
					}()
				}
				if !send(r, batch) {
					return
				}
				batch = make([]objstore.ObjectInfo, 0, listPageKeys)
				if pages++; pages < listSplitAfter {
					continue
				}
				// Split while there is room, each time halfway to the
				// last split: the ranges close in on where the keys are
				// (those past them end after one empty LIST).
				for active.Load() < listParallel {
					m, ok := split(info.Key, r.upTo)
					if !ok {
						break
					}
					mu.Lock()
					split := &listRange{after: m, upTo: r.upTo, batches: make(chan []objstore.ObjectInfo, 2), next: r.next}
					r.next, r.upTo = split, m
					mu.Unlock()
					start(split)
				}
			}
			if len(batch) > 0 {
				send(r, batch)
			}
		}
		r := &listRange{batches: make(chan []objstore.ObjectInfo, 2)}
		if byDir {
			// listParallel ranges from the start, cut at sub-prefixes
			// evenly spaced among them.
			listDirs()
			ranges := []*listRange{r}
			n := min(listParallel, len(dirs))
			for k := 1; k < n; k++ {
				m := dirs[k*len(dirs)/n]
				next := &listRange{after: m, batches: make(chan []objstore.ObjectInfo, 2)}
				tail := ranges[len(ranges)-1]
				tail.upTo, tail.next = m, next
				ranges = append(ranges, next)
			}
			for _, t := range ranges {
				start(t)
			}
		} else {
			start(r)
		}
		for r != nil {
			for batch := range r.batches {
				for _, info := range batch {
					if !yield(info, nil) {
						return
					}
				}
			}
			if r.err != nil {
				yield(objstore.ObjectInfo{}, r.err)
				return
			}
			if err := ctx.Err(); err != nil {
				yield(objstore.ObjectInfo{}, err)
				return
			}
			mu.Lock()
			r = r.next
			mu.Unlock()
		}
	}
}

// midKey returns a key m with a < m < b, about halfway between them when
// both are read as numbers in base 95 (one digit per printable ASCII
// character). ok is false when either holds another byte or no such key
// was found: the range is then not split.
func midKey(a, b string) (m string, ok bool) {
	n := max(len(a), len(b)) + 1
	digit := func(s string, i int) (int, bool) {
		if i >= len(s) {
			return 0, true
		}
		c := s[i]
		return int(c) - ' ', c >= ' ' && c <= '~'
	}
	sum := make([]int, n)
	for i := 0; i < n; i++ {
		da, okA := digit(a, i)
		db, okB := digit(b, i)
		if !okA || !okB {
			return "", false
		}
		sum[i] = da + db
	}
	for i := n - 1; i > 0; i-- { // carry
		sum[i-1] += sum[i] / 95
		sum[i] %= 95
	}
	out := make([]byte, n)
	rem := 0
	for i := 0; i < n; i++ { // halve
		v := rem*95 + sum[i]
		out[i] = byte(v/2 + ' ')
		rem = v % 2
	}
	for len(out) > 0 && out[len(out)-1] == ' ' {
		out = out[:len(out)-1]
	}
	m = string(out)
	return m, a < m && m < b
}
