package simstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/objstore"
)

var (
	_ objstore.Uploader     = (*Store)(nil)
	_ objstore.BatchDeleter = (*Store)(nil)
)

// More request kinds: S3's multipart requests and DeleteObjects.
const (
	KindCreateUpload   = "CREATE_UPLOAD"
	KindUploadPart     = "UPLOAD_PART"
	KindCompleteUpload = "COMPLETE_UPLOAD"
	KindAbortUpload    = "ABORT_UPLOAD"
	KindListUploads    = "LIST_UPLOADS"
	KindDeleteObjects  = "DELETE_OBJECTS"
)

// PartSize is the size of the parts PutUpload cuts a body into.
const PartSize = 16 << 20

type upload struct {
	key       string
	id        string
	body      *body
	parts     []objstore.UploadPart
	initiated time.Time
}

// uploadETag is the ETag S3 gives a completed multipart upload: the MD5
// of its parts' MD5s, a dash and the number of parts.
func uploadETag(parts []objstore.UploadPart) (string, bool) {
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(p.ETag)
		if err != nil {
			return "", false
		}
		h.Write(b)
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(parts)), true
}

// PutUpload implements objstore.Uploader: a CreateMultipartUpload
// request and an UploadPart request per PartSize bytes.
func (s *Store) PutUpload(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.Upload, error) {
	if err := checkKey(key); err != nil {
		return objstore.Upload{}, err
	}
	var size int64
	if opts != nil {
		size = opts.Size
	}
	b, err := s.readBody(ctx, r, size)
	if err != nil {
		return objstore.Upload{}, fmt.Errorf("simstore: upload %q: %w", key, err)
	}
	s.umu.Lock()
	s.seqUploads++
	u := &upload{key: key, id: fmt.Sprintf("sim-upload-%d", s.seqUploads), body: b, initiated: time.Now().UTC()}
	s.umu.Unlock()
	if err := s.request(ctx, KindCreateUpload, key, 0, func() error { return nil }); err != nil {
		b.release()
		return objstore.Upload{}, err
	}
	for off, n := int64(0), 1; off < b.size || n == 1; off, n = off+PartSize, n+1 {
		length := min(PartSize, b.size-off)
		var etag string
		err := s.request(ctx, KindUploadPart, key, length, func() error {
			h := md5.New()
			if _, err := io.Copy(h, b.reader(off, length)); err != nil {
				return err
			}
			etag = hex.EncodeToString(h.Sum(nil))
			return nil
		})
		if err != nil {
			b.release()
			return objstore.Upload{}, err
		}
		u.parts = append(u.parts, objstore.UploadPart{Number: n, ETag: etag, Size: length})
	}
	s.umu.Lock()
	s.uploads[u.id] = u
	s.umu.Unlock()
	return objstore.Upload{Key: key, ID: u.id, Parts: slices.Clone(u.parts)}, nil
}

// CompleteUpload implements objstore.Uploader.
func (s *Store) CompleteUpload(ctx context.Context, want objstore.Upload) (objstore.ObjectInfo, error) {
	if err := checkKey(want.Key); err != nil {
		return objstore.ObjectInfo{}, err
	}
	etag, ok := uploadETag(want.Parts)
	if !ok {
		return objstore.ObjectInfo{}, fmt.Errorf("simstore: complete %q: a part's ETag is not an MD5", want.Key)
	}
	var info objstore.ObjectInfo
	err := s.request(ctx, KindCompleteUpload, want.Key, 0, func() error {
		s.umu.Lock()
		u, ok := s.uploads[want.ID]
		s.umu.Unlock()
		if !ok || u.key != want.Key {
			// Gone: completed before (a lost response), or aborted.
			o, found := s.lookup(want.Key)
			if !found || o.etag != etag {
				return objstore.ErrNotFound
			}
			info = o.info()
			return nil
		}
		if !slices.Equal(u.parts, want.Parts) {
			return fmt.Errorf("parts %v are not the upload's: InvalidPart", want.Parts)
		}
		// Not under the uploads' lock: a completion waits for the
		// bucket's. Two completions of one upload store the same object.
		obj := &object{key: u.key, data: u.body.data, file: u.body.file, size: u.body.size, etag: etag, mod: time.Now().UTC()}
		if err := s.store(obj, false, ""); err != nil {
			return err
		}
		s.umu.Lock()
		delete(s.uploads, u.id)
		s.umu.Unlock()
		info = obj.info()
		return nil
	})
	return info, err
}

// AbortUpload implements objstore.Uploader.
func (s *Store) AbortUpload(ctx context.Context, key, id string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return s.request(ctx, KindAbortUpload, key, 0, func() error {
		s.umu.Lock()
		defer s.umu.Unlock()
		if u, ok := s.uploads[id]; ok && u.key == key {
			u.body.release()
			delete(s.uploads, id)
		}
		return nil
	})
}

// ListUploads implements objstore.Uploader: one request per 1,000
// uploads.
func (s *Store) ListUploads(ctx context.Context, prefix string) iter.Seq2[objstore.Upload, error] {
	return func(yield func(objstore.Upload, error) bool) {
		var all []objstore.Upload
		err := s.request(ctx, KindListUploads, prefix, 0, func() error {
			s.umu.Lock()
			defer s.umu.Unlock()
			for _, u := range s.uploads {
				if strings.HasPrefix(u.key, prefix) {
					all = append(all, objstore.Upload{Key: u.key, ID: u.id, Initiated: u.initiated})
				}
			}
			return nil
		})
		if err != nil {
			yield(objstore.Upload{}, err)
			return
		}
		slices.SortFunc(all, func(a, b objstore.Upload) int {
			if c := strings.Compare(a.Key, b.Key); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		for i, u := range all {
			if i > 0 && i%1000 == 0 {
				s.count(KindListUploads) // the next page
			}
			if !yield(u, nil) {
				return
			}
		}
	}
}

// DeleteMany implements objstore.BatchDeleter: one DeleteObjects request
// per 1,000 keys, admitted (and throttled) as one write request of its
// first key's partition.
func (s *Store) DeleteMany(ctx context.Context, keys []string) error {
	var failed []objstore.KeyError
	valid := make([]string, 0, len(keys))
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			failed = append(failed, objstore.KeyError{Key: k, Err: err})
			continue
		}
		valid = append(valid, k)
	}
	for batch := range slices.Chunk(valid, objstore.MaxDeleteBatch) {
		err := s.request(ctx, KindDeleteObjects, batch[0], 0, func() error {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, k := range batch {
				if old, ok := s.tree.Delete(&object{key: k}); ok {
					delete(s.byKey, k)
					s.bytes -= old.size
				}
			}
			return nil
		})
		if err != nil {
			for _, k := range batch {
				failed = append(failed, objstore.KeyError{Key: k, Err: err})
			}
		}
	}
	if failed != nil {
		return &objstore.DeleteError{Failed: failed}
	}
	return nil
}

func (b *body) reader(off, length int64) io.Reader {
	if b.file != nil {
		return io.NewSectionReader(b.file, off, length)
	}
	return bytes.NewReader(b.data[off : off+length])
}
