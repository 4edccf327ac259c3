package manifest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ReduceTaskID names reduce task r of a job's reduce stage: "r" and six
// digits. Reduce tasks go through the same queue as map chunks; the prefix
// tells a worker which kind it claimed.
func ReduceTaskID(r int) string {
	if r < 0 {
		panic(fmt.Sprintf("manifest: ReduceTaskID(%d): negative reduce index", r))
	}
	return fmt.Sprintf("r%06d", r)
}

// ReduceIndex is the inverse of ReduceTaskID.
func ReduceIndex(id string) (int, error) {
	digits, ok := strings.CutPrefix(id, "r")
	if !ok || len(digits) != 6 {
		return 0, fmt.Errorf("manifest: %q is not a reduce task ID", truncate(id, 40))
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("manifest: %q is not a reduce task ID", truncate(id, 40))
		}
		n = n*10 + int(digits[i]-'0')
	}
	return n, nil
}

// IsReduceTask reports whether id names a reduce task.
func IsReduceTask(id string) bool {
	_, err := ReduceIndex(id)
	return err == nil
}

// MaxReducers bounds the number of reduce partitions of one job.
const MaxReducers = 999999

// ReduceMarkerPrefix is the prefix of a job's reduce task markers, for
// every shuffle index the job had.
func (l Layout) ReduceMarkerPrefix(job string) string { return l.JobPrefix(job) + "reduce/" }

// ReduceIndexPrefix is the prefix of the reduce task markers of the
// shuffle index shuffle (an ID of one version of the index, see
// fanout's shuffleID): a redrive replaces the index, and the markers of
// reduce attempts that read the old one stay apart, never committed.
func (l Layout) ReduceIndexPrefix(job, shuffle string) string {
	return l.ReduceMarkerPrefix(job) + shuffle + "/"
}

// ReduceMarkerKey is the key of the marker of reduce task id that read
// the shuffle index shuffle.
func (l Layout) ReduceMarkerKey(job, shuffle, id string) string {
	return l.ReduceIndexPrefix(job, shuffle) + id + ".json"
}

// ShuffleIndexKey is the key of the job's shuffle index.
func (l Layout) ShuffleIndexKey(job string) string { return l.JobPrefix(job) + "shuffle.json" }

// ShuffleFile is one map chunk's shuffle output: Partitions[p] and
// Partitions[p+1] bound partition p's bytes.
type ShuffleFile struct {
	Chunk      string  `json:"chunk"`
	Key        string  `json:"key"`
	ETag       string  `json:"etag"`
	Size       int64   `json:"size"`
	Partitions []int64 `json:"partitions"`
}

// ShuffleIndex lists every committed map chunk's shuffle file. It is
// created once (If-None-Match: *) when every map chunk has a marker, and
// read by every reduce task.
type ShuffleIndex struct {
	Version  int           `json:"version"`
	Job      string        `json:"job"`
	Reducers int           `json:"reducers"`
	Files    []ShuffleFile `json:"files"`
}

// Validate checks the index's invariants.
func (s *ShuffleIndex) Validate() error {
	if err := checkVersion("shuffle index", s.Version); err != nil {
		return err
	}
	if !ValidJobID(s.Job) {
		return invalid("shuffle index", fmt.Errorf("job %q is not a job ID", truncate(s.Job, 40)))
	}
	if s.Reducers < 1 || s.Reducers > MaxReducers {
		return invalid("shuffle index", fmt.Errorf("reducers %d out of range", s.Reducers))
	}
	for i, f := range s.Files {
		if err := checkPartitions(f.Partitions, s.Reducers, f.Size); err != nil {
			return invalid("shuffle index", fmt.Errorf("files[%d] %q: %w", i, truncate(f.Key, 200), err))
		}
	}
	return nil
}

// checkPartitions checks that offsets bound r partitions inside a file of
// the given size.
func checkPartitions(offsets []int64, r int, size int64) error {
	if len(offsets) != r+1 {
		return fmt.Errorf("%d partition offsets for %d partitions", len(offsets), r)
	}
	for i, o := range offsets {
		if o < 0 || o > size || (i > 0 && o < offsets[i-1]) {
			return fmt.Errorf("partition offsets %v do not ascend within %d bytes", offsets, size)
		}
	}
	return nil
}

// DecodeShuffleIndex strictly decodes a shuffle index.
func DecodeShuffleIndex(b []byte) (*ShuffleIndex, error) {
	var s ShuffleIndex
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("manifest: shuffle index: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("manifest: shuffle index: trailing data")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}
