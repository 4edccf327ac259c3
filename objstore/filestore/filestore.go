// Package filestore is the objstore backend over a local directory: the
// directory is the bucket and a key is a path relative to it, so that
// fanout reads a user's files in place ("file:///data/in/" lists
// /data/in/2024/a.csv as key "2024/a.csv") and writes outputs as plain
// files. It is the embedded mode's store and works on Linux and other Unix
// systems (it needs hard links, rename and flock).
//
// # Keys
//
// Because keys are paths, a key is refused with objstore.ErrInvalidKey when
// it is empty, holds a NUL byte, starts or ends with "/" (directory markers
// are not supported), has an empty segment ("a//b"), a "." or ".." segment, a
// segment longer than 255 bytes, or its first segment is ".fanout-tmp"
// (reserved, see below). A key also cannot be an object and a directory of
// other objects at once: with "a/b" stored, a Put of "a" fails with
// ErrInvalidKey, and the other way round. Reads treat a directory as a
// missing object.
//
// # Writes
//
// A Put writes the body into a temporary file under <root>/.fanout-tmp/
// (same file system, so the final step is atomic) and then, holding the
// key's lock, publishes it: rename(2) for a plain or If-Match write, link(2)
// for a create-only write (link fails with EEXIST when the key exists,
// atomically, even against writers that do not take the lock). Locks are
// flock(2) locks on one of 1,024 lock files under .fanout-tmp/locks/ chosen
// by a hash of the key, so conditional writes are atomic across goroutines
// and processes sharing the directory (not across NFS clients). A failed or
// cancelled Put removes its temporary file and leaves the key untouched.
// Files are not fsynced unless Options.Sync is set: without it, a Put that
// returned survives a crash of the process but maybe not of the machine.
// A Store keeps the lock files it used open; Close releases them.
//
// # ETags
//
// An ETag is a hash of the file's size, modification time in nanoseconds,
// inode and device number. It needs no read of the content, is the same in
// every process, and changes whenever the file is replaced (a rename brings
// a new inode) or rewritten in place (the modification time moves). Put
// stamps each new file with a modification time unique within the process,
// so that an inode reused within the file system's timestamp granularity
// does not bring an old ETag back. Copying or restoring a directory with
// other tools changes the ETags of its files.
package filestore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fanout-dev/fanout/objstore"
)

// TmpDir is the name of the directory under the root that holds temporary
// files and lock files. It is never listed and cannot be written as a key.
const TmpDir = ".fanout-tmp"

// maxSegment is the longest file name most file systems accept.
const maxSegment = 255

// lockStripes is the number of lock files keys are hashed onto.
const lockStripes = 1024

var _ objstore.Bucket = (*Store)(nil)
var _ objstore.Describer = (*Store)(nil)
var _ objstore.Closer = (*Store)(nil)
var _ objstore.Linker = (*Store)(nil)

// Options are the file store's settings.
type Options struct {
	// Sync makes Put fsync each file and its directory before returning, so
	// that a written object survives a power failure. Off by default: it
	// costs milliseconds per object and process crashes are safe without it.
	Sync bool
}

// Store is a directory used as a bucket.
type Store struct {
	root    string
	tmp     string
	opts    Options
	stripes [lockStripes]stripe

	closeMu   sync.Mutex
	closed    bool
	lockFiles []*os.File // opened so far

	// link makes hard links (os.Link when nil); tests make it fail as a
	// file system without links, or a file at its link limit, would.
	link func(oldname, newname string) error
}

// stripe is one of the locks keys hash onto; f is opened on first use.
type stripe struct {
	mu sync.Mutex
	f  *os.File
}

// New returns a Store rooted at root, made absolute. The root need not
// exist: reads of a missing root find nothing and the first Put creates it.
// It is an error when root exists and is not a directory.
func New(root string) (*Store, error) { return NewWithOptions(root, Options{}) }

