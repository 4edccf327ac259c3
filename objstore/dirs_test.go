package objstore_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// TestListDirsWithoutDirLister lists the directories of a bucket that has
// no DirLister one key at a time, with a key past the point a directory's
// listing skips to (its name continued by the largest code point): each
// directory once, in order, and nothing lost after it.
func TestListDirsWithoutDirLister(t *testing.T) {
	b := simstore.New(simstore.Config{})
	ctx := context.Background()
	for _, k := range []string{"p/a/1", "p/a/\U0010FFFF/2", "p/a/\U0010FFFFz", "p/b", "p/c/3", "p/c\U0010FFFF/4", "q/5"} {
		if _, err := b.Put(ctx, k, bytes.NewReader([]byte("x")), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := any(b).(objstore.DirLister); ok {
		t.Fatal("simstore has a DirLister: this test no longer tests the fallback")
	}
	var got []string
	for dir, err := range objstore.ListDirs(ctx, b, "p/") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, dir)
	}
	if want := []string{"p/a/", "p/c/", "p/c\U0010FFFF/"}; !slices.Equal(got, want) {
		t.Errorf("ListDirs: got %q, want %q", got, want)
	}
}
