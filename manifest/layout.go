package manifest

import (
	"fmt"
	"hash/fnv"
	"path"
	"strconv"
	"strings"
)

// Layout builds every key a job writes inside the output bucket. All of a
// job's bookkeeping lives under JobPrefix (Prefix + "_fanout/<job>/"), so
// that nothing but committed data and _SUCCESS ever appears among the
// output files:
//
//	<prefix>_fanout/<job>/manifest.json             Manifest
//	<prefix>_fanout/<job>/manifest/000000.json      Shard 0, 1, ...
//	<prefix>_fanout/<job>/chunks/<hh>/<chunk>.json       ChunkMarker
//	<prefix>_fanout/<job>/staging/<hh>/<chunk>/<epoch>/  one attempt's output, every name ending in StagedSuffix
//	<prefix>_fanout/<job>/_COMMITTED                CommitRecord
//	<prefix>_fanout/<job>/commit/<token>/files-000000.json    FileList: part 0 of the record's files
//	<prefix>_fanout/<job>/commit/<token>/pending-000000.json  FileList: the files a commit is about to publish
//	<prefix><partition>/<file>                      committed data
//	<prefix>_rejected/<file>                        committed rejected records (RejectedKey)
//	<prefix>_SUCCESS                                written after the commit
//
// <hh> is ChunkSpread(chunk): two hex digits of a hash of the chunk ID, so
// that the markers and staging writes of a job's chunks spread over 256
// key ranges, which S3 partitions apart as the request rate grows (about
// 3,500 writes/s per partition), instead of sharing one prefix with
// sequential names. (Layouts before December 2026 had no <hh>; jobs
// planned by them cannot be resumed or committed by this version.)
type Layout struct {
	// Prefix is the output prefix inside the output bucket: "" or a key
	// prefix ending in "/". Use NewLayout to normalise it.
	Prefix string
}

// NewLayout returns the layout under prefix, adding a trailing slash when
// prefix is not empty and lacks one.
func NewLayout(prefix string) Layout {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return Layout{Prefix: prefix}
}

// FanoutPrefix is the prefix under which every job keeps its bookkeeping.
// Listings of output data skip it, and bucket events under it never start
// a job.
func (l Layout) FanoutPrefix() string { return l.Prefix + "_fanout/" }

// JobPrefix is the prefix of everything job writes besides committed data
// and _SUCCESS.
func (l Layout) JobPrefix(job string) string { return l.FanoutPrefix() + job + "/" }

// ManifestKey is the key of job's Manifest.
func (l Layout) ManifestKey(job string) string { return l.JobPrefix(job) + "manifest.json" }

// ShardKey is the key of job's manifest shard i.
func (l Layout) ShardKey(job string, i int) string {
	return l.JobPrefix(job) + fmt.Sprintf("manifest/%06d.json", i)
}

// MarkerPrefix is the prefix of job's chunk commit markers; listing it
// tells which chunks are finished (see ChunkFromMarkerKey).
func (l Layout) MarkerPrefix(job string) string { return l.JobPrefix(job) + "chunks/" }

// MarkerKey is the key of chunk's commit marker.
func (l Layout) MarkerKey(job, chunk string) string {
	return l.MarkerPrefix(job) + ChunkSpread(chunk) + "/" + chunk + ".json"
}

// ChunkSpread returns the two hex digits that spread chunk's keys (its
// marker and staging prefix) over 256 key ranges: the low byte of the
// FNV-1a hash of the chunk ID.
func ChunkSpread(chunk string) string {
	h := fnv.New32a()
	h.Write([]byte(chunk))
	const digits = "0123456789abcdef"
	b := byte(h.Sum32())
	return string([]byte{digits[b>>4], digits[b&15]})
}