// NewWithOptions is New with settings.
func NewWithOptions(root string, opts Options) (*Store, error) {
	if root == "" {
		return nil, errors.New("filestore: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("filestore: root %q: %w", root, err)
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("filestore: root %q is not a directory", abs)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("filestore: root: %w", err)
	}
	return &Store{root: abs, tmp: filepath.Join(abs, TmpDir), opts: opts}, nil
}

// Root returns the store's absolute root directory.
func (s *Store) Root() string { return s.root }

// Describe returns the store's file URL.
func (s *Store) Describe() string {
	return objstore.Location{Scheme: "file", Root: s.root}.StoreURL()
}

// CheckKey reports whether key is a valid file store key (see the package
// documentation), wrapping objstore.ErrInvalidKey when not.
func CheckKey(key string) error {
	bad := func(why string) error {
		return fmt.Errorf("filestore: key %q: %s: %w", key, why, objstore.ErrInvalidKey)
	}
	switch {
	case key == "":
		return bad("empty")
	case strings.IndexByte(key, 0) >= 0:
		return bad("holds a NUL byte")
	case strings.HasPrefix(key, "/"):
		return bad("starts with '/'")
	case strings.HasSuffix(key, "/"):
		return bad("ends with '/' (directory markers are not supported)")
	}
	for i, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return bad("has an empty segment")
		case seg == "." || seg == "..":
			return bad("has a '.' or '..' segment")
		case len(seg) > maxSegment:
			return bad(fmt.Sprintf("has a segment of %d bytes (at most %d)", len(seg), maxSegment))
		case i == 0 && seg == TmpDir:
			return bad("is under the reserved " + TmpDir + "/")
		}
	}
	return nil
}

// path maps a valid key to its file, checking that it stays inside root.
func (s *Store) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	p := filepath.Join(s.root, filepath.FromSlash(key))
	if rel, err := filepath.Rel(s.root, p); err != nil || rel == "." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || rel == ".." {
		return "", fmt.Errorf("filestore: key %q leaves the root: %w", key, objstore.ErrInvalidKey)
	}
	return p, nil
}

// Stat implements objstore.Bucket.
func (s *Store) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	p, err := s.path(key)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return objstore.ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return objstore.ObjectInfo{}, s.mapErr("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: stat %q: not a file: %w", key, objstore.ErrNotFound)
	}
	return info(key, fi), nil
}

// Get implements objstore.Bucket. The file is opened before Get returns, so
// the reader sees the version that was current then, even if the key is
// replaced while it reads.
func (s *Store) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	if opts == nil {
		opts = &objstore.GetOptions{}
	}
	p, err := s.path(key)
	if err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	f, oi, err := s.open(key, p, opts.IfMatch)
	if err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	off := max(opts.Offset, 0)
	if off >= oi.Size {
		f.Close()
		return io.NopCloser(strings.NewReader("")), oi, nil
	}
	n := oi.Size - off
	if opts.Length > 0 {
		n = min(n, opts.Length)
	}
	return &fileReader{Reader: io.NewSectionReader(f, off, n), f: f}, oi, nil
}

// open opens key's file and checks ifMatch against it.
func (s *Store) open(key, p, ifMatch string) (*os.File, objstore.ObjectInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, objstore.ObjectInfo{}, s.mapErr("get", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, objstore.ObjectInfo{}, fmt.Errorf("filestore: get %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, objstore.ObjectInfo{}, fmt.Errorf("filestore: get %q: not a file: %w", key, objstore.ErrNotFound)
	}
	oi := info(key, fi)
	if ifMatch != "" && ifMatch != oi.ETag {
		f.Close()
		return nil, objstore.ObjectInfo{}, fmt.Errorf("filestore: get %q: ETag is %s, not %s: %w", key, oi.ETag, ifMatch, objstore.ErrPrecondition)
	}
	return f, oi, nil
}

type fileReader struct {
	io.Reader
	f *os.File
}

func (r *fileReader) Close() error { return r.f.Close() }

// Put implements objstore.Bucket.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	if opts == nil {
		opts = &objstore.PutOptions{}
	}
	p, err := s.path(key)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	if opts.IfNoneMatch && opts.IfMatch != "" {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: put %q: IfNoneMatch and IfMatch together never match: %w", key, objstore.ErrPrecondition)
	}
	tmp, err := s.writeTemp(ctx, r, opts.Size)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: put %q: %w", key, err)
	}
	defer os.Remove(tmp) // after a link, or after a failure; a no-op after a rename
	return s.publish(ctx, key, p, tmp, opts)
}

