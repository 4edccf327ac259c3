package filestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
)

// noLinks makes s's hard links fail as on a file at its link limit
// (EMLINK) or a file system that refuses links: Link moves the file.
func noLinks(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.link = func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EMLINK}
	}
	return s, dir
}

// tmpFiles lists what is left in the store's temporary directory besides
// its lock files.
func tmpFiles(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	err := filepath.WalkDir(filepath.Join(dir, TmpDir), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, string(filepath.Separator)+"locks"+string(filepath.Separator)) {
			return err
		}
		left = append(left, p)
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return left
}

// TestLinkWithoutHardLinksMovesTheFile: where link(2) fails, Link moves
// src's file to dst: dst has src's bytes and ETag, src is gone, and a
// second Link (a commit run again) finds no source, which the commit
// recognises by dst's ETag.
func TestLinkWithoutHardLinksMovesTheFile(t *testing.T) {
	ctx := context.Background()
	s, dir := noLinks(t)
	src, err := s.Put(ctx, "_fanout/j/staging/a/part-0.jsonl.staged", strings.NewReader("staged bytes\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Link(ctx, "out/part-0.jsonl", src.Key, &objstore.CopyOptions{IfMatch: src.ETag})
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	if info.ETag != src.ETag || info.Size != src.Size {
		t.Errorf("Link = %+v, want the source's ETag %s and size %d", info, src.ETag, src.Size)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out", "part-0.jsonl")); err != nil || string(b) != "staged bytes\n" {
		t.Errorf("dst holds %q, %v; want the staged bytes", b, err)
	}
	if _, err := s.Stat(ctx, src.Key); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("src after the move: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "_fanout")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the source's emptied directories stay: %v", err)
	}
	if _, err := s.Link(ctx, "out/part-0.jsonl", src.Key, &objstore.CopyOptions{IfMatch: src.ETag}); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Link again: %v, want ErrNotFound", err)
	}
	if now, err := s.Stat(ctx, "out/part-0.jsonl"); err != nil || now.ETag != src.ETag {
		t.Errorf("dst after Link again: %+v, %v; want the source's ETag %s", now, err, src.ETag)
	}
	if left := tmpFiles(t, dir); len(left) != 0 {
		t.Errorf("left in the temporary directory: %v", left)
	}
}

// TestLinkWithoutHardLinksKeepsTheSourceOnFailure: a move that cannot
// happen leaves src as it was. Before, the file was first renamed into
// the temporary directory, then published from there: a publication that
// failed (ctx cancelled, dst a directory of other keys) removed it, and a
// crash in between left it in the temporary directory, at neither key:
// the staged output of a finished chunk, lost.
func TestLinkWithoutHardLinksKeepsTheSourceOnFailure(t *testing.T) {
	s, dir := noLinks(t)
	src, err := s.Put(context.Background(), "staging/a.staged", strings.NewReader("only copy\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), "out/dir/other", strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		dst  string
		ifm  string
		want error
	}{
		{"ctx cancelled", cancelled, "out/a", src.ETag, context.Canceled},
		{"dst is a directory of other keys", context.Background(), "out/dir", src.ETag, objstore.ErrInvalidKey},
		{"stale If-Match", context.Background(), "out/a", "stale", objstore.ErrPrecondition},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.Link(c.ctx, c.dst, src.Key, &objstore.CopyOptions{IfMatch: c.ifm}); !errors.Is(err, c.want) {
				t.Fatalf("Link: got %v, want %v", err, c.want)
			}
			if now, err := s.Stat(context.Background(), src.Key); err != nil || now.ETag != src.ETag {
				t.Fatalf("src after the failed Link: %+v, %v; want it unchanged (ETag %s)", now, err, src.ETag)
			}
			if left := tmpFiles(t, dir); len(left) != 0 {
				t.Errorf("left in the temporary directory: %v", left)
			}
		})
	}
}

// TestLinkWithoutHardLinksSourceGone: a source deleted between its
// check and the move is ErrNotFound (what a commit run again after
// another's cleanup finds), one replaced is ErrPrecondition.
func TestLinkWithoutHardLinksSourceGone(t *testing.T) {
	ctx := context.Background()
	s, _ := noLinks(t)
	src, err := s.Put(ctx, "staging/a.staged", strings.NewReader("a\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := s.path(src.Key)
	f, _, err := s.open(src.Key, sp, src.ETag)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.Delete(ctx, src.Key); err != nil {
		t.Fatal(err)
	}
	dp, _ := s.path("out/a")
	if _, err := s.moveFile(ctx, src.Key, sp, "out/a", dp, f); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("moving a deleted source: %v, want ErrNotFound", err)
	}
	if _, err := s.Put(ctx, src.Key, strings.NewReader("replaced\n"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.moveFile(ctx, src.Key, sp, "out/a", dp, f); !errors.Is(err, objstore.ErrPrecondition) {
		t.Errorf("moving a replaced source: %v, want ErrPrecondition", err)
	}
	if _, err := s.Stat(ctx, "out/a"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("dst after refused moves: %v, want nothing there", err)
	}
}
