package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"path"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// How an attempt's output files reach the final layout without a copy.
//
// On a store with uploads (objstore.Uploader: miniostore, s3store), an
// attempt writes each output file as a multipart upload of its final key
// (<out>/<partition>/part-<job>-<task>-<n>.<ext>, or <out>/_rejected/...)
// and does not complete it; its marker records the upload ID and the parts
// (number, ETag, size). An open upload is invisible: no listing, glob, GET
// or HEAD of the output sees any of it. The commit completes the winners'
// uploads (a request per file, no byte moves) and, once the commit record
// exists, aborts every other open upload of the job (the losers': attempts
// that lost the marker race, or died with uploads open), as Hadoop S3A's
// "magic" committer does.
//
// On the file store (objstore.Linker), attempts stage files under
// <out>/_fanout/<job>/staging/ with names ending in .staged (no reader's
// glob of data extensions matches them) and the commit hard-links them into
// place (a move of the file, one rename, where link(2) refuses it: see
// filestore.Store.Link).
//
// The copy commit (a server-side Copy per file) remains only for stores
// that have neither: a Bucket implementation outside this module, or a
// wrapper that embeds objstore.Bucket and so hides the backend's
// Uploader.
//
// Crash cases, step by step (the commit is re-run by whoever comes next:
// `fanout run`/`wait`, an idle worker, `fanout commit`):
//
//  1. Attempt killed with uploads open: its uploads stay open and
//     invisible. If another attempt of the task wins, the commit aborts
//     them after writing the commit record; if the job never commits,
//     `fanout gc` aborts them (AbortJobUploads), and a bucket lifecycle rule
//     (AbortIncompleteMultipartUpload, docs/lambda.md) is the backstop.
//  2. Attempt that lost the marker race: it aborts its own uploads
//     (publish), as it removes its staged files.
//  3. Committer killed before completing anything: nothing is visible;
//     the next commit does it all.
//  4. Committer killed after completing some files: those files are
//     visible under the output prefix (a glob reader may see them; _SUCCESS
//     does not exist yet); the next commit completes the rest. Completing
//     a file already completed finds its upload gone and recognises the
//     object at its key as the upload's completion by its ETag, which S3
//     computes from the parts' ETags (MD5 of their MD5s, "-N"): see
//     objstore.Uploader. The same check covers a completion whose
//     response was lost.
//  5. Committer killed after completing all files, before the commit
//     record: as 4, every completion is recognised; the record is then
//     created (If-None-Match: *).
//  6. Committer killed after the commit record, before _SUCCESS: the next
//     commit reads the record, checks every file is in place, writes
//     _SUCCESS and cleans up.
//  7. Committer killed after _SUCCESS, before cleanup: loser uploads and
//     staged files remain (invisible to readers); the next commit (or
//     verification) removes them, else `fanout gc`.
//
// An upload gone before its commit (a lifecycle rule shorter than the
// job, gc run on a live job, a completion cut off on MinIO) makes the
// commit fail naming the file (LostUploadError): its bytes are gone. The
// commit has fenced the output by then (owner record committing), so the
// output stays this job's, with the files completed before kept. The
// file's task is given back (Engine.giveBackLost): a map chunk (with the
// job's compaction or reduce stage, prepared again from the map markers),
// a compaction task, or a reduce task, which merges the same shuffle
// index again; it runs again and the next commit completes its new
// upload.

// LostUploadError is a winning file whose open upload is gone when the
// commit completes it (aborted by a lifecycle rule shorter than the job or
// by gc on a live job, or broken by a completion cut off mid-request on
// MinIO): its bytes are gone. The commit then gives the file's task back
// (Requeued): its marker goes and the queue forgets the job, which is
// rebuilt from the bucket with that task to run again (as a redrive does),
// while the output stays fenced for this job; the next commit completes
// the new attempt's upload. A task that could not be given back (the
// queue or the store failed meanwhile) leaves Requeued false: the commit
// fails naming the file, and the next one tries again.
type LostUploadError struct {
	Key      string
	Upload   string // the lost upload's ID
	Task     string // the map chunk or reduce task given back, when Requeued
	Requeued bool
	Err      error
}

