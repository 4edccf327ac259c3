// Package objstore is the storage contract the fanout engine needs from an
// S3-compatible bucket or a local directory, and nothing more.
//
// A Bucket is one bucket (or one directory root). Keys are UTF-8 strings
// using "/" as a separator; the contract never interprets them beyond that.
// Every backend refuses, with ErrInvalidKey, the empty key and keys holding a
// NUL byte; S3 backends also refuse keys that are not valid UTF-8 or longer
// than 1,024 bytes (S3's limit).
//
// Portable keys (what fanout writes) also avoid what path-based stores
// cannot hold: a leading "/", empty segments ("a//b"), "." and ".." segments,
// segments longer than 255 bytes, a trailing "/", and an object that is also
// the "directory" of other objects ("a" next to "a/b"). A file store refuses
// all of these with ErrInvalidKey (see package filestore). MinIO refuses the
// segment rules (mapped to ErrInvalidKey), silently drops a leading "/", and
// accepts "a" next to "a/b" but then leaves "a/b" out of listings. AWS S3
// accepts them all, so such keys can still be read from S3 inputs.
//
// Backends live in subpackages (miniostore, s3store, filestore) and every
// backend runs the one conformance suite in objstoretest. Errors a caller
// branches on are the sentinels below; backends map their SDK's errors onto
// them and wrap them with %w so that errors.Is works.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
)

var (
	// ErrNotFound reports that the object (or the bucket) does not exist.
	ErrNotFound = errors.New("objstore: not found")
	// ErrPrecondition reports that a conditional request (If-Match on read or
	// write, If-None-Match: * on write) was refused by the store.
	ErrPrecondition = errors.New("objstore: precondition failed")
	// ErrInvalidKey reports a key the backend refuses to store (for example a
	// key that would leave a file store's root directory, or a NUL byte, or,
	// in a file store, a key that is also the "directory" of another key).
	ErrInvalidKey = errors.New("objstore: invalid key")
	// ErrAccessDenied reports that the store refused the request to these
	// credentials (S3's AccessDenied): asking again does not help.
	ErrAccessDenied = errors.New("objstore: access denied")
	// ErrCreateOnlyNotEnforced is returned by ProbeCreateOnly when the store
	// accepted a second create-only write of the same key.
	ErrCreateOnlyNotEnforced = errors.New("objstore: store does not enforce create-only writes (If-None-Match: *)")
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	// Key is the object's full key within the bucket.
	Key string
	// Size is the object's length in bytes.
	Size int64
	// ETag is an opaque entity tag, without surrounding quotes. It is stable
	// while the object is not rewritten and changes when the content changes.
	// Rewriting identical bytes may keep the ETag (S3 ETags are content
	// hashes) or change it (file stores: a new file is a new ETag).
	ETag string
	// VersionID is set when the store keeps versions; empty otherwise.
	VersionID string
	// ModTime is the time the object was last written. In what Put and
	// Copy return, S3 backends may give the local clock at the end of the
	// write (S3 does not return the time on PUT); Stat and List give the
	// store's own time.
	ModTime time.Time
}

// ListOptions are per-call settings for List.
type ListOptions struct {
	// StartAfter makes the listing begin with the first key strictly
	// greater than it (S3's start-after).
	StartAfter string
	// PageSize is a hint of how many keys to request per round trip;
	// zero lets the backend choose (1,000 for S3).
	PageSize int
}

// GetOptions are per-call settings for Get.
type GetOptions struct {
	// Offset is the first byte to return.
	Offset int64
	// Length is the maximum number of bytes to return; zero or a negative
	// value means to the end of the object, so the zero GetOptions reads the
	// whole object. A range that extends past the end is truncated to the
	// object's end; an Offset at or past the end returns an empty body and no
	// error (the object's existence and IfMatch are still checked), so that
	// readers see io.EOF rather than S3's 416 Range Not Satisfiable.
	Length int64
	// IfMatch, when set, makes the read fail with ErrPrecondition unless the
	// object's current ETag equals it. A missing object is ErrNotFound.
	IfMatch string
}

// PutOptions are per-call settings for Put.
type PutOptions struct {
	// IfNoneMatch makes the write create-only (If-None-Match: *): it fails
	// with ErrPrecondition when an object already exists at the key. Under
	// concurrency exactly one of several create-only writers succeeds.
	IfNoneMatch bool
	// IfMatch, when set, makes the write succeed only when the object exists
	// with this ETag; otherwise ErrPrecondition, or ErrNotFound when the
	// object is missing (every backend in this module distinguishes).
	//
	// A conditional write whose request was retried after a lost response
	// (connection reset) can be refused by its own first, successful attempt;
	// backends resolve that case by comparing the stored ETag with the one
	// the write would produce, so a writer is not told it lost to itself. Two
	// writers sending identical bytes may then both see success.
	IfMatch string
	// ContentType is stored with the object when the backend supports it.
	ContentType string
	// Size is the body's exact length when known in advance; zero or a
	// negative value means unknown (a nil body is an empty object). When
	// Size > 0 a body of another length fails the Put and nothing is written.
	// Backends buffer at most one part to choose between a single PUT and a
	// multipart upload, so a known size is a check, not a requirement.
	Size int64
}

