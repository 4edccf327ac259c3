package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/fanout-dev/fanout/objstore"
)

// List implements objstore.Bucket. It walks the tree depth first, reading
// one directory's names at a time, and sorts each directory's entries as
// their keys sort: a subdirectory "a" is ordered as "a/", after a sibling
// file "a-b" or "a.txt" ('-' and '.' are below '/') and before "a0". So keys
// come out in ascending byte order while only the directories on the
// current path are held in memory. Symbolic links to files are listed as
// the files they point to; links to directories, sockets and other special
// files are skipped (following directory links could loop). opts.PageSize
// is ignored.
func (s *Store) List(ctx context.Context, prefix string, opts *objstore.ListOptions) iter.Seq2[objstore.ObjectInfo, error] {
	var startAfter string
	if opts != nil {
		startAfter = opts.StartAfter
	}
	return func(yield func(objstore.ObjectInfo, error) bool) {
		// Start in the deepest directory the prefix names completely.
		dirKey := ""
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dirKey = prefix[:i+1]
		}
		if dirKey != "" && CheckKey(strings.TrimSuffix(dirKey, "/")) != nil {
			return // no valid key lives under such a prefix
		}
		w := walker{s: s, ctx: ctx, prefix: prefix, startAfter: startAfter, yield: yield}
		if err := w.dir(dirKey); err != nil && !errors.Is(err, errStop) {
			yield(objstore.ObjectInfo{}, err)
		}
	}
}

var errStop = errors.New("stop")

type walker struct {
	s          *Store
	ctx        context.Context
	prefix     string
	startAfter string
	yield      func(objstore.ObjectInfo, error) bool
}

type entry struct {
	key   string // full key; directories end in "/"
	name  string
	isDir bool
	d     fs.DirEntry
}

// dir lists the directory whose keys start with dirKey ("" or ending in
// "/").
func (w *walker) dir(dirKey string) error {
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("filestore: list: %w", err)
	}
	path := filepath.Join(w.s.root, filepath.FromSlash(dirKey))
	des, err := os.ReadDir(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("filestore: list %q: %w", dirKey, err)
	}
	entries := make([]entry, 0, len(des))
	for _, d := range des {
		name := d.Name()
		if dirKey == "" && name == TmpDir {
			continue
		}
		isDir := d.IsDir()
		if d.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(filepath.Join(path, name))
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
		} else if !isDir && !d.Type().IsRegular() {
			continue
		}
		key := dirKey + name
		if isDir {
			key += "/"
		}
		// Keep only entries that can hold keys with the prefix.
		if !strings.HasPrefix(key, w.prefix) && !strings.HasPrefix(w.prefix, key) {
			continue
		}
		entries = append(entries, entry{key: key, name: name, isDir: isDir, d: d})
	}
	des = nil
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, e := range entries {
		if e.isDir {
			// Every key below starts with e.key: skip the subtree when all
			// of them are at or before StartAfter.
			if w.startAfter > e.key && !strings.HasPrefix(w.startAfter, e.key) {
				continue
			}
			if err := w.dir(e.key); err != nil {
				return err
			}
			continue
		}
		if e.key <= w.startAfter || !strings.HasPrefix(e.key, w.prefix) {
			continue
		}
		fi, err := os.Stat(filepath.Join(path, e.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since ReadDir
		}
		if err != nil {
			return fmt.Errorf("filestore: list %q: %w", e.key, err)
		}
		if !w.yield(info(e.key, fi), nil) {
			return errStop
		}
	}
	return nil
}
