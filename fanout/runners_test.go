package fanout

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestAnIdleRunnerKeepsNothingOfWhatItRan: once a function given to a
// worker slot's runners has returned, nothing it captured (a finished
// attempt's lease, channels, context) is kept by the idle goroutine that
// ran it: what it captured is collected while the runner waits for work.
func TestAnIdleRunnerKeepsNothingOfWhatItRan(t *testing.T) {
	var r runners
	defer r.stop()
	var collected atomic.Bool
	ran := make(chan struct{})
	func() {
		attempt := new([1 << 10]byte) // what a finished attempt captured
		runtime.SetFinalizer(attempt, func(*[1 << 10]byte) { collected.Store(true) })
		r.run(func() {
			attempt[0] = 1
			close(ran)
		})
	}()
	<-ran
	deadline := time.Now().Add(10 * time.Second)
	for !collected.Load() {
		if time.Now().After(deadline) {
			t.Fatal("what a returned function captured is still reachable 10 s later: the idle runner keeps it")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