// CopyOptions are per-call settings for Copy.
type CopyOptions struct {
	// IfMatch makes the copy fail with ErrPrecondition unless the source's
	// ETag equals it.
	IfMatch string
}

// Bucket is the contract every backend implements.
//
// All methods are safe for concurrent use. A cancelled ctx aborts the call
// and returns ctx's error (possibly wrapped); a write aborted this way leaves
// no object behind and does not replace an existing one.
type Bucket interface {
	// List yields the objects whose keys start with prefix, in ascending
	// byte order of their keys, one page at a time: it never holds the
	// whole listing in memory. Iteration stops at the first error, which is
	// yielded with a zero ObjectInfo. Breaking out of the loop is allowed.
	// Objects written during a listing may or may not appear.
	List(ctx context.Context, prefix string, opts *ListOptions) iter.Seq2[ObjectInfo, error]

	// Stat returns the object's metadata, or ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// Get opens the object (or a byte range of it, see GetOptions) for
	// streaming. The returned ObjectInfo describes the whole object. The
	// caller must Close the reader. Errors: ErrNotFound, ErrPrecondition.
	// Conditions and existence are checked before Get returns.
	Get(ctx context.Context, key string, opts *GetOptions) (io.ReadCloser, ObjectInfo, error)

	// Put streams r into the object at key. Memory use is bounded whatever
	// the body's size (large bodies go up in parts). The object becomes
	// visible atomically, complete, when Put returns nil; on any error no
	// new object is visible at the key. Errors: ErrPrecondition for a
	// failed condition, ErrInvalidKey. A body that is a BytesBody may be
	// sent from its bytes without being read.
	Put(ctx context.Context, key string, r io.Reader, opts *PutOptions) (ObjectInfo, error)

	// Copy copies src to dst within the bucket on the server side, replacing
	// dst atomically. The returned ObjectInfo describes dst. Errors:
	// ErrNotFound when src is missing, ErrPrecondition when opts.IfMatch does
	// not match src.
	Copy(ctx context.Context, dst, src string, opts *CopyOptions) (ObjectInfo, error)

	// Delete removes the object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// Closer is implemented by backends that hold resources to release.
type Closer interface {
	Close() error
}

// Describer is implemented by backends that can name themselves and their
// location for messages, such as "s3://bucket" or "file:///data".
type Describer interface {
	Describe() string
}

// MaxDeleteBatch is the number of keys S3 deletes in one DeleteObjects
// request, and so the size of the batches BatchDeleter sends.
const MaxDeleteBatch = 1000

// BatchDeleter is implemented by backends that delete many keys in few
// requests (S3's DeleteObjects: MaxDeleteBatch keys a request). Callers use
// DeleteKeys, which falls back to one Delete per key.
type BatchDeleter interface {
	// DeleteMany removes every key of keys, as Delete would one by one:
	// deleting a missing key is not an error. A key the store refuses to
	// delete does not stop the others; DeleteMany then returns a
	// *DeleteError naming every such key and its error. A cancelled ctx
	// may leave some keys deleted and others not.
	DeleteMany(ctx context.Context, keys []string) error
}

// KeyError is the error of one key of a batched operation.
type KeyError struct {
	Key string
	Err error
}

// DeleteError reports the keys that DeleteMany or DeleteKeys did not
// delete, each with its error; errors.Is and errors.As see every key's
// error.
type DeleteError struct {
	Failed []KeyError
}

func (e *DeleteError) Error() string {
	if len(e.Failed) == 1 {
		return e.Failed[0].Err.Error()
	}
	return fmt.Sprintf("%d keys not deleted; first: %v", len(e.Failed), e.Failed[0].Err)
}

// Unwrap returns every key's error.
func (e *DeleteError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}

// DeleteKeys deletes keys from b: with b's DeleteMany when b is a
// BatchDeleter (a request per MaxDeleteBatch keys on S3), else with one
// Delete per key. Like DeleteMany, it deletes every key it can and returns
// a *DeleteError naming those it could not; a cancelled ctx stops it with
// ctx's error.
func DeleteKeys(ctx context.Context, b Bucket, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if bd, ok := b.(BatchDeleter); ok {
		return bd.DeleteMany(ctx, keys)
	}
	var failed []KeyError
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.Delete(ctx, k); err != nil {
			failed = append(failed, KeyError{Key: k, Err: err})
		}
	}
	if failed != nil {
		return &DeleteError{Failed: failed}
	}
	return nil
}

// DeletePrefix deletes every object whose key starts with prefix, listing
// page by page and deleting in batches of MaxDeleteBatch keys (memory
// independent of how many objects there are). It returns how many keys it
// asked to delete. Objects written during the call may survive it.
func DeletePrefix(ctx context.Context, b Bucket, prefix string) (int, error) {
	return DeleteListed(ctx, b, b.List(ctx, prefix, nil))
}

