package manifest

import (
	"errors"
	"fmt"
)

// MinTargetFileSize is the least target file size a spec may ask for.
const MinTargetFileSize = 16 << 10

// CompactTaskID names task k of a job's compaction stage: "k" and six
// digits. Compaction tasks go through the same queue as map chunks and
// reduce tasks; the prefix tells a worker which kind it claimed.
func CompactTaskID(k int) string {
	if k < 0 {
		panic(fmt.Sprintf("manifest: CompactTaskID(%d): negative task index", k))
	}
	return fmt.Sprintf("k%06d", k)
}

// CompactIndex is the inverse of CompactTaskID.
func CompactIndex(id string) (int, error) { return taskIndex(id, "k", "compaction") }

// IsCompactTask reports whether id names a compaction task.
func IsCompactTask(id string) bool {
	_, err := CompactIndex(id)
	return err == nil
}

// MaxCompactTasks bounds the compaction tasks of one job.
const MaxCompactTasks = 999999

// CompactPlan is a job's compaction stage, created once (If-None-Match: *)
// at Layout.CompactPlanKey from the map markers once every map chunk has
// one: task i (CompactTaskID(i)) merges Tasks[i].Files, staged files of
// one partition, into files of about Target bytes. The map files it does
// not name are committed as they are.
type CompactPlan struct {
	Version int           `json:"version"`
	Job     string        `json:"job"`
	Target  int64         `json:"target"`
	MaxRows int64         `json:"max_rows,omitempty"`
	Tasks   []CompactTask `json:"tasks"`
}

// CompactTask is one compaction task: files of one partition (Hive path,
// "" for none), each as its map chunk's marker names it.
type CompactTask struct {
	Partition string       `json:"partition"`
	Files     []OutputFile `json:"files"`
}

// Rows is the number of rows the task's files hold.
func (t CompactTask) Rows() int64 {
	var n int64
	for _, f := range t.Files {
		n += f.Rows
	}
	return n
}

// Validate checks the plan's invariants: a supported version, a job ID, a
// positive target, and tasks of at least two files of their partition.
func (p *CompactPlan) Validate() error {
	if err := checkVersion("compaction plan", p.Version); err != nil {
		return err
	}
	if !ValidJobID(p.Job) {
		return invalid("compaction plan", fmt.Errorf("job %q is not a job ID", truncate(p.Job, 40)))
	}
	if p.Target <= 0 {
		return invalid("compaction plan", fmt.Errorf("target %d is not positive", p.Target))
	}
	if len(p.Tasks) > MaxCompactTasks {
		return invalid("compaction plan", fmt.Errorf("%d tasks, more than %d", len(p.Tasks), MaxCompactTasks))
	}
	for i, t := range p.Tasks {
		if len(t.Files) < 2 {
			return invalid("compaction plan", fmt.Errorf("task %d merges %d file(s), want at least 2", i, len(t.Files)))
		}
		if err := checkFiles(t.Files); err != nil {
			return invalid("compaction plan", fmt.Errorf("task %d: %w", i, err))
		}
		for _, f := range t.Files {
			if f.Partition != t.Partition || f.Upload != nil {
				return invalid("compaction plan", errors.New("task "+CompactTaskID(i)+" names a file of another partition or an open upload: "+truncate(f.Key, 80)))
			}
		}
	}
	return nil
}

// DecodeCompactPlan decodes and validates a compaction plan.
func DecodeCompactPlan(b []byte) (*CompactPlan, error) {
	return decode[CompactPlan]("compaction plan", b)
}

// CompactPlanKey is the key of the job's compaction plan.
func (l Layout) CompactPlanKey(job string) string { return l.JobPrefix(job) + "compact.json" }

// CompactMarkerPrefix is the prefix of a job's compaction task markers,
// for every plan the job had.
func (l Layout) CompactMarkerPrefix(job string) string { return l.JobPrefix(job) + "compact/" }

// CompactMarkerKey is the key of the marker of compaction task id of the
// plan plan (an ID of one version of the plan, as a shuffle index's: a
// redrive replaces the plan, and markers of attempts that read the old
// one stay apart, never committed).
func (l Layout) CompactMarkerKey(job, plan, id string) string {
	return l.CompactMarkerPrefix(job) + plan + "/" + id + ".json"
}
