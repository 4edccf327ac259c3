package fanout

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
)

func listOf(n int, failAt int) func(context.Context) iter.Seq2[objstore.ObjectInfo, error] {
	return func(context.Context) iter.Seq2[objstore.ObjectInfo, error] { return listSeq(n, failAt) }
}

func listSeq(n int, failAt int) iter.Seq2[objstore.ObjectInfo, error] {
	return func(yield func(objstore.ObjectInfo, error) bool) {
		for i := range n {
			if i == failAt {
				yield(objstore.ObjectInfo{}, errors.New("listing broke"))
				return
			}
			if !yield(objstore.ObjectInfo{Key: fmt.Sprintf("k%06d", i)}, nil) {
				return
			}
		}
	}
}

// listAhead keeps the order, passes the error on after the entries before
// it, and lets a consumer stop early without leaking its goroutine.
func TestListAhead(t *testing.T) {
	ctx := context.Background()
	i := 0
	for info, err := range listAhead(ctx, listOf(2500, -1)) {
		if err != nil || info.Key != fmt.Sprintf("k%06d", i) {
			t.Fatalf("entry %d: %q, %v", i, info.Key, err)
		}
		i++
	}
	if i != 2500 {
		t.Fatalf("%d entries, want 2500", i)
	}
	i = 0
	var got error
	for _, err := range listAhead(ctx, listOf(2500, 1700)) {
		if err != nil {
			got = err
			break
		}
		i++
	}
	if i != 1700 || got == nil {
		t.Fatalf("%d entries then %v; want 1700 then the listing's error", i, got)
	}
	for n := range 3 {
		seen := 0
		for range listAhead(ctx, listOf(100000, -1)) {
			if seen++; seen > n*1000 {
				break
			}
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := 0
	var last error
	for _, err := range listAhead(cctx, listOf(100000, -1)) {
		if err != nil {
			last = err
			break
		}
		if seen++; seen == 10 {
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) {
		t.Fatalf("after cancel: %v after %d entries, want context.Canceled", last, seen)
	}
}
