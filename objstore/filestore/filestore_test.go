package filestore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/filestore"
	"github.com/fanout-dev/fanout/objstore/objstoretest"
)

func newStore(tb testing.TB) objstore.Bucket {
	s, err := filestore.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	objstoretest.RunConformance(t, func(t *testing.T) objstore.Bucket { return newStore(t) }, objstoretest.PathKeys())
}

func BenchmarkStore(b *testing.B) { objstoretest.RunBenchmarks(b, newStore) }

// TestIfMatchAcrossProcesses runs read-modify-write increments with
// If-Match from this process and a child process on the same directory:
// no increment may be lost, which needs the flock to exclude the other
// process, not only other goroutines.
func TestIfMatchAcrossProcesses(t *testing.T) {
	root := t.TempDir()
	s, err := filestore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, "counter", strings.NewReader("0"), nil); err != nil {
		t.Fatal(err)
	}
	const perWorker = 150
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIncrement$", "-test.v")
	cmd.Env = append(os.Environ(), "FILESTORE_HELPER_ROOT="+root, fmt.Sprintf("FILESTORE_HELPER_N=%d", perWorker))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := increment(ctx, s, perWorker); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v\n%s", err, out.String())
	}
	rc, _, err := s.Get(ctx, "counter", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if want := strconv.Itoa(4 * perWorker); string(got) != want {
		t.Fatalf("counter is %s after 4 × %d increments, want %s", got, perWorker, want)
	}
}

// TestHelperIncrement is the child process of TestIfMatchAcrossProcesses.
func TestHelperIncrement(t *testing.T) {
	root := os.Getenv("FILESTORE_HELPER_ROOT")
	if root == "" {
		return // runs only as TestIfMatchAcrossProcesses's child process
	}
	n, _ := strconv.Atoi(os.Getenv("FILESTORE_HELPER_N"))
	s, err := filestore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := increment(context.Background(), s, n); err != nil {
		t.Fatal(err)
	}
}

func increment(ctx context.Context, s *filestore.Store, n int) error {
	for done := 0; done < n; {
		rc, info, err := s.Get(ctx, "counter", nil)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		v, err := strconv.Atoi(string(data))
		if err != nil {
			return fmt.Errorf("counter %q: %w", data, err)
		}
		_, err = s.Put(ctx, "counter", strings.NewReader(strconv.Itoa(v+1)), &objstore.PutOptions{IfMatch: info.ETag})
		switch {
		case err == nil:
			done++
		case !errors.Is(err, objstore.ErrPrecondition):
			return err
		}
	}
	return nil
}

func TestTempFilesAndDirectories(t *testing.T) {
	root := t.TempDir()
	s, err := filestore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, "a/b/c", strings.NewReader("x"), nil); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if _, err := s.Put(context.Background(), "a/b/too-short", strings.NewReader("x"), &objstore.PutOptions{Size: 2}); err == nil {
		t.Fatal("Put with a wrong Size succeeded")
	}
	tmps, _ := filepath.Glob(filepath.Join(root, filestore.TmpDir, "put-*"))
	if len(tmps) != 0 {
		t.Fatalf("temporary files left behind: %q", tmps)
	}
	if _, err := s.Put(context.Background(), "a/b/c", strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(context.Background(), "a/b/c"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty parent directories were not removed: %v", err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("the root was removed: %v", err)
	}
}

