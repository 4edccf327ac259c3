package manifest

import (
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
func ReduceIndex(id string) (int, error) { return taskIndex(id, "r", "reduce") }

// taskIndex reads the index of a task ID of a stage: prefix and six
// digits.
func taskIndex(id, prefix, stage string) (int, error) {
	n, ok := parseTaskIndex(id, prefix)
	if !ok {
		return 0, fmt.Errorf("manifest: %q is not a %s task ID", truncate(id, 40), stage)
	}
	return n, nil
}

// parseTaskIndex is taskIndex without the error, for the questions
// (IsReduceTask, IsCompactTask) a worker asks of every map chunk's ID
// several times: building the error each time was most of their cost.
func parseTaskIndex(id, prefix string) (int, bool) {
	digits, ok := strings.CutPrefix(id, prefix)
	if !ok || len(digits) != 6 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
		n = n*10 + int(digits[i]-'0')
	}
	return n, true
}

// IsReduceTask reports whether id names a reduce task.
func IsReduceTask(id string) bool {
	_, ok := parseTaskIndex(id, "r")
	return ok
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