// writeTemp copies r into a new temporary file and returns its path.
func (s *Store) writeTemp(ctx context.Context, r io.Reader, size int64) (name string, err error) {
	if err := os.MkdirAll(s.tmp, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	var n int64
	if src, ok := r.(*os.File); ok {
		// A file (a spooled upload): the kernel copies it
		// (copy_file_range), without passing the bytes through this
		// process; the context is checked before and after.
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if n, err = io.Copy(f, src); err != nil {
			return "", fmt.Errorf("writing body: %w", err)
		}
	} else if r != nil {
		n, err = io.Copy(f, objstore.ContextReader(ctx, r))
		if err != nil {
			return "", fmt.Errorf("writing body: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if size > 0 && n != size {
		return "", fmt.Errorf("body has %d bytes, PutOptions.Size says %d", n, size)
	}
	if s.opts.Sync {
		if err := f.Sync(); err != nil {
			return "", err
		}
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	// See the package documentation: a unique mtime keeps ETags unique
	// when inodes are reused within one timestamp tick.
	t := uniqueTime()
	if err := os.Chtimes(f.Name(), t, t); err != nil {
		return "", err
	}
	return f.Name(), nil
}

var (
	lastTimeMu sync.Mutex
	lastTime   time.Time
)

// uniqueTime returns the current time, made strictly increasing within the
// process.
func uniqueTime() time.Time {
	lastTimeMu.Lock()
	defer lastTimeMu.Unlock()
	t := time.Now().Round(0)
	if !t.After(lastTime) {
		t = lastTime.Add(time.Nanosecond)
	}
	lastTime = t
	return t
}

// publish moves tmp into place at p under key's lock, applying opts'
// conditions.
func (s *Store) publish(ctx context.Context, key, p, tmp string, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	unlock, err := s.lock(key)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: put %q: %w", key, err)
	}
	defer unlock()
	if err := ctx.Err(); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: put %q: %w", key, err)
	}
	if opts.IfMatch != "" {
		cur, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || err == nil && !cur.Mode().IsRegular():
			return objstore.ObjectInfo{}, fmt.Errorf("filestore: put %q with If-Match: %w", key, objstore.ErrNotFound)
		case err != nil:
			return objstore.ObjectInfo{}, fmt.Errorf("filestore: put %q: %w", key, err)
		case etag(cur) != opts.IfMatch:
			return objstore.ObjectInfo{}, fmt.Errorf("filestore: put %q: ETag is %s, not %s: %w", key, etag(cur), opts.IfMatch, objstore.ErrPrecondition)
		}
	}
	// A concurrent Delete may remove the parent directories we create
	// (it prunes empty ones), so retry a few times.
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return objstore.ObjectInfo{}, s.conflictErr("put", key, err)
		}
		if opts.IfNoneMatch {
			err = os.Link(tmp, p)
		} else {
			err = os.Rename(tmp, p)
		}
		if err == nil {
			break
		}
		if errors.Is(err, fs.ErrNotExist) && attempt < 5 {
			continue
		}
		if opts.IfNoneMatch && errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Lstat(p); serr == nil && fi.IsDir() {
				return objstore.ObjectInfo{}, s.conflictErr("put", key, err)
			}
			return objstore.ObjectInfo{}, fmt.Errorf("filestore: put %q: object exists: %w", key, objstore.ErrPrecondition)
		}
		return objstore.ObjectInfo{}, s.conflictErr("put", key, err)
	}
	if s.opts.Sync {
		if err := syncDir(filepath.Dir(p)); err != nil {
			return objstore.ObjectInfo{}, fmt.Errorf("filestore: put %q: %w", key, err)
		}
	}
	fi, err := os.Stat(p)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: put %q: %w", key, err)
	}
	return info(key, fi), nil
}

// conflictErr explains an error that arises when a key's path runs into a
// file where a directory is needed or the other way round.
func (s *Store) conflictErr(op, key string, err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, fs.ErrExist) ||
		errors.Is(err, syscall.ENOTEMPTY) {
		return fmt.Errorf("filestore: %s %q: the key is also the directory of other keys, or one of its directories is an object (%w): %w",
			op, key, err, objstore.ErrInvalidKey)
	}
	return fmt.Errorf("filestore: %s %q: %w", op, key, err)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// Copy implements objstore.Bucket with a hard link to the source's file
