// Package objstoretest is the conformance suite every objstore backend runs
// (in the manner of go-cloud's blob/drivertest), plus test helpers: a
// deterministic random reader of unknown size and fault-injecting wrappers.
// It is imported only by tests.
package objstoretest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/objstore"
	"golang.org/x/sync/errgroup"
)

// Option adjusts the suite to a store's documented key limits (see the
// objstore package documentation). Without options the suite expects AWS
// S3's flat namespace, where every key of 1 to 1,024 bytes is distinct.
type Option func(*config)

type config struct {
	// nested: "a" and "a/b" can both be stored and listed.
	nested bool
	// nestedRefused: writing "a" next to "a/b" fails with ErrInvalidKey.
	nestedRefused bool
	// refused are keys Put must refuse with ErrInvalidKey.
	refused []string
	// odd are unusual keys that must round trip.
	odd []string
}

func defaultConfig() config {
	return config{
		nested:  true,
		refused: []string{strings.Repeat("k", 1025), "bad utf-8 \xff"},
		odd: []string{strings.Repeat("k", 1000), "trailing/", "double//slash", "./dot", "a/../dotdot",
			"/leading", "ctl\x01"},
	}
}

// PathKeys declares a store whose keys are file paths (filestore): it
// refuses with ErrInvalidKey a key that is also the "directory" of other
// keys, segments over 255 bytes, and path oddities ("/a", "a/", "a//b",
// "./a", "a/../b").
func PathKeys() Option {
	return func(c *config) {
		c.nested, c.nestedRefused = false, true
		c.refused = []string{"/leading", "trailing/", "double//slash", "./dot", "a/./b", "a/../b", "..", ".",
			".fanout-tmp/x", strings.Repeat("s", 256), "ok/" + strings.Repeat("s", 256) + "/x"}
		c.odd = []string{"ctl\x01"}
	}
}

// MinIOKeys declares a MinIO server: it refuses empty, "." and ".."
// segments and segments over 255 bytes (the backend must map that to
// ErrInvalidKey), drops a leading "/", and leaves "a/b" out of listings
// when an object "a" exists, so the suite neither writes such pairs nor
// keys with a leading "/".
func MinIOKeys() Option {
	return func(c *config) {
		c.nested = false
		c.refused = append(c.refused, "double//slash", "./dot", "a/./b", "a/../b", "..",
			strings.Repeat("s", 256), "ok/"+strings.Repeat("s", 256)+"/x")
		c.odd = []string{"trailing/", "ctl\x01", strings.Repeat("s", 255)}
	}
}

// RunConformance runs the contract's behaviour against a backend.
// newBucket must return an empty bucket (or fresh root) for each subtest
// and clean it up when the subtest ends.
func RunConformance(t *testing.T, newBucket func(t *testing.T) objstore.Bucket, opts ...Option) {
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	tests := []struct {
		name string
		run  func(t *testing.T, b objstore.Bucket, c config)
	}{
		{"ListOrder", testListOrder},
		{"ListPrefix", testListPrefix},
		{"ListStartAfter", testListStartAfter},
		{"ListPagination", testListPagination},
		{"ListDirs", testListDirs},
		{"PathConflicts", testPathConflicts},
		{"Stat", testStat},
		{"GetRanges", testGetRanges},
		{"GetIfMatch", testGetIfMatch},
		{"GetMissing", testGetMissing},
		{"CreateOnlyRace", testCreateOnlyRace},
		{"CreateOnlyRaceMultipart", testCreateOnlyRaceMultipart},
		{"PutIfMatch", testPutIfMatch},
		{"PutSizeMismatch", testPutSizeMismatch},
		{"CancelledPut", testCancelledPut},
		{"Keys", testKeys},
		{"InvalidKeys", testInvalidKeys},
		{"EmptyObject", testEmptyObject},
		{"Copy", testCopy},
		{"Delete", testDelete},
		{"DeleteKeys", testDeleteKeys},
		{"ETag", testETag},
		{"ProbeCreateOnly", testProbeCreateOnly},
		{"ReaderAt", testReaderAt},
		{"LargeStream", testLargeStream},
		{"Uploads", testUploads},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newBucket(t), c)
		})
	}
}

// ---- helpers ----

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, b objstore.Bucket, key string, data []byte) objstore.ObjectInfo {
	t.Helper()
	info, err := b.Put(ctxFor(t), key, bytes.NewReader(data), &objstore.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	if info.Key != key || info.Size != int64(len(data)) || info.ETag == "" {
		t.Fatalf("Put(%q) = %+v, want key %q, size %d and an ETag", key, info, key, len(data))
	}
	return info
}

func get(t *testing.T, b objstore.Bucket, key string, opts *objstore.GetOptions) ([]byte, objstore.ObjectInfo) {
	t.Helper()
	rc, info, err := b.Get(ctxFor(t), key, opts)
	if err != nil {
		t.Fatalf("Get(%q, %+v): %v", key, opts, err)
	}
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("Get(%q, %+v): reading: %v", key, opts, err)
	}
	return data, info
}

