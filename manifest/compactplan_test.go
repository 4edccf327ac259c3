package manifest

import (
	"strings"
	"testing"
)

func testTask(p string, keys ...string) CompactTask {
	t := CompactTask{Partition: p}
	for _, k := range keys {
		t.Files = append(t.Files, OutputFile{Key: k, Size: 10, Rows: 1, Partition: p})
	}
	return t
}

// testPlanInParts is a plan of 3 tasks (7 files) in two parts.
func testPlanInParts() *CompactPlan {
	return &CompactPlan{Version: Version, Job: testJob, Target: 1 << 20, TaskCount: 3, FileCount: 7, TaskParts: []TaskPart{
		{Key: "out/_fanout/" + testJob + "/compact-plan/0a/tasks-000000.json", ETag: `"t0"`, Size: 400, First: 0, Tasks: 2, Files: 4},
		{Key: "out/_fanout/" + testJob + "/compact-plan/0a/tasks-000001.json", ETag: `"t1"`, Size: 300, First: 2, Tasks: 1, Files: 3},
	}}
}

// TestCompactPlanAndTaskListsValidate: a plan lists its tasks inline
// (earlier releases) or in parts that follow each other and sum to its
// counts; a task list holds tasks of two files or more of one partition.
func TestCompactPlanAndTaskListsValidate(t *testing.T) {
	inline := &CompactPlan{Version: Version, Job: testJob, Target: 1 << 20, Tasks: []CompactTask{testTask("p=a", "a", "b")}}
	list := &TaskList{Version: Version, Job: testJob, Part: 1, First: 2, Tasks: []CompactTask{testTask("p=b", "c", "d", "e")}}
	for _, tc := range []struct {
		name string
		doc  interface{ Validate() error }
		want string // "" valid
	}{
		{"inline", inline, ""},
		{"in parts", testPlanInParts(), ""},
		{"both", func() *CompactPlan { p := testPlanInParts(); p.Tasks = inline.Tasks; return p }(), "both inline and in parts"},
		{"task count", func() *CompactPlan { p := testPlanInParts(); p.TaskCount = 4; return p }(), "hold 3 tasks of 7 files, task_count is 4"},
		{"file count", func() *CompactPlan { p := testPlanInParts(); p.FileCount = 6; return p }(), "file_count 6"},
		{"gap", func() *CompactPlan { p := testPlanInParts(); p.TaskParts[1].First = 3; return p }(), "starts at task 3, want 2"},
		{"named twice", func() *CompactPlan { p := testPlanInParts(); p.TaskParts[1].Key = p.TaskParts[0].Key; return p }(), "named twice"},
		{"no etag", func() *CompactPlan { p := testPlanInParts(); p.TaskParts[0].ETag = ""; return p }(), "no key, ETag or size"},
		{"one-file tasks", func() *CompactPlan { p := testPlanInParts(); p.TaskParts[1].Files = 1; p.FileCount = 5; return p }(), "1 tasks of 1 files"},
		{"list", list, ""},
		{"list one file", &TaskList{Version: Version, Job: testJob, Tasks: []CompactTask{testTask("p=a", "a")}}, "merges 1 file(s)"},
		{"list other partition", &TaskList{Version: Version, Job: testJob, First: 5, Tasks: []CompactTask{{Partition: "p=a", Files: testTask("p=b", "a", "b").Files}}}, "task k000005 names a file of another partition"},
		{"list negative first", &TaskList{Version: Version, Job: testJob, First: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.doc.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	b, err := Encode(list)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTaskList(b)
	if err != nil || got.First != 2 || len(got.Tasks) != 1 || len(got.Tasks[0].Files) != 3 {
		t.Fatalf("DecodeTaskList of Encode: %+v, %v", got, err)
	}
	b, err = Encode(testPlanInParts())
	if err != nil {
		t.Fatal(err)
	}
	plan, err := DecodeCompactPlan(b)
	if err != nil || plan.NumTasks() != 3 || strings.Contains(string(b), `"tasks":[`) {
		t.Fatalf("DecodeCompactPlan of Encode: %+v, %v (%s)", plan, err, b)
	}
}
