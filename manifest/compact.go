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
	_, ok := parseTaskIndex(id, "k")
	return ok
}

// MaxCompactTasks bounds the compaction tasks of one job.
const MaxCompactTasks = 999999

// CompactPlan is a job's compaction stage, created once (If-None-Match: *)
// at Layout.CompactPlanKey from the map markers once every map chunk has
// one: task i (CompactTaskID(i)) merges the files of the plan's i-th task,
// staged files of one partition, into files of about Target bytes. The
// map files it does not name are committed as they are.
//
// The tasks are listed in parts (TaskParts): TaskList objects of some
// thousands of files each, written under Layout.CompactPartsPrefix before
// the plan and named by it with their ETag and size, so that a
// compaction task reads the plan and the one part that holds its task,
// and the commit the parts one at a time, instead of every task's files
// (a plan's files grow with the job's output). Plans of earlier releases
// hold their tasks inline (Tasks), and are still read.
type CompactPlan struct {
	Version int    `json:"version"`
	Job     string `json:"job"`
	Target  int64  `json:"target"`
	MaxRows int64  `json:"max_rows,omitempty"`
	// Tasks lists the tasks inline: plans of earlier releases only.
	Tasks []CompactTask `json:"tasks,omitempty"`
	// TaskCount is the number of tasks in TaskParts, FileCount the files
	// they merge.
	TaskCount int        `json:"task_count,omitempty"`
	FileCount int        `json:"file_count,omitempty"`
	TaskParts []TaskPart `json:"task_parts,omitempty"`
}

// NumTasks is the number of the plan's tasks, in parts or inline.
func (p *CompactPlan) NumTasks() int { return p.TaskCount + len(p.Tasks) }

// TaskPart names one TaskList of a compaction plan: its key, the ETag and
// size it was written with, the index of its first task and its number of
// tasks and files. Part i's first task follows part i-1's last.
type TaskPart struct {
	Key   string `json:"key"`
	ETag  string `json:"etag"`
	Size  int64  `json:"size"`
	First int    `json:"first"`
	Tasks int    `json:"tasks"`
	Files int    `json:"files"`
}

// TaskList is one part of a compaction plan's tasks (CompactPlan.TaskParts):
// part Part of job Job's plan, its tasks from index First on.
type TaskList struct {
	Version int           `json:"version"`
	Job     string        `json:"job"`
	Part    int           `json:"part"`
	First   int           `json:"first"`
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
// positive target, tasks of at least two files of their partition, inline
// or in parts that follow each other and sum to TaskCount and FileCount,
// not both.
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
	if n := p.NumTasks(); n > MaxCompactTasks || p.TaskCount < 0 {
		return invalid("compaction plan", fmt.Errorf("%d tasks, more than %d", n, MaxCompactTasks))
	}
	if len(p.Tasks) > 0 && len(p.TaskParts) > 0 {
		return invalid("compaction plan", errors.New("tasks both inline and in parts"))
	}
	if err := checkTasks(0, p.Tasks); err != nil {
		return invalid("compaction plan", err)
	}
	tasks, files := 0, 0
	seen := make(map[string]bool, len(p.TaskParts))
	for i, t := range p.TaskParts {
		switch {
		case t.Key == "" || t.ETag == "" || t.Size <= 0:
			return invalid("compaction plan", fmt.Errorf("task_parts[%d]: no key, ETag or size", i))
		case t.Tasks <= 0 || t.Files < 2*t.Tasks:
			return invalid("compaction plan", fmt.Errorf("task_parts[%d] %q: %d tasks of %d files", i, truncate(t.Key, 200), t.Tasks, t.Files))
		case t.First != tasks:
			return invalid("compaction plan", fmt.Errorf("task_parts[%d] %q starts at task %d, want %d", i, truncate(t.Key, 200), t.First, tasks))
		case seen[t.Key]:
			return invalid("compaction plan", fmt.Errorf("task_parts[%d] %q: named twice", i, truncate(t.Key, 200)))
		}
		seen[t.Key] = true
		tasks += t.Tasks
		files += t.Files
	}
	if tasks != p.TaskCount || files != p.FileCount {
		return invalid("compaction plan", fmt.Errorf("task parts hold %d tasks of %d files, task_count is %d, file_count %d", tasks, files, p.TaskCount, p.FileCount))
	}
	return nil
}

// checkTasks checks tasks, the first of them task first: at least two
// files each, all of the task's partition, staged (no open upload).
func checkTasks(first int, tasks []CompactTask) error {
	for i, t := range tasks {
		if len(t.Files) < 2 {
			return fmt.Errorf("task %d merges %d file(s), want at least 2", first+i, len(t.Files))
		}
		if err := checkFiles(t.Files); err != nil {
			return fmt.Errorf("task %d: %w", first+i, err)
		}
		for _, f := range t.Files {
			if f.Partition != t.Partition || f.Upload != nil {
				return errors.New("task " + CompactTaskID(first+i) + " names a file of another partition or an open upload: " + truncate(f.Key, 80))
			}
		}
	}
	return nil
}

// Validate checks a part of a compaction plan's tasks: a supported
// version, a job ID, a part number and first task that are not negative,
// and valid tasks (see CompactPlan.Validate).
func (l *TaskList) Validate() error {
	if err := checkVersion("task list", l.Version); err != nil {
		return err
	}
	if !ValidJobID(l.Job) {
		return invalid("task list", fmt.Errorf("job %q is not a job ID", truncate(l.Job, 40)))
	}
	kind := fmt.Sprintf("task list %s/%d", l.Job, l.Part)
	if l.Part < 0 || l.First < 0 {
		return invalid(kind, fmt.Errorf("negative part number or first task (%d, %d)", l.Part, l.First))
	}
	if err := checkTasks(l.First, l.Tasks); err != nil {
		return invalid(kind, err)
	}
	return nil
}

// DecodeTaskList decodes and validates one part of a compaction plan's
// tasks (the reader checks it is the part the plan names).
func DecodeTaskList(b []byte) (*TaskList, error) {
	return decode[TaskList]("task list", b)
}

// DecodeCompactPlan decodes and validates a compaction plan.
func DecodeCompactPlan(b []byte) (*CompactPlan, error) {
	return decode[CompactPlan]("compaction plan", b)
}

// CompactPlanKey is the key of the job's compaction plan.
func (l Layout) CompactPlanKey(job string) string { return l.JobPrefix(job) + "compact.json" }

// CompactPartsPrefix is the prefix under which the plans of job's
// compaction stage write the parts of their tasks (TaskList), each plan
// under a random token of its own: only those the plan at CompactPlanKey
// names are the job's.
func (l Layout) CompactPartsPrefix(job string) string { return l.JobPrefix(job) + "compact-plan/" }

// CompactPartKey is the key of part i of the tasks of the plan written
// with the given token (CompactPartsPrefix).
func (l Layout) CompactPartKey(job, token string, i int) string {
	return l.CompactPartsPrefix(job) + token + "/" + fmt.Sprintf("tasks-%06d.json", i)
}

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
