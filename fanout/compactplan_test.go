package fanout

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/fanout-dev/fanout/manifest"
)

// TestPlanCompactionKeepsEveryFileAndAtMostOneSmallRun cuts random
// partitions of small files into runs and checks, by brute force, what
// the commit relies on: every file in at most one task, tasks within the
// target (and the row limit), at least two files a task, and per
// partition at most one output under half the target, counting a file
// left alone as an output of its own (without a row limit: with one, a
// run ends when the next file would pass it, however few its bytes).
func TestPlanCompactionKeepsEveryFileAndAtMostOneSmallRun(t *testing.T) {
	const target = 1000
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 3))
		maxRows := int64(0)
		if seed%3 == 0 {
			maxRows = 50 + rnd.Int64N(200)
		}
		byPartition := map[string][]manifest.OutputFile{}
		n := 0
		for p := range 1 + rnd.IntN(4) {
			for range rnd.IntN(30) {
				rows := 1 + rnd.Int64N(40)
				byPartition[fmt.Sprint("p=", p)] = append(byPartition[fmt.Sprint("p=", p)],
					manifest.OutputFile{Key: fmt.Sprint("f", n), Size: 1 + rnd.Int64N(target/2-1), Rows: rows, Partition: fmt.Sprint("p=", p)})
				n++
			}
		}
		tasks := planCompaction(byPartition, target, maxRows, 0)
		taken := map[string]bool{}
		small := map[string]int{}
		for _, task := range tasks {
			var size int64
			for _, f := range task.Files {
				if taken[f.Key] || f.Partition != task.Partition {
					t.Fatalf("seed %d: file %s taken twice or into another partition's task", seed, f.Key)
				}
				taken[f.Key] = true
				size += f.Size
			}
			if len(task.Files) < 2 || size > target || maxRows > 0 && task.Rows() > maxRows {
				t.Fatalf("seed %d: a task of %d files, %d bytes, %d rows (target %d, max rows %d)", seed, len(task.Files), size, task.Rows(), target, maxRows)
			}
			if size < target/2 && maxRows == 0 {
				small[task.Partition]++ // with a row limit, a run may be full by rows
			}
		}
		for p, files := range byPartition {
			for _, f := range files {
				if !taken[f.Key] && f.Size < target/2 && maxRows == 0 {
					small[p]++
				}
			}
		}
		for p, k := range small {
			if k > 1 {
				t.Errorf("seed %d: partition %s ends with %d outputs under half the target", seed, p, k)
			}
		}
	}
}

// TestPlanCompactionMergesASmallPartitionWhole: a partition whose small
// files add up to at most the whole bound is one task of all its files,
// in their order, however many targets they add up to; a bigger one is
// cut into runs within the target.
func TestPlanCompactionMergesASmallPartitionWhole(t *testing.T) {
	const target = 1000
	byPartition := map[string][]manifest.OutputFile{}
	for i := range 40 {
		for _, p := range []string{"p=small", "p=big"} {
			size := int64(400)
			if p == "p=big" {
				size = 450
			}
			byPartition[p] = append(byPartition[p], manifest.OutputFile{Key: fmt.Sprint(p, "/f", i), Size: size, Rows: 10, Partition: p})
		}
	}
	tasks := planCompaction(byPartition, target, 0, 40*400)
	var whole []manifest.CompactTask
	runs := 0
	for _, task := range tasks {
		switch task.Partition {
		case "p=small":
			whole = append(whole, task)
		case "p=big":
			runs++
			if len(task.Files) != 2 {
				t.Errorf("p=big: a task of %d files of 450 bytes, want runs of 2 within the target", len(task.Files))
			}
		}
	}
	if len(whole) != 1 || len(whole[0].Files) != 40 {
		t.Fatalf("p=small (16,000 bytes, the bound): %d tasks, want one of its 40 files", len(whole))
	}
	for i, f := range whole[0].Files {
		if f.Key != byPartition["p=small"][i].Key {
			t.Fatalf("p=small: file %d is %s, want %s (chunk order)", i, f.Key, byPartition["p=small"][i].Key)
		}
	}
	if runs != 20 {
		t.Errorf("p=big (18,000 bytes, over the bound): %d tasks, want 20 runs", runs)
	}
}