func list(t *testing.T, b objstore.Bucket, prefix string, opts *objstore.ListOptions) []objstore.ObjectInfo {
	t.Helper()
	var out []objstore.ObjectInfo
	for info, err := range b.List(ctxFor(t), prefix, opts) {
		if err != nil {
			t.Fatalf("List(%q, %+v): %v", prefix, opts, err)
		}
		out = append(out, info)
	}
	return out
}

func keysOf(infos []objstore.ObjectInfo) []string {
	keys := make([]string, len(infos))
	for i, info := range infos {
		keys[i] = info.Key
	}
	return keys
}

func listKeys(t *testing.T, b objstore.Bucket, prefix string, opts *objstore.ListOptions) []string {
	t.Helper()
	return keysOf(list(t, b, prefix, opts))
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func wantMissing(t *testing.T, b objstore.Bucket, key string) {
	t.Helper()
	_, err := b.Stat(ctxFor(t), key)
	wantErr(t, fmt.Sprintf("Stat(%q)", key), err, objstore.ErrNotFound)
	if got := listKeys(t, b, key, nil); slices.Contains(got, key) {
		t.Fatalf("List(%q) = %q, want no %q", key, got, key)
	}
}

func putAll(t *testing.T, b objstore.Bucket, keys []string) {
	t.Helper()
	g, ctx := errgroup.WithContext(ctxFor(t))
	g.SetLimit(32)
	for _, k := range keys {
		g.Go(func() error {
			data := []byte("content of " + k)
			_, err := b.Put(ctx, k, bytes.NewReader(data), &objstore.PutOptions{Size: int64(len(data))})
			if err != nil {
				return fmt.Errorf("Put(%q): %w", k, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func sorted(keys []string) []string {
	s := slices.Clone(keys)
	slices.Sort(s) // Go compares strings bytewise: S3's order
	return s
}

func equalKeys(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// ---- listing ----

// orderKeys defeat a directory walk that sorts entry names: "a/..." must
// come after "a-b" and "a.b" ('-' and '.' sort below '/') and before "a0".
var orderKeys = []string{
	"a-b", "a.b", "a/b", "a/c/d", "a/c-d", "a/c.d", "a/c0", "a0", "b", "bb/x y", "B", "é", "~",
}

func testListOrder(t *testing.T, b objstore.Bucket, c config) {
	keys := slices.Clone(orderKeys)
	if c.nested {
		keys = append(keys, "a", "a/b/c") // an object and a "directory" at once
	}
	putAll(t, b, keys)
	infos := list(t, b, "", nil)
	equalKeys(t, "List", keysOf(infos), sorted(keys))
	for _, info := range infos {
		want := int64(len("content of " + info.Key))
		if info.Size != want || info.ETag == "" || info.ModTime.IsZero() {
			t.Errorf("List entry %+v: want size %d, an ETag and a ModTime", info, want)
		}
		st, err := b.Stat(ctxFor(t), info.Key)
		if err != nil {
			t.Fatalf("Stat(%q): %v", info.Key, err)
		}
		if st.ETag != info.ETag || st.Size != info.Size {
			t.Errorf("Stat(%q) = %+v, List said %+v", info.Key, st, info)
		}
	}
}

func testListPrefix(t *testing.T, b objstore.Bucket, c config) {
	putAll(t, b, orderKeys)
	for _, prefix := range []string{"", "a", "a/", "a/c", "a/c/", "a/c/d", "a/c/d/", "a.", "b", "b/", "bb/", "bb/x", "zzz", "é", "a/x"} {
		var want []string
		for _, k := range sorted(orderKeys) {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		equalKeys(t, fmt.Sprintf("List(%q)", prefix), listKeys(t, b, prefix, nil), want)
	}
}

// testListDirs checks objstore.ListDirs (the backend's DirLister, or
// the listing of a key per directory) against the directories the keys
// imply, and that it refuses a prefix that does not end in "/".
func testListDirs(t *testing.T, b objstore.Bucket, c config) {
	keys := append(slices.Clone(orderKeys), "d/x/1", "d/x/2", "d/y", "d/z/q/r", "d-e/f", "d0/g")
	putAll(t, b, keys)
	for _, prefix := range []string{"", "a/", "a/c/", "bb/", "d/", "zz/"} {
		want := []string{}
		for _, k := range sorted(keys) {
			rest, ok := strings.CutPrefix(k, prefix)
			if i := strings.IndexByte(rest, '/'); ok && i >= 0 {
				if dir := prefix + rest[:i+1]; len(want) == 0 || want[len(want)-1] != dir {
					want = append(want, dir)
				}
			}
		}
		got := []string{}
		for dir, err := range objstore.ListDirs(ctxFor(t), b, prefix) {
			if err != nil {
				t.Fatalf("ListDirs(%q): %v", prefix, err)
			}
			got = append(got, dir)
		}
		equalKeys(t, fmt.Sprintf("ListDirs(%q)", prefix), got, want)
	}
	for _, err := range objstore.ListDirs(ctxFor(t), b, "a") {
		if err == nil {
			t.Fatalf("ListDirs(%q): no error for a prefix without a trailing /", "a")
		}
	}
}

func testListStartAfter(t *testing.T, b objstore.Bucket, c config) {
	putAll(t, b, orderKeys)
	all := sorted(orderKeys)
	starts := append(slices.Clone(all), "", "a", "a/", "a/c", "a/c/", "a/c/d/e", "a/c/z", "a/z", "\xff", " ")
	for _, prefix := range []string{"", "a/", "a"} {
		for _, sa := range starts {
			var want []string
			for _, k := range all {
				if k > sa && strings.HasPrefix(k, prefix) {
					want = append(want, k)
				}
			}
			got := listKeys(t, b, prefix, &objstore.ListOptions{StartAfter: sa})
			equalKeys(t, fmt.Sprintf("List(%q, StartAfter %q)", prefix, sa), got, want)
		}
	}
}

func testListPagination(t *testing.T, b objstore.Bucket, c config) {
	const n = 2500
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("many/%02d/%05d", i%25, i)
	}
	putAll(t, b, keys)
	want := sorted(keys)
	for _, size := range []int{0, 1000, 7} {
		got := listKeys(t, b, "many/", &objstore.ListOptions{PageSize: size})
		equalKeys(t, fmt.Sprintf("List with PageSize %d", size), got, want)
	}
	got := listKeys(t, b, "", &objstore.ListOptions{PageSize: 1000, StartAfter: want[1499]})
	equalKeys(t, "List with StartAfter the 1,500th key", got, want[1500:])

	// Breaking out of the loop early ends the listing cleanly.
	count := 0
	for _, err := range b.List(ctxFor(t), "many/", &objstore.ListOptions{PageSize: 1000}) {
		if err != nil {
			t.Fatal(err)
		}
		if count++; count == 1001 {
			break
		}
	}
	if count != 1001 {
		t.Fatalf("early break: got %d entries, want 1001", count)
	}
	// A cancelled context ends the listing with an error.
	ctx, cancel := context.WithCancel(ctxFor(t))
	count = 0
	var lastErr error
	for _, err := range b.List(ctx, "many/", &objstore.ListOptions{PageSize: 100}) {
		if err != nil {
			lastErr = err
			break
		}
		if count++; count == 150 {
			cancel()
		}
	}
	cancel()
	if lastErr == nil || count >= n {
		t.Fatalf("listing with a cancelled context: got %d entries and error %v, want an error before the end", count, lastErr)
	}
}

func testPathConflicts(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	if !c.nested && !c.nestedRefused {
		t.Log("the store cannot list an object that is also a directory (portable keys avoid it): nothing to check")
		return
	}
	put(t, b, "x", []byte("object x"))
	_, err := b.Put(ctx, "x/y", strings.NewReader("object x/y"), nil)
	if c.nestedRefused {
		wantErr(t, `Put("x/y") over object "x"`, err, objstore.ErrInvalidKey)
		put(t, b, "p/q", []byte("object p/q"))
		_, err = b.Put(ctx, "p", strings.NewReader("object p"), nil)
		wantErr(t, `Put("p") over directory "p/"`, err, objstore.ErrInvalidKey)
		_, err = b.Put(ctx, "p", strings.NewReader("object p"), &objstore.PutOptions{IfNoneMatch: true})
		wantErr(t, `create-only Put("p") over directory "p/"`, err, objstore.ErrInvalidKey)
		_, err = b.Stat(ctx, "p")
		wantErr(t, `Stat("p") of a directory`, err, objstore.ErrNotFound)
		if err := b.Delete(ctx, "p"); err != nil {
			t.Fatalf(`Delete("p") of a directory: %v`, err)
		}
		equalKeys(t, "List", listKeys(t, b, "", nil), []string{"p/q", "x"})
		return
	}
	if err != nil {
		t.Fatalf(`Put("x/y") next to object "x": %v`, err)
	}
	put(t, b, "x/y/z", []byte("object x/y/z"))
	equalKeys(t, "List", listKeys(t, b, "", nil), []string{"x", "x/y", "x/y/z"})
	if data, _ := get(t, b, "x/y", nil); string(data) != "object x/y" {
		t.Fatalf(`Get("x/y") = %q`, data)
	}
}

// ---- reads ----

func testStat(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	before := time.Now().Add(-time.Hour)
	pinfo := put(t, b, "s/k", []byte("0123456789"))
	info, err := b.Stat(ctx, "s/k")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "s/k" || info.Size != 10 || info.ETag != pinfo.ETag || info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(time.Hour)) {
		t.Fatalf("Stat = %+v, want key s/k, size 10, ETag %q, a recent ModTime", info, pinfo.ETag)
	}
	for _, key := range []string{"s/missing", "s", "s/k/x", "missing/deep/key"} {
		_, err := b.Stat(ctx, key)
		wantErr(t, fmt.Sprintf("Stat(%q)", key), err, objstore.ErrNotFound)
	}
}

func testGetRanges(t *testing.T, b objstore.Bucket, c config) {
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte(i)
	}
	pinfo := put(t, b, "r", data)
	tests := []struct {
		name string
		opts *objstore.GetOptions
		want []byte
	}{
		{"nil options", nil, data},
		{"zero options", &objstore.GetOptions{}, data},
		{"offset and length", &objstore.GetOptions{Offset: 10, Length: 20}, data[10:30]},
		{"length -1", &objstore.GetOptions{Offset: 10, Length: -1}, data[10:]},
		{"offset only", &objstore.GetOptions{Offset: 10}, data[10:]},
		{"first byte", &objstore.GetOptions{Length: 1}, data[:1]},
		{"last byte", &objstore.GetOptions{Offset: 99, Length: 1}, data[99:]},
		{"exact end", &objstore.GetOptions{Offset: 50, Length: 50}, data[50:]},
		{"past the end truncated", &objstore.GetOptions{Offset: 90, Length: 50}, data[90:]},
		{"offset == size", &objstore.GetOptions{Offset: 100, Length: 10}, nil},
		{"offset == size to end", &objstore.GetOptions{Offset: 100, Length: -1}, nil},
		{"offset > size", &objstore.GetOptions{Offset: 150, Length: 10}, nil},
		{"offset > size with IfMatch", &objstore.GetOptions{Offset: 150, IfMatch: pinfo.ETag}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, info := get(t, b, "r", tc.opts)
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes %v, want %d bytes %v", len(got), got, len(tc.want), tc.want)
			}
			if info.Key != "r" || info.Size != 100 || info.ETag != pinfo.ETag {
				t.Fatalf("info = %+v, want the whole object's (size 100, ETag %q)", info, pinfo.ETag)
			}
		})
	}
}

func testGetIfMatch(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	pinfo := put(t, b, "m", []byte("hello"))
	if got, _ := get(t, b, "m", &objstore.GetOptions{IfMatch: pinfo.ETag}); string(got) != "hello" {
		t.Fatalf("Get with the right IfMatch = %q", got)
	}
	if got, _ := get(t, b, "m", &objstore.GetOptions{IfMatch: pinfo.ETag, Offset: 1, Length: 3}); string(got) != "ell" {
		t.Fatalf("ranged Get with the right IfMatch = %q", got)
	}
	for _, opts := range []*objstore.GetOptions{
		{IfMatch: "0123456789abcdef0123456789abcdef"},
		{IfMatch: "0123456789abcdef0123456789abcdef", Offset: 1, Length: 2},
		{IfMatch: "0123456789abcdef0123456789abcdef", Offset: 10},
	} {
		_, _, err := b.Get(ctx, "m", opts)
		wantErr(t, fmt.Sprintf("Get with a wrong IfMatch %+v", opts), err, objstore.ErrPrecondition)
	}
	_, _, err := b.Get(ctx, "missing", &objstore.GetOptions{IfMatch: pinfo.ETag})
	wantErr(t, "Get of a missing key with IfMatch", err, objstore.ErrNotFound)
}

func testGetMissing(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	for _, opts := range []*objstore.GetOptions{nil, {Offset: 5, Length: 5}, {Offset: 1 << 40}} {
		_, _, err := b.Get(ctx, "no/such/key", opts)
		wantErr(t, fmt.Sprintf("Get(missing, %+v)", opts), err, objstore.ErrNotFound)
	}
	put(t, b, "dir/file", []byte("x"))
	_, _, err := b.Get(ctx, "dir", nil)
	wantErr(t, `Get("dir") where only "dir/file" exists`, err, objstore.ErrNotFound)
}

// ---- conditional writes ----

func testCreateOnlyRace(t *testing.T, b objstore.Bucket, c config) {
	const writers = 16
	ctx := ctxFor(t)
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		errs    [writers]error
		results [writers]objstore.ObjectInfo
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			body := fmt.Sprintf("written by writer %d", i)
			results[i], errs[i] = b.Put(ctx, "race/marker", strings.NewReader(body), &objstore.PutOptions{IfNoneMatch: true})
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won the create-only race", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, objstore.ErrPrecondition):
			t.Fatalf("writer %d: got error %v, want ErrPrecondition", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won the create-only race")
	}
	got, info := get(t, b, "race/marker", nil)
	if want := fmt.Sprintf("written by writer %d", winner); string(got) != want || info.ETag != results[winner].ETag {
		t.Fatalf("stored %q (ETag %s), want the winner's %q (ETag %s)", got, info.ETag, want, results[winner].ETag)
	}
	// Create-only on an existing key fails and leaves it alone, also for a
	// body of unknown size.
	_, err := b.Put(ctx, "race/marker", io.MultiReader(strings.NewReader("late")), &objstore.PutOptions{IfNoneMatch: true, Size: -1})
	wantErr(t, "create-only Put of an existing key", err, objstore.ErrPrecondition)
	if again, _ := get(t, b, "race/marker", nil); !bytes.Equal(again, got) {
		t.Fatalf("after a refused create-only Put the object is %q, want %q", again, got)
	}
}

// multipartSize is larger than any backend's part size (16 MiB by
// default), so that S3 backends take the multipart path.
const multipartSize = 34 << 20

func testCreateOnlyRaceMultipart(t *testing.T, b objstore.Bucket, c config) {
	if testing.Short() {
		t.Skip("uploads 100 MiB; skipped in -short mode; scripts/test.sh runs it")
	}
	const writers = 3
	ctx := ctxFor(t)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  [writers]error
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = b.Put(ctx, "big/marker", RandomReader(uint64(i), multipartSize), &objstore.PutOptions{IfNoneMatch: true, Size: -1})
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won the multipart create-only race", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, objstore.ErrPrecondition):
			t.Fatalf("writer %d: got error %v, want ErrPrecondition", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won the multipart create-only race")
	}
	info, sum := hashObject(t, b, "big/marker")
	if info.Size != multipartSize || sum != RandomSum(uint64(winner), multipartSize) {
		t.Fatalf("stored %d bytes that are not the winner's %d bytes", info.Size, multipartSize)
	}
	// A multipart If-Match write with a stale ETag is refused too.
	_, err := b.Put(ctx, "big/marker", RandomReader(99, multipartSize), &objstore.PutOptions{IfMatch: "0123456789abcdef0123456789abcdef-3", Size: -1})
	wantErr(t, "multipart Put with a wrong IfMatch", err, objstore.ErrPrecondition)
	// And one with the right ETag succeeds.
	if _, err := b.Put(ctx, "big/marker", RandomReader(7, multipartSize), &objstore.PutOptions{IfMatch: info.ETag}); err != nil {
		t.Fatalf("multipart Put with the right IfMatch: %v", err)
	}
	if _, sum := hashObject(t, b, "big/marker"); sum != RandomSum(7, multipartSize) {
		t.Fatal("multipart Put with the right IfMatch did not store its body")
	}
}

func hashObject(t *testing.T, b objstore.Bucket, key string) (objstore.ObjectInfo, [32]byte) {
	t.Helper()
	rc, info, err := b.Get(ctxFor(t), key, nil)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatalf("Get(%q): reading: %v", key, err)
	}
	return info, [32]byte(h.Sum(nil))
}

func testPutIfMatch(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	v1 := put(t, b, "k", []byte("version 1"))
	v2, err := b.Put(ctx, "k", strings.NewReader("version 2"), &objstore.PutOptions{IfMatch: v1.ETag})
	if err != nil {
		t.Fatalf("Put with the current ETag: %v", err)
	}
	if v2.ETag == v1.ETag || v2.ETag == "" {
		t.Fatalf("ETag after replacing the content: got %q, had %q", v2.ETag, v1.ETag)
	}
	_, err = b.Put(ctx, "k", strings.NewReader("version 3"), &objstore.PutOptions{IfMatch: v1.ETag})
	wantErr(t, "Put with a stale ETag", err, objstore.ErrPrecondition)
	if got, info := get(t, b, "k", nil); string(got) != "version 2" || info.ETag != v2.ETag {
		t.Fatalf("after a refused If-Match Put: %q (ETag %s), want version 2 (ETag %s)", got, info.ETag, v2.ETag)
	}
	_, err = b.Put(ctx, "k", strings.NewReader("again"), &objstore.PutOptions{IfNoneMatch: true})
	wantErr(t, "create-only Put of an existing key", err, objstore.ErrPrecondition)
	_, err = b.Put(ctx, "missing", strings.NewReader("x"), &objstore.PutOptions{IfMatch: v1.ETag})
	wantErr(t, "If-Match Put of a missing key", err, objstore.ErrNotFound)
	wantMissing(t, b, "missing")
}

func testPutSizeMismatch(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	for _, size := range []int64{3, 10} {
		_, err := b.Put(ctx, "sized", strings.NewReader("12345"), &objstore.PutOptions{Size: size})
		if err == nil {
			t.Fatalf("Put of 5 bytes with Size %d succeeded", size)
		}
		wantMissing(t, b, "sized")
	}
	if _, err := b.Put(ctx, "sized", strings.NewReader("12345"), &objstore.PutOptions{Size: 5}); err != nil {
		t.Fatalf("Put with the right Size: %v", err)
	}
}

// cancellingReader yields n bytes and cancels its context after cancelAt.
type cancellingReader struct {
	r        io.Reader
	read     int64
	cancelAt int64
	cancel   context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	if c.read >= c.cancelAt {
		c.cancel()
	}
	return n, err
}

func testCancelledPut(t *testing.T, b objstore.Bucket, c config) {
	for _, tc := range []struct {
		name string
		opts objstore.PutOptions
	}{
		{"plain", objstore.PutOptions{Size: -1}},
		{"create-only", objstore.PutOptions{IfNoneMatch: true}},
		{"known size", objstore.PutOptions{Size: 64 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cancelled := func() error {
				ctx, cancel := context.WithCancel(ctxFor(t))
				defer cancel()
				r := &cancellingReader{r: RandomReader(1, 64<<20), cancelAt: 1 << 20, cancel: cancel}
				_, err := b.Put(ctx, "cancelled/"+tc.name, r, &tc.opts)
				return err
			}
			if err := cancelled(); err == nil {
				t.Fatal("Put whose context was cancelled after 1 MiB succeeded")
			}
			wantMissing(t, b, "cancelled/"+tc.name)
			if tc.opts.IfNoneMatch {
				return
			}
			old := put(t, b, "cancelled/"+tc.name, []byte("old content"))
			if err := cancelled(); err == nil {
				t.Fatal("Put whose context was cancelled after 1 MiB succeeded")
			}
			if got, info := get(t, b, "cancelled/"+tc.name, nil); string(got) != "old content" || info.ETag != old.ETag {
				t.Fatalf("after a cancelled Put the object is %q (ETag %s), want the old content", got, info.ETag)
			}
		})
	}
	ctx, cancel := context.WithCancel(ctxFor(t))
	cancel()
	if _, err := b.Put(ctx, "cancelled/before", strings.NewReader("x"), nil); err == nil {
		t.Fatal("Put with an already cancelled context succeeded")
	}
	wantMissing(t, b, "cancelled/before")
}

// ---- keys ----

func testKeys(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	keys := []string{
		"with space", "dir with space/file name", "plus+sign", "per%cent", "per%20cent", "eq=ual",
		"ques?tion", "hash#tag", "amp&ersand", "semi;colon", "comma,", "quote'\"", "back\\slash",
		"tilde~", "star*", "paren()", "bracket[]", "brace{}", "caret^", "pipe|", "dollar$", "at@", "colon:",
		"tab\tkey", "caf\u00e9", "cafe\u0301", "日本語/キー", "emoji-😀", "\u00a0nbsp", "x/" + strings.Repeat("long", 40),
	}
	// 1,000 bytes in segments of 100 (file systems limit a name to 255).
	var long strings.Builder
	for i := 0; long.Len() < 1000-101; i++ {
		long.WriteString(strings.Repeat(string(rune('a'+i)), 99) + "/")
	}
	long.WriteString(strings.Repeat("z", 1000-long.Len()))
	keys = append(keys, long.String())
	if len(long.String()) != 1000 {
		t.Fatalf("long key has %d bytes", len(long.String()))
	}
	keys = append(keys, c.odd...)
	for _, k := range keys {
		pinfo := put(t, b, k, []byte(k))
		info, err := b.Stat(ctx, k)
		if err != nil || info.Key != k || info.ETag != pinfo.ETag {
			t.Fatalf("Stat(%q) = %+v, %v", k, info, err)
		}
		if got, _ := get(t, b, k, nil); string(got) != k {
			t.Fatalf("Get(%q) = %q", k, got)
		}
		if got := listKeys(t, b, k, nil); len(got) == 0 || got[0] != k {
			t.Fatalf("List(%q) = %q, want it first", k, got)
		}
	}
	equalKeys(t, "List", listKeys(t, b, "", nil), sorted(keys))
	for _, k := range keys[:6] {
		if _, err := b.Copy(ctx, k+" copy", k, nil); err != nil {
			t.Fatalf("Copy(%q): %v", k, err)
		}
		if got, _ := get(t, b, k+" copy", nil); string(got) != k {
			t.Fatalf("Get(copy of %q) = %q", k, got)
		}
	}
	for _, k := range keys {
		if err := b.Delete(ctx, k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
		if _, err := b.Stat(ctx, k); !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("Stat(%q) after Delete: %v, want ErrNotFound", k, err)
		}
	}
}

func testInvalidKeys(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	bad := append([]string{"", "nul\x00byte"}, c.refused...)
	for _, k := range bad {
		_, err := b.Put(ctx, k, strings.NewReader("x"), nil)
		wantErr(t, fmt.Sprintf("Put(%q)", k), err, objstore.ErrInvalidKey)
		// Reads of such keys fail too; how depends on the server (MinIO
		// answers a HEAD with a bare 400).
		if _, err = b.Stat(ctx, k); err == nil {
			t.Fatalf("Stat(%q) succeeded", k)
		}
	}
	if got := listKeys(t, b, "", nil); len(got) != 0 {
		t.Fatalf("List after refused Puts = %q, want nothing", got)
	}
}

func testEmptyObject(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	if _, err := b.Put(ctx, "empty/nil", nil, nil); err != nil {
		t.Fatalf("Put with a nil body: %v", err)
	}
	if _, err := b.Put(ctx, "empty/reader", io.MultiReader(), &objstore.PutOptions{Size: -1}); err != nil {
		t.Fatalf("Put of an empty body of unknown size: %v", err)
	}
	if _, err := b.Put(ctx, "empty/create-only", strings.NewReader(""), &objstore.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatalf("create-only Put of an empty body: %v", err)
	}
	for _, k := range []string{"empty/nil", "empty/reader", "empty/create-only"} {
		info, err := b.Stat(ctx, k)
		if err != nil || info.Size != 0 || info.ETag == "" {
			t.Fatalf("Stat(%q) = %+v, %v; want size 0 and an ETag", k, info, err)
		}
		for _, opts := range []*objstore.GetOptions{nil, {Length: 10}, {Offset: 5}, {Offset: 0, Length: -1}, {IfMatch: info.ETag, Length: 1}} {
			got, ginfo := get(t, b, k, opts)
			if len(got) != 0 || ginfo.Size != 0 || ginfo.ETag != info.ETag {
				t.Fatalf("Get(%q, %+v) = %q, %+v", k, opts, got, ginfo)
			}
		}
	}
	equalKeys(t, "List", listKeys(t, b, "empty/", nil), []string{"empty/create-only", "empty/nil", "empty/reader"})
}

// ---- copy, delete, etags ----

func testCopy(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	src := put(t, b, "copy/src", []byte("source content"))
	info, err := b.Copy(ctx, "copy/dst", "copy/src", nil)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	st, err := b.Stat(ctx, "copy/dst")
	if err != nil || info.Key != "copy/dst" || info.ETag == "" || info.ETag != st.ETag || info.Size != src.Size {
		t.Fatalf("Copy returned %+v; Stat(dst) = %+v, %v", info, st, err)
	}
	if got, _ := get(t, b, "copy/dst", nil); string(got) != "source content" {
		t.Fatalf("copied content %q", got)
	}
	// The copy is independent of the source.
	put(t, b, "copy/src", []byte("new source"))
	if got, _ := get(t, b, "copy/dst", nil); string(got) != "source content" {
		t.Fatalf("copied content changed with the source: %q", got)
	}
	// Copy replaces an existing destination, and works with IfMatch.
	cur, _ := b.Stat(ctx, "copy/src")
	if _, err := b.Copy(ctx, "copy/dst", "copy/src", &objstore.CopyOptions{IfMatch: cur.ETag}); err != nil {
		t.Fatalf("Copy with the right IfMatch: %v", err)
	}
	if got, _ := get(t, b, "copy/dst", nil); string(got) != "new source" {
		t.Fatalf("copied content %q, want new source", got)
	}
	_, err = b.Copy(ctx, "copy/dst", "copy/src", &objstore.CopyOptions{IfMatch: src.ETag})
	wantErr(t, "Copy with a stale IfMatch", err, objstore.ErrPrecondition)
	_, err = b.Copy(ctx, "copy/other", "copy/missing", nil)
	wantErr(t, "Copy of a missing source", err, objstore.ErrNotFound)
	wantMissing(t, b, "copy/other")
	// Copy of an empty object.
	put(t, b, "copy/empty", nil)
	if info, err := b.Copy(ctx, "copy/empty2", "copy/empty", nil); err != nil || info.Size != 0 {
		t.Fatalf("Copy of an empty object = %+v, %v", info, err)
	}
}

func testDelete(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	put(t, b, "del/a/b/c", []byte("x"))
	put(t, b, "del/keep", []byte("y"))
	if err := b.Delete(ctx, "del/a/b/c"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, b, "del/a/b/c")
	if err := b.Delete(ctx, "del/a/b/c"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if err := b.Delete(ctx, "never/was"); err != nil {
		t.Fatalf("Delete of a never-written key: %v", err)
	}
	equalKeys(t, "List", listKeys(t, b, "", nil), []string{"del/keep"})
	// The key can be written again, also below the removed directories.
	put(t, b, "del/a/b/c", []byte("z"))
	put(t, b, "del/a/x", nil)
}

// testDeleteKeys checks objstore.DeleteKeys and DeletePrefix over the
// backend (its DeleteMany, or the loop for backends without one): every
// deletable key goes, missing keys are not errors, and a key the store
// refuses is reported by name rather than dropped or stopping the others.
func testDeleteKeys(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	keys := []string{"dk/a", "dk/b/c", "dk/b/d/e", "dk/z"}
	putAll(t, b, append(slices.Clone(keys), "keep/x"))
	bad := "dk/bad\x00key"
	err := objstore.DeleteKeys(ctx, b, []string{"dk/a", bad, "dk/b/c", "dk/never", "dk/b/d/e"})
	var de *objstore.DeleteError
	if !errors.As(err, &de) || len(de.Failed) != 1 || de.Failed[0].Key != bad {
		t.Fatalf("DeleteKeys with one invalid key: got %v, want a *DeleteError naming only %q", err, bad)
	}
	wantErr(t, "DeleteKeys' error of the invalid key", err, objstore.ErrInvalidKey)
	equalKeys(t, "List after DeleteKeys", listKeys(t, b, "", nil), []string{"dk/z", "keep/x"})
	if err := objstore.DeleteKeys(ctx, b, nil); err != nil {
		t.Fatalf("DeleteKeys(nil): %v", err)
	}
	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprintf("dp/%02d/%d", i%7, i))
	}
	putAll(t, b, many)
	n, err := objstore.DeletePrefix(ctx, b, "dp/")
	if err != nil || n != len(many) {
		t.Fatalf("DeletePrefix = %d, %v; want %d, nil", n, err, len(many))
	}
	equalKeys(t, "List after DeletePrefix", listKeys(t, b, "", nil), []string{"dk/z", "keep/x"})
}

func testETag(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	e1 := put(t, b, "e", []byte("content A")).ETag
	for range 3 {
		st, err := b.Stat(ctx, "e")
		if err != nil || st.ETag != e1 {
			t.Fatalf("Stat ETag %q, %v; want the stable %q", st.ETag, err, e1)
		}
	}
	if _, info := get(t, b, "e", nil); info.ETag != e1 {
		t.Fatalf("Get ETag %q, want %q", info.ETag, e1)
	}
	if l := list(t, b, "e", nil); len(l) != 1 || l[0].ETag != e1 {
		t.Fatalf("List = %+v, want ETag %q", l, e1)
	}
	seen := map[string]bool{e1: true}
	for i, content := range []string{"content B", "content C", "content A2", "content D"} {
		e := put(t, b, "e", []byte(content)).ETag
		if seen[e] {
			t.Fatalf("write %d: ETag %q was seen before", i, e)
		}
		seen[e] = true
		if st, _ := b.Stat(ctx, "e"); st.ETag != e {
			t.Fatalf("Stat ETag %q after write %d, want %q", st.ETag, i, e)
		}
	}
}

func testProbeCreateOnly(t *testing.T, b objstore.Bucket, c config) {
	ctx := ctxFor(t)
	if err := objstore.ProbeCreateOnly(ctx, b, "_fanout/probe/create-only"); err != nil {
		t.Fatalf("ProbeCreateOnly: %v", err)
	}
	wantMissing(t, b, "_fanout/probe/create-only")
}

func testReaderAt(t *testing.T, b objstore.Bucket, c config) {
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	info := put(t, b, "ra", data)
	r := objstore.NewReaderAt(ctxFor(t), b, "ra", info.ETag, info.Size)
	got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reading through ReaderAt: %d bytes, %v", len(got), err)
	}
	p := make([]byte, 100)
	if n, err := r.ReadAt(p, 950); n != 50 || err != io.EOF || !bytes.Equal(p[:50], data[950:]) {
		t.Fatalf("ReadAt(100 bytes at 950) = %d, %v; want 50, io.EOF", n, err)
	}
	if n, err := r.ReadAt(p, 1000); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
	}
	put(t, b, "ra", []byte("replaced"))
	_, err = r.ReadAt(p, 0)
	wantErr(t, "ReadAt after the object was replaced", err, objstore.ErrPrecondition)
}

