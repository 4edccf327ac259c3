package fanout

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
