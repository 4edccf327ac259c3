package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/minio/minio-go/v7"
)

// TestProgressCountsEveryWorkersRecords runs a job with --workers 0 and
// two `fanout work` processes: the driver does no work itself, so every
// record its --progress json events and status count comes from the
// other processes, through the queue's per-job counts. Mid-run, status
// shows records and bytes between zero and the input's, and so do the
// driver's progress events while chunks run; the last event counts
// exactly the input's records and bytes (the oracle: the generated lines
// and the objects' sizes) and the committed output's records, and the
// counts never go down.
func TestProgressCountsEveryWorkersRecords(t *testing.T) {
	bucket, client, env, lines := minioJobEnv(t, 6)
	var inBytes int64
	for o := range client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: "in/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		inBytes += o.Size
	}
	bin := fanoutBinary(t)
	for _, name := range []string{"worker-a", "worker-b"} {
		w := localstack.Start(t, name, env, bin, "work", "--concurrency", "1", "--allow-exec-any", "--grace", "1s")
		t.Cleanup(w.Kill)
	}
	run := localstack.Start(t, "run", env, bin, "run", "--in", "s3://"+bucket+"/in/", "--fn", "exec", "--arg", "cmd=sleep 0.2; cat",
		"--arg", "shell=true", "--out", "s3://"+bucket+"/out/", "--out-format", "lines", "--chunk-size", "1KiB",
		"--workers", "0", "--progress", "json", "--json")

	// Mid-run: status, in a process of its own, counts what the workers
	// published so far.
	var job string
	waitFor(t, "the job's first progress event", time.Minute, func() bool {
		for line := range strings.Lines(run.Stderr()) {
			var ev struct {
				Event string `json:"event"`
				Job   string `json:"job"`
			}
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "planned" {
				job = ev.Job
				return true
			}
		}
		return false
	}, run.Stderr)
	var st runJSON
	sawPartial := false
	waitFor(t, "a status with some records counted", time.Minute, func() bool {
		code, stdout, _ := runIn(t, t.TempDir(), env, "status", job, "--json")
		if code != exitOK || json.Unmarshal([]byte(stdout), &st) != nil {
			return false
		}
		if st.State == "committed" {
			return true // too late to see the job running
		}
		sawPartial = st.RecordsIn > 0
		return sawPartial
	}, run.Stderr)
	if sawPartial && (st.RecordsIn > int64(lines) || st.BytesIn <= 0 || st.BytesIn > inBytes || st.RecordsOut > st.RecordsIn) {
		t.Errorf("status mid-run: %d records in, %d out, %d bytes; want at most %d records and %d bytes", st.RecordsIn, st.RecordsOut, st.BytesIn, lines, inBytes)
	}

	if err := run.Wait(t, 2*time.Minute); err != nil {
		t.Fatalf("run: %v\n%s", err, run.Stderr())
	}
	var res runJSON
	if err := json.Unmarshal([]byte(run.Stdout()), &res); err != nil || res.State != "committed" || res.RecordsIn != int64(lines) {
		t.Fatalf("run --json: %v: %s", err, run.Stdout())
	}
	type progressEvent struct {
		Event      string `json:"event"`
		RecordsIn  int64  `json:"records_in"`
		RecordsOut int64  `json:"records_out"`
		BytesIn    int64  `json:"bytes_in"`
		Done       int    `json:"done"`
		Chunks     int    `json:"chunks"`
	}
	var last progressEvent
	events, live := 0, 0
	sc := bufio.NewScanner(strings.NewReader(run.Stderr()))
	for sc.Scan() {
		var ev progressEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Event != "progress" {
			continue
		}
		if ev.RecordsIn < last.RecordsIn || ev.BytesIn < last.BytesIn || ev.RecordsOut < last.RecordsOut {
			t.Errorf("progress went down: %+v after %+v", ev, last)
		}
		if ev.Done < ev.Chunks && ev.RecordsIn > 0 {
			live++ // counted while the job ran: the workers' chunks, through the queue
			if ev.RecordsIn > int64(lines) || ev.BytesIn > inBytes {
				t.Errorf("progress counts more than the input: %+v", ev)
			}
		}
		last = ev
		events++
	}
	if live == 0 {
		t.Errorf("no progress event counted records while the job ran:\n%s", run.Stderr())
	}
	if events == 0 || last.Done != last.Chunks {
		t.Fatalf("%d progress events, the last %+v; want one with every chunk done", events, last)
	}
	if last.RecordsIn != int64(lines) || last.RecordsOut != res.RecordsOut || last.BytesIn != inBytes {
		t.Errorf("last progress event: %d records in, %d out, %d bytes; want %d in, %d out (committed), %d bytes (the objects' sizes)",
			last.RecordsIn, last.RecordsOut, last.BytesIn, lines, res.RecordsOut, inBytes)
	}
	t.Logf("%d progress events, %d with live counts; mid-run status counted %d of %d records (seen running: %v)", events, live, st.RecordsIn, lines, sawPartial)
}