// when the file system allows it: the store never changes a file in
// place (every Put writes a new one and renames it over the key), so the
// copy keeps its bytes when the source is overwritten or deleted, and it
// keeps the source's ETag, as S3 does for a copied single-part object.
// Elsewhere it copies the bytes into a new file.
func (s *Store) Copy(ctx context.Context, dst, src string, opts *objstore.CopyOptions) (objstore.ObjectInfo, error) {
	if opts == nil {
		opts = &objstore.CopyOptions{}
	}
	sp, err := s.path(src)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	dp, err := s.path(dst)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	f, _, err := s.open(src, sp, opts.IfMatch)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: copy to %q: %w", dst, err)
	}
	if tmp, ok := s.linkTemp(f, sp); ok {
		f.Close()
		defer os.Remove(tmp)
		return s.publish(ctx, dst, dp, tmp, &objstore.PutOptions{})
	}
	tmp, err := s.writeTemp(ctx, f, 0)
	f.Close()
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: copy %q to %q: %w", src, dst, err)
	}
	defer os.Remove(tmp)
	return s.publish(ctx, dst, dp, tmp, &objstore.PutOptions{})
}

// Link implements objstore.Linker: dst becomes a hard link to src's file
// (no byte is copied). Where link(2) refuses that file (EMLINK: it has the
// most links its file system allows; a file system that refuses links),
// src's file is moved to dst instead, with one rename(2) under both keys'
// locks, so that a failure or a crash leaves it at src or at dst, never
// nowhere; src is then gone. dst keeps src's ETag either way: the same
// inode, size and modification time.
func (s *Store) Link(ctx context.Context, dst, src string, opts *objstore.CopyOptions) (objstore.ObjectInfo, error) {
	if opts == nil {
		opts = &objstore.CopyOptions{}
	}
	sp, err := s.path(src)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	dp, err := s.path(dst)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	f, _, err := s.open(src, sp, opts.IfMatch)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: link to %q: %w", dst, err)
	}
	defer f.Close()
	if tmp, ok := s.linkTemp(f, sp); ok {
		defer os.Remove(tmp)
		return s.publish(ctx, dst, dp, tmp, &objstore.PutOptions{})
	}
	return s.moveFile(ctx, src, sp, dst, dp, f)
}

// moveFile renames src's file (at sp) to dst (at dp), holding both keys'
// locks, provided sp is still the open file f (the version whose ETag was
// checked): a source replaced since is ErrPrecondition, one deleted since
// ErrNotFound.
func (s *Store) moveFile(ctx context.Context, src, sp, dst, dp string, f *os.File) (objstore.ObjectInfo, error) {
	unlock, err := s.lockKeys(src, dst)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: link %q to %q: %w", src, dst, err)
	}
	defer unlock()
	if err := ctx.Err(); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: link %q to %q: %w", src, dst, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: link %q to %q: %w", src, dst, err)
	}
	cur, err := os.Lstat(sp)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: link %q to %q: source deleted: %w", src, dst, objstore.ErrNotFound)
	case err != nil:
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: link %q to %q: %w", src, dst, err)
	case !os.SameFile(fi, cur):
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: link %q to %q: source changed: %w", src, dst, objstore.ErrPrecondition)
	}
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(filepath.Dir(dp), 0o755); err != nil {
			return objstore.ObjectInfo{}, s.conflictErr("link", dst, err)
		}
		err = os.Rename(sp, dp)
		if err == nil {
			break
		}
		// A concurrent Delete may prune the directories just made.
		if errors.Is(err, fs.ErrNotExist) && attempt < 5 {
			continue
		}
		return objstore.ObjectInfo{}, s.conflictErr("link", dst, err)
	}
	s.pruneDirs(filepath.Dir(sp))
	if s.opts.Sync {
		if err := errors.Join(syncDir(filepath.Dir(dp)), syncDir(filepath.Dir(sp))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return objstore.ObjectInfo{}, fmt.Errorf("filestore: link %q to %q: %w", src, dst, err)
		}
	}
	moved, err := os.Stat(dp)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("filestore: link %q to %q: %w", src, dst, err)
	}
	return info(dst, moved), nil
}

// linkTemp links the file at p into the temporary directory and reports
// whether the link is to the open file f (the version whose ETag was
// checked): p may have been replaced in between, or the file system may
// not do hard links; the caller copies f's bytes then.
func (s *Store) linkTemp(f *os.File, p string) (string, bool) {
	if err := os.MkdirAll(s.tmp, 0o755); err != nil {
		return "", false
	}
	name := filepath.Join(s.tmp, "copy-"+strconv.FormatUint(rand.Uint64(), 36))
	link := os.Link
	if s.link != nil {
		link = s.link
	}
	if err := link(p, name); err != nil {
		return "", false
	}
	fi, err1 := f.Stat()
	li, err2 := os.Lstat(name) // a link to a symlink is not the file
	if err1 != nil || err2 != nil || !li.Mode().IsRegular() || !os.SameFile(fi, li) {
		os.Remove(name)
		return "", false
	}
	return name, true
}

