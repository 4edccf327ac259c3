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
	// simstore has a DirLister of its own: the wrapper hides it, and
	// the fallback's answer must equal it.
	listOnly := struct{ objstore.Bucket }{b}
	if _, ok := any(listOnly).(objstore.DirLister); ok {
		t.Fatal("the wrapper has a DirLister: this test no longer tests the fallback")
	}
	want := []string{"p/a/", "p/c/", "p/c\U0010FFFF/"}
	for name, bucket := range map[string]objstore.Bucket{"fallback": listOnly, "simstore's DirLister": b} {
		var got []string
		for dir, err := range objstore.ListDirs(ctx, bucket, "p/") {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, dir)
		}
		if !slices.Equal(got, want) {
			t.Errorf("ListDirs (%s): got %q, want %q", name, got, want)
		}
	}
}
