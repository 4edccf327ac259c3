package fanout_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// TestVerifyingACommittedJobFindsEachMissingFile commits a job of one
// file per chunk, then removes one committed file and rewrites another
// with another size: verifying the job (TryCommit on a committed job)
// must name both, whether it checks the files with a HEAD each (a few
// files) or against a listing (more than a thousand), and must not be
// misled by keys of no job beside them, whether the commit record's
// files are in one part or in many.
func TestVerifyingACommittedJobFindsEachMissingFile(t *testing.T) {
	for _, tt := range []struct {
		name      string
		chunks    int
		partFiles int // Config.CommitPartFiles
	}{
		{"a HEAD per file", 20, 0},
		{"a listing", 1500, 0},
		{"a listing, the record's files in 15 parts", 1500, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			b := simstore.New(simstore.Config{Name: "verify"})
			for i := range tt.chunks {
				if _, err := b.Put(ctx, fmt.Sprintf("in/%05d.txt", i), strings.NewReader(fmt.Sprintf("line %d\n", i)), nil); err != nil {
					t.Fatal(err)
				}
			}
			q := memqueue.New(memqueue.Config{})
			e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(), CommitPartFiles: tt.partFiles,
				Open: func(context.Context, string) (objstore.Bucket, error) { return b, nil }})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			spec := manifest.JobSpec{Inputs: []string{"s3://verify/in/"}, Function: "convert", Output: "s3://verify/out/",
				OutputFormat: "jsonl", MaxObjectsPerChunk: 1}
			res, err := e.Run(ctx, spec.WithDefaults(), fanout.RunOptions{Workers: 8})
			if err != nil {
				t.Fatal(err)
			}
			// The committed files, as the bucket has them (the oracle).
			var files []string
			for info, err := range b.List(ctx, "out/", nil) {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(info.Key, "out/_") {
					files = append(files, info.Key)
				}
			}
			if len(files) != tt.chunks || res.Files != tt.chunks {
				t.Fatalf("%d files in the bucket, %d in the result; want %d", len(files), res.Files, tt.chunks)
			}
			if _, err := e.TryCommit(ctx, spec.Output, res.Job); err != nil {
				t.Fatalf("verifying the job as committed: %v; want no error", err)
			}

			gone, changed := files[len(files)/3], files[2*len(files)/3]
			if err := b.Delete(ctx, gone); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Put(ctx, changed, strings.NewReader("{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n"), nil); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"out/a-stranger.txt", gone + ".bak", "out/zz/other.txt"} {
				if _, err := b.Put(ctx, k, strings.NewReader("x"), nil); err != nil {
					t.Fatal(err)
				}
			}
			_, err = e.TryCommit(ctx, spec.Output, res.Job)
			if err == nil || !strings.Contains(err.Error(), "2 file(s) are missing or changed") ||
				!strings.Contains(err.Error(), gone) || !strings.Contains(err.Error(), changed) {
				t.Fatalf("verifying the job: %v; want 2 files missing or changed: %s and %s", err, gone, changed)
			}
		})
	}
}
