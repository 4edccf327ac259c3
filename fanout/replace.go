package fanout

// Replacing a committed output (--overwrite, JobSpec.Overwrite).
//
// A job with Overwrite may take over an output whose owner job R has
// committed, once R's commit is complete (_SUCCESS names R): its owner
// record then names the job with Replaces R (owner.go). R's files stay
// where they are while the job runs; the job's own files are named with
// its ID, so the two never collide. The job commits as any other (fence,
// publish its files, create its commit record, with Replaces R), then:
//
//  1. _SUCCESS is switched from R to the job by one write conditional on
//     the ETag of the _SUCCESS read that named R (If-Match) — the single
//     switch. Every other write of _SUCCESS is create-only, so a late
//     committer of R can never switch it back.
//  2. R's files (its commit record's data and rejected-record files) are
//     deleted. A reader that follows _SUCCESS to the commit record it
//     names, and reads the files that record lists, sees R's result
//     whole until the switch and the job's whole after it, never a mix
//     and never neither; one that read R's record just before the switch
//     may find R's files gone and must start again from _SUCCESS. A
//     reader that lists the prefix (a glob) sees R's and the job's files
//     side by side between the job's publication and the deletion.
//
// A job with Overwrite that fails never reaches its fence: R's output
// and _SUCCESS are left as they were.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// readSuccess reads which job the output's _SUCCESS names ("" when there
// is none) and its ETag.
func readSuccess(ctx context.Context, out objstore.Bucket, layout manifest.Layout) (string, string, error) {
	rc, info, err := out.Get(ctx, layout.SuccessKey(), nil)
	if errors.Is(err, objstore.ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("reading %s: %w", layout.SuccessKey(), err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return "", "", fmt.Errorf("reading %s: %w", layout.SuccessKey(), err)
	}
	var s struct {
		Job string `json:"job"`
	}
	if json.Unmarshal(body, &s) != nil || s.Job == "" {
		return "(unknown)", info.ETag, nil
	}
	return s.Job, info.ETag, nil
}

// switchSuccess makes _SUCCESS name js's job: created when there is none,
// replaced (If-Match) when it names the job rec replaces, left alone when
// it names the job already. It reports whether _SUCCESS names the job
// now: false when it names a third job (one that replaced this job
// since, or an output that is not this job's), which is left as it is.
func (e *Engine) switchSuccess(ctx context.Context, js *jobState, rec *manifest.CommitRecord) (bool, error) {
	body := fmt.Sprintf("{\"job\":%q}\n", js.job)
	for range ownerRetries {
		named, etag, err := readSuccess(ctx, js.out, js.layout)
		if err != nil {
			return false, err
		}
		opts := &objstore.PutOptions{Size: int64(len(body)), ContentType: "application/json"}
		switch {
		case named == js.job:
			return true, nil
		case named == "":
			opts.IfNoneMatch = true
		case rec.Replaces != "" && named == rec.Replaces:
			opts.IfMatch = etag
		default:
			e.log.Warn("_SUCCESS names another job: left as it is", "job", js.job, "named", named)
			return false, nil
		}
		_, err = js.out.Put(ctx, js.layout.SuccessKey(), strings.NewReader(body), opts)
		if err == nil {
			return true, nil
		}
		if !lostRace(err) {
			return false, fmt.Errorf("writing _SUCCESS: %w", err)
		}
	}
	return false, fmt.Errorf("writing _SUCCESS: it kept changing")
}

// removeReplaced deletes the files of the job rec replaced, as its commit
// record lists them, once _SUCCESS names rec's job (best effort: run
// again by every verification of the commit).
func (e *Engine) removeReplaced(ctx context.Context, js *jobState, rec *manifest.CommitRecord) {
	if rec.Replaces == "" {
		return
	}
	body, err := readAll(ctx, js.out, js.layout.CommitKey(rec.Replaces), 1<<30)
	if err != nil {
		if !errors.Is(err, objstore.ErrNotFound) {
			e.log.Warn("reading the replaced job's commit record failed", "job", js.job, "replaced", rec.Replaces, "err", err)
		}
		return
	}
	old, err := manifest.DecodeCommit(body)
	if err != nil {
		e.log.Warn("reading the replaced job's commit record failed", "job", js.job, "replaced", rec.Replaces, "err", err)
		return
	}
	// Both records' files are read a part at a time; ours are held as 8
	// bytes a key (fileSet: a collision keeps an old file, never deletes
	// one of ours).
	ours := newFileSet()
	add := func(files []manifest.OutputFile) error {
		for _, f := range files {
			ours.add(f.Key, 0)
		}
		return nil
	}
	err = eachRecordPart(ctx, js.out, rec, add)
	if err == nil {
		ours.seal()
		remove := func(files []manifest.OutputFile) error {
			var keys []string
			for _, f := range files {
				if !ours.has(f.Key, 0) {
					keys = append(keys, f.Key)
				}
			}
			return objstore.DeleteKeys(ctx, js.out, keys)
		}
		err = eachRecordPart(ctx, js.out, old, remove)
	}
	if err != nil {
		e.log.Warn("deleting the replaced job's files failed; fanout gc or the next verification removes them", "job", js.job, "replaced", rec.Replaces, "err", err)
	}
}