// TestWholePartitionBytesOfSortedJobs: a sorted Parquet job merges a
// partition's small files whole as an unsorted one does (its task merges
// them into one order, compactSorted); --max-rows-per-file and text
// output keep runs.
func TestWholePartitionBytesOfSortedJobs(t *testing.T) {
	m := &manifest.Manifest{TargetFileSize: 16 << 10}
	m.Spec.OutputFormat = manifest.FormatParquet
	m.Spec.SortBy = []manifest.SortKey{{Column: "pad", Desc: true}}
	if got := wholePartitionBytes(m); got != 256<<20 {
		t.Errorf("sorted Parquet: %d, want 256 MiB", got)
	}
	m.MaxRowsPerFile = 1000
	if got := wholePartitionBytes(m); got != 0 {
		t.Errorf("sorted Parquet with --max-rows-per-file: %d, want 0 (runs)", got)
	}
	m.MaxRowsPerFile, m.Spec.OutputFormat = 0, manifest.FormatJSONL
	if got := wholePartitionBytes(m); got != 0 {
		t.Errorf("sorted JSONL: %d, want 0 (runs)", got)
	}
}

// TestPlanEntriesKeepWhatTasksUse: the plan holds every small file of a
// job while it is made, so each entry keeps only what a task and the
// commit use (key, size, ETag, rows, partition): no SHA-256, and one
// partition string per partition, not a copy per file (about 80 of the
// 410 bytes a file held, docs/filesizing.md). Files at half the target
// or more, uploads and files of no rows are not candidates.
func TestPlanEntriesKeepWhatTasksUse(t *testing.T) {
	const below = 500
	byPartition := map[string][]manifest.OutputFile{}
	for c := range 3 {
		var files []manifest.OutputFile
		for i, size := range []int64{100, 499, 500, 200} {
			files = append(files, manifest.OutputFile{Key: fmt.Sprintf("c%d-%d", c, i), Size: size, ETag: fmt.Sprintf(`"e%d%d"`, c, i), Rows: 5,
				Partition: string([]byte("grp=" + fmt.Sprint(i%2))), SHA256: fmt.Sprintf("%064x", c*10+i)})
		}
		files = append(files, manifest.OutputFile{Key: fmt.Sprintf("c%d-upload", c), Size: 10, Rows: 5, Partition: "grp=0",
			Upload: &manifest.Upload{ID: "u"}}, manifest.OutputFile{Key: fmt.Sprintf("c%d-whole", c), Size: 10, Partition: "grp=0"})
		addCandidates(byPartition, files, below)
	}
	want := map[string][]string{"grp=0": {"c0-0", "c1-0", "c2-0"}, "grp=1": {"c0-1", "c0-3", "c1-1", "c1-3", "c2-1", "c2-3"}}
	if len(byPartition) != len(want) {
		t.Fatalf("partitions %v, want %v", slices.Collect(mapsKeys(byPartition)), want)
	}
	for p, keys := range want {
		files := byPartition[p]
		if len(files) != len(keys) {
			t.Fatalf("partition %s: %d files, want %v", p, len(files), keys)
		}
		for i, f := range files {
			if f.Key != keys[i] || f.ETag == "" || f.Rows != 5 || f.Size == 0 || f.Partition != p {
				t.Errorf("partition %s file %d: %+v, want %s with its size, ETag, rows and partition", p, i, f, keys[i])
			}
			if f.SHA256 != "" {
				t.Errorf("partition %s file %s keeps its SHA-256", p, f.Key)
			}
			if unsafe.StringData(f.Partition) != unsafe.StringData(files[0].Partition) {
				t.Errorf("partition %s file %s has a partition string of its own", p, f.Key)
			}
		}
	}
}