// DeleteListed deletes the objects a listing of b yields (b.List's, or a
// filtered one), as DeletePrefix does.
func DeleteListed(ctx context.Context, b Bucket, listing iter.Seq2[ObjectInfo, error]) (int, error) {
	var (
		n      int
		batch  []string
		errs   []KeyError
		listed error
	)
	flush := func() error {
		err := DeleteKeys(ctx, b, batch)
		n += len(batch)
		batch = batch[:0]
		var de *DeleteError
		if errors.As(err, &de) {
			errs = append(errs, de.Failed...)
			return nil
		}
		return err
	}
	for o, err := range listing {
		if err != nil {
			listed = err
			break
		}
		if batch = append(batch, o.Key); len(batch) == MaxDeleteBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := flush(); err != nil {
		return n, err
	}
	if listed != nil {
		return n, listed
	}
	if errs != nil {
		return n, &DeleteError{Failed: errs}
	}
	return n, nil
}

// UploadPart is one part of an Upload.
type UploadPart struct {
	// Number is the part's number, from 1.
	Number int
	// ETag is the part's ETag as the store returned it, without quotes.
	ETag string
	// Size is the part's length in bytes.
	Size int64
}

// Upload is an object written to the store but not visible: an S3
// multipart upload left open. Nothing of it appears at Key (in Stat, Get
// or List) until CompleteUpload; AbortUpload drops it.
type Upload struct {
	// Key is the key the object appears at once completed.
	Key string
	// ID is the store's upload ID.
	ID string
	// Parts are the uploaded parts in order (not set by ListUploads).
	Parts []UploadPart
	// Initiated is when the upload started (set by ListUploads only).
	Initiated time.Time
}

// Size is the object's length once completed: the sum of its parts.
func (u Upload) Size() int64 {
	var n int64
	for _, p := range u.Parts {
		n += p.Size
	}
	return n
}

// Uploader is implemented by stores that can write an object which stays
// invisible until a later request publishes it in place (S3's multipart
// uploads: miniostore and s3store). Publishing an output that way copies
// nothing, where Copy moves every byte again. Stores without it (filestore,
// wrappers that embed only Bucket) publish with Linker or Copy.
//
// An upload left open costs storage until it is completed or aborted; a
// bucket lifecycle rule (AbortIncompleteMultipartUpload) is the backstop
// for uploads whose writer and cleaner both died.
type Uploader interface {
	// PutUpload streams r into a new upload of key and leaves it open: it
	// starts the upload and sends the parts (memory bounded as in Put; a
	// body up to one part is a single part, S3's 5 MiB minimum applies to
	// every part but the last), but does not complete it. On error the
	// upload is aborted. opts' conditions are ignored (they belong to the
	// completion); Size and ContentType apply.
	PutUpload(ctx context.Context, key string, r io.Reader, opts *PutOptions) (Upload, error)

	// CompleteUpload makes u's parts the object at u.Key, atomically,
	// replacing any object there. It is idempotent: when the upload no
	// longer exists but the object at u.Key is u's completion (its ETag is
	// the one S3 computes from u's parts; where encryption hides that, its
	// size is u's), an earlier completion whose response was lost
	// succeeded, and CompleteUpload returns that object. Otherwise a
	// missing upload is ErrNotFound (it was aborted, by a cleaner or a
	// lifecycle rule), as is one that lost its parts. Do not cancel a
	// completion in flight: MinIO can leave an upload whose completion was
	// cut off mid-request without its parts and without the object (see
	// s3compat's invalidPart for the measurement).
	CompleteUpload(ctx context.Context, u Upload) (ObjectInfo, error)

	// AbortUpload drops the upload and its parts. An upload that no
	// longer exists (aborted or completed) is not an error.
	AbortUpload(ctx context.Context, key, id string) error

	// ListUploads yields the open uploads whose keys start with prefix
	// (without Parts), page by page. Iteration stops at the first error.
	ListUploads(ctx context.Context, prefix string) iter.Seq2[Upload, error]
}

// Linker is implemented by stores that can publish an object at another
// key without copying its bytes (filestore: a hard link, or one rename
// where link(2) refuses the file, after which src is gone; a failed Link
// leaves src as it was). dst keeps
// src's ETag either way, so that a caller that finds src missing can tell
// from dst's ETag whether an earlier Link of it succeeded.
type Linker interface {
	// Link publishes src's object at dst, replacing dst atomically.
	// Errors: ErrNotFound when src is missing, ErrPrecondition when
	// opts.IfMatch does not match src.
	Link(ctx context.Context, dst, src string, opts *CopyOptions) (ObjectInfo, error)
}

// BytesBody is a body of Put (or Uploader.PutUpload) held in memory:
// Bytes returns its unread bytes, as *bytes.Buffer's does. A backend may
// send them as they are instead of reading the body into a buffer of its
// own (a copy of every byte written); it does not change them, and reads
// the body no further.
type BytesBody interface {
	io.Reader
	Bytes() []byte
}