// ---- large objects and memory ----

// largeSize is the size of the streamed object in LargeStream.
const largeSize = 200 << 20

func testLargeStream(t *testing.T, b objstore.Bucket, c config) {
	if testing.Short() {
		t.Skip("streams 200 MiB; skipped in -short mode; scripts/test.sh runs it")
	}
	ctx := ctxFor(t)
	var info objstore.ObjectInfo
	up := measureHeap(func() {
		var err error
		info, err = b.Put(ctx, "large/object", RandomReader(42, largeSize), &objstore.PutOptions{Size: -1})
		if err != nil {
			t.Errorf("Put of 200 MiB: %v", err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	if info.Size != largeSize {
		t.Fatalf("Put returned size %d, want %d", info.Size, largeSize)
	}
	var sum [32]byte
	down := measureHeap(func() {
		var gotInfo objstore.ObjectInfo
		gotInfo, sum = hashObject(t, b, "large/object")
		if gotInfo.Size != largeSize || gotInfo.ETag != info.ETag {
			t.Errorf("Get info %+v, want size %d and ETag %q", gotInfo, largeSize, info.ETag)
		}
	})
	t.Logf("200 MiB: peak heap growth %.1f MiB uploading, %.1f MiB downloading", float64(up)/(1<<20), float64(down)/(1<<20))
	if sum != RandomSum(42, largeSize) {
		t.Fatal("downloaded bytes differ from the uploaded ones")
	}
	if up > 200<<20 {
		t.Errorf("uploading 200 MiB grew the heap by %d MiB, want under 200 MiB", up>>20)
	}
	if down > 64<<20 {
		t.Errorf("downloading 200 MiB grew the heap by %d MiB, want under 64 MiB", down>>20)
	}
}

// measureHeap runs f and returns the largest growth of HeapInuse over its
// value before f, sampled every 20 ms.
func measureHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	<-stopped
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// RandomReader returns n deterministic pseudo-random bytes derived from
// seed, generated as they are read (never held in memory). It has no Len,
// Size or Seek method, so backends see a body of unknown size.
func RandomReader(seed uint64, n int64) io.Reader {
	return &randomReader{src: rand.NewChaCha8(seedBytes(seed)), left: n}
}

// RandomSum returns the SHA-256 of RandomReader(seed, n)'s bytes.
func RandomSum(seed uint64, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, RandomReader(seed, n))
	return [32]byte(h.Sum(nil))
}

func seedBytes(seed uint64) (s [32]byte) {
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return s
}

type randomReader struct {
	src  *rand.ChaCha8
	left int64
}

func (r *randomReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, _ := r.src.Read(p)
	r.left -= int64(n)
	return n, nil
}