func TestExistingFiles(t *testing.T) {
	root := t.TempDir()
	for name, content := range map[string]string{"in/2024/a.csv": "a", "in/b.csv": "bb", "top.txt": "ccc"} {
		p := filepath.Join(root, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "top.txt"), filepath.Join(root, "in", "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "in"), filepath.Join(root, "in", "loop")); err != nil {
		t.Fatal(err)
	}
	s, err := filestore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Writing creates .fanout-tmp, which listings never show.
	if _, err := s.Put(context.Background(), "out/x", strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
	var keys []string
	etags := map[string]string{}
	for info, err := range s.List(context.Background(), "", nil) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
		etags[info.Key] = info.ETag
	}
	want := []string{"in/2024/a.csv", "in/b.csv", "in/link.txt", "out/x", "top.txt"}
	if !slices.Equal(keys, want) {
		t.Fatalf("List = %q, want %q", keys, want)
	}
	// Another Store (another process) sees the same ETags.
	s2, err := filestore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, k := range want {
		info, err := s2.Stat(context.Background(), k)
		if err != nil || info.ETag != etags[k] {
			t.Fatalf("Stat(%q) from another store = %+v, %v; want ETag %s", k, info, err, etags[k])
		}
	}
	// A file rewritten in place by another program gets a new ETag.
	if err := os.WriteFile(filepath.Join(root, "in", "b.csv"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Stat(context.Background(), "in/b.csv"); info.ETag == etags["in/b.csv"] {
		t.Fatal("ETag did not change when the file was rewritten in place")
	}
}

func TestNewRefusesFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := filestore.New(f); err == nil {
		t.Fatal("New on a regular file succeeded")
	}
	missing := filepath.Join(t.TempDir(), "not", "yet")
	s, err := filestore.New(missing)
	if err != nil {
		t.Fatalf("New on a missing directory: %v", err)
	}
	defer s.Close()
	for _, err := range s.List(context.Background(), "", nil) {
		t.Fatalf("listing a missing root: %v", err)
	}
	if _, err := s.Put(context.Background(), "k", strings.NewReader("x"), nil); err != nil {
		t.Fatalf("first Put into a missing root: %v", err)
	}
}

// Copy links the file: the copy has the source's bytes and ETag, and
// keeps them when the source is overwritten or deleted.
func TestCopyIsALinkThatOutlivesItsSource(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := filestore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	put := func(key, body string) objstore.ObjectInfo {
		info, err := s.Put(ctx, key, strings.NewReader(body), &objstore.PutOptions{Size: int64(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	src := put("staging/a.txt", "first\n")
	cp, err := s.Copy(ctx, "out/a.txt", "staging/a.txt", &objstore.CopyOptions{IfMatch: src.ETag})
	if err != nil {
		t.Fatal(err)
	}
	if cp.ETag != src.ETag {
		t.Errorf("copy ETag %s, want the source's %s", cp.ETag, src.ETag)
	}
	put("staging/a.txt", "second, longer\n")
	if err := s.Delete(ctx, "staging/a.txt"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "out", "a.txt")); err != nil || string(b) != "first\n" {
		t.Fatalf("copy holds %q, %v; want the source's bytes at copy time", b, err)
	}
	if _, err := s.Copy(ctx, "out/b.txt", "staging/a.txt", nil); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("copy of a deleted source: %v, want ErrNotFound", err)
	}
	fresh := put("staging/c.txt", "c\n")
	if _, err := s.Copy(ctx, "out/c.txt", "staging/c.txt", &objstore.CopyOptions{IfMatch: src.ETag}); !errors.Is(err, objstore.ErrPrecondition) {
		t.Fatalf("copy with a stale If-Match (%s, file has %s): %v, want ErrPrecondition", src.ETag, fresh.ETag, err)
	}
}

// TestLinkKeepsTheFileAndItsETag publishes a staged file at another key
// with Link: dst is the same file (same inode: no byte copied) with src's
// ETag, src is still there, a stale IfMatch is refused, a missing source
// is ErrNotFound, and linking again (a commit re-run) changes nothing.
func TestLinkKeepsTheFileAndItsETag(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := filestore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src, err := s.Put(ctx, "staging/a.txt.staged", strings.NewReader("staged bytes"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		info, err := s.Link(ctx, "out/a.txt", "staging/a.txt.staged", &objstore.CopyOptions{IfMatch: src.ETag})
		if err != nil {
			t.Fatalf("Link: %v", err)
		}
		if info.ETag != src.ETag || info.Size != src.Size {
			t.Fatalf("Link = %+v, want the source's ETag %s and size %d", info, src.ETag, src.Size)
		}
	}
	a, err1 := os.Stat(filepath.Join(dir, "staging/a.txt.staged"))
	b, err2 := os.Stat(filepath.Join(dir, "out/a.txt"))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		t.Fatalf("dst is not src's file: %v %v", err1, err2)
	}
	if _, err := s.Link(ctx, "out/b.txt", "staging/a.txt.staged", &objstore.CopyOptions{IfMatch: "stale"}); !errors.Is(err, objstore.ErrPrecondition) {
		t.Fatalf("Link with a stale IfMatch: got %v, want ErrPrecondition", err)
	}
	if _, err := s.Link(ctx, "out/c.txt", "staging/missing", nil); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Link of a missing source: got %v, want ErrNotFound", err)
	}
}