func (e *LostUploadError) Error() string {
	if e.Requeued {
		return fmt.Sprintf("completing the upload of %s: its bytes are gone (an upload aborted or broken before the commit completed it); its task %s runs again and the commit follows: %v", e.Key, e.Task, e.Err)
	}
	return fmt.Sprintf("completing the upload of %s: its bytes are gone (the upload was aborted before the commit: a lifecycle rule shorter than the job, `fanout gc` on a live job; or broken by a completion cut off mid-request on MinIO), and giving its task back to run again failed (logged above); its fence keeps the output (owner record committing) and the files completed so far are visible without _SUCCESS: the job's next commit (fanout wait, or an idle worker) tries again: %v", e.Key, e.Err)
}

func (e *LostUploadError) Unwrap() error { return e.Err }

// stageFile writes one finished output file of an attempt: on a store with
// uploads, as an open upload of final; elsewhere as the object staged,
// which the commit links or copies to final. The returned file has Key,
// Size, ETag (staged objects) and Upload set. Like putStaged, the write
// is not cut by the attempt's ctx once started; an upload that finishes
// after ctx is done is aborted, and ctx's cause returned.
func stageFile(ctx context.Context, b objstore.Bucket, staged, final string, r io.Reader, opts *objstore.PutOptions) (manifest.OutputFile, error) {
	up, ok := b.(objstore.Uploader)
	if !ok {
		info, err := putStaged(ctx, b, staged, r, opts)
		if err != nil {
			return manifest.OutputFile{}, err
		}
		return manifest.OutputFile{Key: staged, Size: opts.Size, ETag: info.ETag}, nil
	}
	if ctx.Err() != nil {
		return manifest.OutputFile{}, context.Cause(ctx)
	}
	timeout := stagedPutTimeout + time.Duration(opts.Size/stagedPutMinRate)*time.Second
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	u, err := up.PutUpload(wctx, final, r, opts)
	if err != nil {
		return manifest.OutputFile{}, err
	}
	if ctx.Err() != nil {
		// Lease lost while writing: nobody will name this upload.
		_ = up.AbortUpload(wctx, u.Key, u.ID)
		return manifest.OutputFile{}, context.Cause(ctx)
	}
	f := manifest.OutputFile{Key: final, Size: u.Size(), Upload: &manifest.Upload{ID: u.ID}}
	for _, p := range u.Parts {
		f.Upload.Parts = append(f.Upload.Parts, manifest.UploadPart{Number: p.Number, ETag: p.ETag, Size: p.Size})
	}
	return f, nil
}

// abortOwnUploads aborts the open uploads among files, which an attempt
// wrote and will not publish, even when ctx is done (the attempt's
// context, cancelled when its lease is lost), best effort.
func abortOwnUploads(ctx context.Context, b objstore.Bucket, files []manifest.OutputFile) {
	up, ok := b.(objstore.Uploader)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, f := range files {
		if f.Upload != nil {
			_ = up.AbortUpload(ctx, f.Key, f.Upload.ID)
		}
	}
}

// discardAttempt drops everything an attempt wrote that will not be
// published: its open uploads (files) and its staging prefix.
func (e *Engine) discardAttempt(ctx context.Context, js *jobState, staging string, files ...[]manifest.OutputFile) {
	for _, fs := range files {
		abortOwnUploads(ctx, js.out, fs)
	}
	e.removePrefix(context.WithoutCancel(ctx), js.out, staging)
}