// ChunkFromMarkerKey returns the chunk whose marker is at key, and false
// when key is not a marker key of job (another job's key, a stray object,
// a name in the wrong spread directory or with a slash in it).
func (l Layout) ChunkFromMarkerKey(job, key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, l.MarkerPrefix(job))
	if !ok {
		return "", false
	}
	spread, name, ok := strings.Cut(rest, "/")
	if !ok {
		return "", false
	}
	chunk, ok := strings.CutSuffix(name, ".json")
	if !ok || chunk == "" || strings.Contains(chunk, "/") || ChunkSpread(chunk) != spread {
		return "", false
	}
	return chunk, true
}

// StagedSuffix ends the name of every file an attempt stages, after its
// extension (part-<job>-<chunk>-0000.parquet.staged): a reader globbing
// the output prefix for data files (read_parquet('<out>/**/*.parquet'),
// which walks _fanout/ too) matches nothing of a job that has not
// committed. The commit drops it (PublishedName).
const StagedSuffix = ".staged"

// StagedName is the name under which an attempt stages the file that the
// commit publishes as name.
func StagedName(name string) string { return name + StagedSuffix }

// PublishedName is the name a staged file at key is published under: its
// base name without StagedSuffix.
func PublishedName(key string) string {
	return strings.TrimSuffix(path.Base(key), StagedSuffix)
}

// StagingRoot is the prefix under which every attempt of job writes its
// output before the commit; it is removed after the commit.
func (l Layout) StagingRoot(job string) string { return l.JobPrefix(job) + "staging/" }

// StagingPrefix is the prefix of the attempt of chunk with the given epoch.
// Each attempt writes only there, so that a slow loser never overwrites
// the winner's files.
func (l Layout) StagingPrefix(job, chunk string, epoch int64) string {
	return l.StagingRoot(job) + ChunkSpread(chunk) + "/" + chunk + "/" + strconv.FormatInt(epoch, 10) + "/"
}

// CommitKey is the key of job's CommitRecord, created once with
// If-None-Match: *.
func (l Layout) CommitKey(job string) string { return l.JobPrefix(job) + "_COMMITTED" }

// CommitPartsPrefix is the prefix under which the commits of job write
// the parts of their record's files (FileList), each commit under a
// random token of its own, so that two committers never overwrite each
// other's parts: only those the commit record names are the job's.
func (l Layout) CommitPartsPrefix(job string) string { return l.JobPrefix(job) + "commit/" }

// CommitPartKey is the key of part i of the files of the commit with the
// given token (CommitPartsPrefix).
func (l Layout) CommitPartKey(job, token string, i int) string {
	return l.CommitPartsPrefix(job) + token + "/" + fmt.Sprintf("files-%06d.json", i)
}

// CommitPendingKey is the key of part i of the files the commit with the
// given token has read from the markers and not yet published: the
// commit spills them there (removed after the commit) so that it never
// holds every file of a job at once.
func (l Layout) CommitPendingKey(job, token string, i int) string {
	return l.CommitPartsPrefix(job) + token + "/" + fmt.Sprintf("pending-%06d.json", i)
}

// CommitRejectedPartKey is the key of part i of the rejected-record files
// of the commit with the given token (CommitPartsPrefix).
func (l Layout) CommitRejectedPartKey(job, token string, i int) string {
	return l.CommitPartsPrefix(job) + token + "/" + fmt.Sprintf("rejected-%06d.json", i)
}

// CommitPendingRejectedKey is CommitPendingKey for the rejected-record
// files the commit has read from the markers and not yet published.
func (l Layout) CommitPendingRejectedKey(job, token string, i int) string {
	return l.CommitPartsPrefix(job) + token + "/" + fmt.Sprintf("pending-rejected-%06d.json", i)
}

// SuccessKey is the key of the _SUCCESS object written after a commit.
func (l Layout) SuccessKey() string { return l.Prefix + "_SUCCESS" }

// DataKey is the key of a committed data file in a Hive-style partition
// path such as "a=1/b=x" ("" when unpartitioned). The partition path must
// already be escaped; a trailing slash on it is tolerated.
func (l Layout) DataKey(partition, file string) string {
	partition = strings.TrimSuffix(partition, "/")
	if partition == "" {
		return l.Prefix + file
	}
	return l.Prefix + partition + "/" + file
}