// A job whose small files a compaction stage merges counts that stage's
// tasks in its progress once it is planned, also when `fanout work`
// processes plan and run it (the driver only waits): the total grows by
// the compaction tasks, and no event says every task is done while some
// still run (the compaction tasks ran unseen before, "76/76 done, 2
// running"). The last event counts the map chunks and the compaction
// tasks the commit record names.
func TestProgressCountsTheCompactionStage(t *testing.T) {
	bucket, _, env, want := salesJobEnv(t, 21, 6, 1500)
	bin := fanoutBinary(t)
	for _, name := range []string{"worker-a", "worker-b"} {
		w := localstack.Start(t, name, env, bin, "work", "--concurrency", "1", "--grace", "1s")
		t.Cleanup(w.Kill)
	}
	run := localstack.Start(t, "run", env, bin, "run", "--in", "s3://"+bucket+"/in/", "--fn", "convert", "--out", "s3://"+bucket+"/out/",
		"--partition-by", "region", "--max-objects-per-chunk", "1", "--target-file-size", "4MiB", "--workers", "0", "--progress", "json", "--json")
	if err := run.Wait(t, 2*time.Minute); err != nil {
		t.Fatalf("run: %v\n%s", err, run.Stderr())
	}
	var res struct {
		runJSON
		CompactTasks int `json:"compact_tasks"`
	}
	if err := json.Unmarshal([]byte(run.Stdout()), &res); err != nil || res.State != "committed" || res.RecordsOut != int64(len(want)) || res.CompactTasks == 0 {
		t.Fatalf("run --json: %v: %s; want committed with %d records and compaction tasks", err, run.Stdout(), len(want))
	}
	type event struct {
		Event        string `json:"event"`
		Chunks       int    `json:"chunks"`
		MapChunks    int    `json:"map_chunks"`
		Done         int    `json:"done"`
		Running      int    `json:"running"`
		Pending      int    `json:"pending"`
		CompactTasks int    `json:"compact_tasks"`
	}
	var planned, last event
	compacting, commits := 0, 0
	for line := range strings.Lines(run.Stderr()) {
		var ev event
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		switch ev.Event {
		case "planned":
			planned = ev
		case "commit":
			commits++
		case "progress":
			if ev.Done >= ev.Chunks && ev.Running+ev.Pending > 0 {
				t.Errorf("progress says every task is done while some run or wait: %+v", ev)
			}
			if ev.CompactTasks > 0 {
				compacting++
				if ev.Chunks != planned.Chunks+ev.CompactTasks {
					t.Errorf("progress counts %d tasks with %d compaction tasks, want the %d planned chunks and them", ev.Chunks, ev.CompactTasks, planned.Chunks)
				}
			}
			last = ev
		}
	}
	if commits != 1 {
		t.Errorf("%d commit events, want 1 (the map stage's end is not the commit)", commits)
	}
	if planned.Chunks != res.Chunks || compacting == 0 || last.CompactTasks != res.CompactTasks || last.Done != res.Chunks+res.CompactTasks || last.Chunks != last.Done {
		t.Errorf("planned %+v, last progress %+v, %d events counting compaction tasks; want %d chunks and %d compaction tasks, all done at the end",
			planned, last, compacting, res.Chunks, res.CompactTasks)
	}
}
