package fanout

import "time"

// SetLocalClock makes the worker's heartbeat measure by now until restore
// is called, for tests of workers whose clock is off.
func SetLocalClock(now func() time.Time) (restore func()) {
	localClock.Store(&now)
	return func() { localClock.Store(nil) }
}

// SetCombineBudget and SetMergeFanIn let tests force spills and multi-pass
// merges with small inputs; each returns a function restoring the default.
func SetCombineBudget(n int64) (restore func()) {
	old := combineBudget
	combineBudget = n
	return func() { combineBudget = old }
}

func SetMergeFanIn(n int) (restore func()) {
	old := mergeFanIn
	mergeFanIn = n
	return func() { mergeFanIn = old }
}