// Delete implements objstore.Bucket. It also removes the key's parent
// directories that became empty, up to the root.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	unlock, err := s.lock(key)
	if err != nil {
		return fmt.Errorf("filestore: delete %q: %w", key, err)
	}
	defer unlock()
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return nil
	case err != nil:
		return fmt.Errorf("filestore: delete %q: %w", key, err)
	case fi.IsDir():
		return nil // a directory of other keys, not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("filestore: delete %q: %w", key, err)
	}
	s.pruneDirs(filepath.Dir(p))
	return nil
}

// pruneDirs removes dir and its parents up to the root while they are
// empty.
func (s *Store) pruneDirs(dir string) {
	for ; dir != s.root && strings.HasPrefix(dir, s.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty (or gone): stop
		}
	}
}

func (s *Store) mapErr(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("filestore: %s %q: %w", op, key, objstore.ErrNotFound)
	}
	return fmt.Errorf("filestore: %s %q: %w", op, key, err)
}

// info describes the file fi as the object key.
func info(key string, fi fs.FileInfo) objstore.ObjectInfo {
	return objstore.ObjectInfo{Key: key, Size: fi.Size(), ETag: etag(fi), ModTime: fi.ModTime()}
}

// etag hashes size, mtime, inode and device (see the package documentation).
func etag(fi fs.FileInfo) string {
	var buf [32]byte
	binary.LittleEndian.PutUint64(buf[0:], uint64(fi.Size()))
	binary.LittleEndian.PutUint64(buf[8:], uint64(fi.ModTime().UnixNano()))
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		binary.LittleEndian.PutUint64(buf[16:], uint64(st.Ino))
		binary.LittleEndian.PutUint64(buf[24:], uint64(st.Dev))
	}
	sum := sha256.Sum256(buf[:])
	return hex.EncodeToString(sum[:16])
}

// lockKeys takes the stripe locks of keys, each stripe once, in stripe
// order (so that two callers locking the same two stripes cannot each hold
// one and wait for the other).
func (s *Store) lockKeys(keys ...string) (unlock func(), err error) {
	stripes := make([]int, 0, len(keys))
	for _, k := range keys {
		stripes = append(stripes, stripeOf(k))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	var unlocks []func()
	unlock = func() {
		for _, u := range slices.Backward(unlocks) {
			u()
		}
	}
	for _, i := range stripes {
		u, err := s.lockStripe(i)
		if err != nil {
			unlock()
			return nil, err
		}
		unlocks = append(unlocks, u)
	}
	return unlock, nil
}

// lock takes key's stripe lock (see the package documentation). A mutex
// excludes the goroutines of this process, flock other processes: flock
// alone would not, since the goroutines share the stripe's open file.
func (s *Store) lock(key string) (unlock func(), err error) {
	return s.lockStripe(stripeOf(key))
}

// lockStripe takes stripe i's lock (lock).
func (s *Store) lockStripe(i int) (unlock func(), err error) {
	st := &s.stripes[i]
	st.mu.Lock()
	if st.f == nil {
		if st.f, err = s.openLockFile(i); err != nil {
			st.mu.Unlock()
			return nil, err
		}
	}
	for {
		err = syscall.Flock(int(st.f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		st.mu.Unlock()
		return nil, fmt.Errorf("flock %s: %w", st.f.Name(), err)
	}
	return func() {
		syscall.Flock(int(st.f.Fd()), syscall.LOCK_UN)
		st.mu.Unlock()
	}, nil
}

func (s *Store) openLockFile(i int) (*os.File, error) {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil, errors.New("store is closed")
	}
	dir := filepath.Join(s.tmp, "locks")
	name := filepath.Join(dir, fmt.Sprintf("%04d", i))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	s.lockFiles = append(s.lockFiles, f)
	return f, nil
}

func stripeOf(key string) int {
	sum := sha256.Sum256([]byte(key))
	return int(binary.BigEndian.Uint16(sum[:]) % lockStripes)
}

// Close releases the lock files the store keeps open. The store must not
// be used afterwards.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.closed = true
	var errs []error
	for _, f := range s.lockFiles {
		errs = append(errs, f.Close())
	}
	s.lockFiles = nil
	return errors.Join(errs...)
}
