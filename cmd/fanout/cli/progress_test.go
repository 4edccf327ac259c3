package cli

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
)

// TestProgressAsksForTheCommitOutsideItsLock: the live line asks how far
// another process's commit has got (commitInfo: a Redis GET for a commit
// the process does not run) in its tick, outside the progress's lock, so
// that a slow Redis holds no snapshot (update) of the job. Before
// cda6983 the line asked under the lock: an update waited for the GET.
func TestProgressAsksForTheCommitOutsideItsLock(t *testing.T) {
	var out lockedBuffer
	p, err := newProgress(progressLive, &console{w: &out, fd: -1, tty: true})
	if err != nil {
		t.Fatal(err)
	}
	asked := make(chan struct{})
	answer := make(chan struct{})
	var calls atomic.Int64
	p.commitInfo = func(string) (fanout.CommitProgress, bool) {
		if calls.Add(1) == 1 {
			close(asked)
			<-answer // a slow Redis
		}
		return fanout.CommitProgress{Step: "publishing files", Done: 3, Total: 7}, true
	}
	answered := false
	defer func() {
		if !answered {
			close(answer)
		}
		p.finish(fanout.Result{Job: "j1", State: fanout.StateCommitted}, nil, false)
	}()
	settledJob := fanout.Progress{Job: "j1", Chunks: 4, Done: 4, RecordsIn: 40, RecordsOut: 40}
	update := func(what string) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			p.update(settledJob)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not return while the commit's progress was being asked for (asked under the progress's lock)", what)
		}
	}
	update("the first snapshot of the settled job")
	select {
	case <-asked:
	case <-time.After(30 * time.Second):
		t.Fatal("the live line never asked how far the commit has got")
	}
	update("a snapshot taken while the tick waits for the queue")
	close(answer)
	answered = true
	want := "committing: publishing files 3/7 ("
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the live line never showed %q; output:\n%q", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