// publishFile puts one winning file in place at dst and returns its
// committed description: it completes the file's upload, or links or
// copies its staged object. Each is idempotent, so that a commit re-run
// after a crash at any step, or run by two committers at once, ends with
// the same objects: a completion or a link that already happened is
// recognised (objstore.Uploader, objstore.Linker).
func publishFile(ctx context.Context, b objstore.Bucket, f manifest.OutputFile, dst string) (manifest.OutputFile, error) {
	if f.Upload != nil {
		up, ok := b.(objstore.Uploader)
		if !ok {
			return f, fmt.Errorf("completing the upload of %s: the store does not complete multipart uploads (a wrapper that hides objstore.Uploader?)", f.Key)
		}
		u := objstore.Upload{Key: f.Key, ID: f.Upload.ID}
		for _, p := range f.Upload.Parts {
			u.Parts = append(u.Parts, objstore.UploadPart{Number: p.Number, ETag: p.ETag, Size: p.Size})
		}
		info, err := up.CompleteUpload(ctx, u)
		if errors.Is(err, objstore.ErrNotFound) {
			// The store did not recognise the object at the key as the
			// upload's completion: its ETag is not the one computed from
			// the parts, as on a bucket that encrypts by default without
			// this process knowing. Only this job's commit completes
			// uploads of this key (the job ID is in the name), and only
			// the winner's: an object of the file's size there is it.
			if cur, serr := b.Stat(ctx, f.Key); serr == nil && cur.Size == f.Size {
				info, err = cur, nil
			}
		}
		if errors.Is(err, objstore.ErrNotFound) {
			return f, &LostUploadError{Key: f.Key, Upload: f.Upload.ID, Err: err}
		}
		if err != nil {
			return f, fmt.Errorf("completing the upload of %s: %w", f.Key, err)
		}
		f.ETag, f.Upload = info.ETag, nil
		return f, nil
	}
	var (
		info objstore.ObjectInfo
		err  error
	)
	if l, ok := b.(objstore.Linker); ok {
		info, err = l.Link(ctx, dst, f.Key, &objstore.CopyOptions{IfMatch: f.ETag})
		if errors.Is(err, objstore.ErrNotFound) {
			// Linked by rename before a crash: dst keeps the staged ETag.
			if cur, serr := b.Stat(ctx, dst); serr == nil && cur.ETag == f.ETag {
				info, err = cur, nil
			}
		}
	} else {
		info, err = b.Copy(ctx, dst, f.Key, &objstore.CopyOptions{IfMatch: f.ETag})
	}
	if err != nil {
		return f, fmt.Errorf("publishing %s at %s: %w", f.Key, dst, err)
	}
	f.Key, f.ETag = dst, info.ETag
	return f, nil
}

// JobUploads yields the open multipart uploads job's attempts left under
// the output (layout's prefix): their files' names start with
// part-<job>-. A store without uploads yields nothing. After the job's
// commit record exists, every upload it yields is garbage; before it, one
// of them may be a winner the commit has yet to complete.
func JobUploads(ctx context.Context, out objstore.Bucket, layout manifest.Layout, job string) iter.Seq2[objstore.Upload, error] {
	return func(yield func(objstore.Upload, error) bool) {
		up, ok := out.(objstore.Uploader)
		if !ok {
			return
		}
		stem := fileStem(job, "")
		for u, err := range up.ListUploads(ctx, layout.Prefix) {
			if err != nil {
				yield(objstore.Upload{}, err)
				return
			}
			if !strings.HasPrefix(path.Base(u.Key), stem) {
				continue // another job's
			}
			if !yield(u, nil) {
				return
			}
		}
	}
}

// AbortJobUploads aborts every open upload of job under the output and
// returns how many it aborted. Call it only when none of them can still
// be committed: after the job's commit record exists (the commit does),
// or for a job that failed or was abandoned (`fanout gc`). A listing
// error stops it; an abort that fails is skipped and reported.
func AbortJobUploads(ctx context.Context, out objstore.Bucket, layout manifest.Layout, job string) (int, error) {
	up, ok := out.(objstore.Uploader)
	if !ok {
		return 0, nil
	}
	n := 0
	var errs []error
	for u, err := range JobUploads(ctx, out, layout, job) {
		if err != nil {
			return n, errors.Join(append(errs, err)...)
		}
		if err := up.AbortUpload(ctx, u.Key, u.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
