package functions

// Reducer is implemented by a Task whose rows are partial results that
// must be merged across chunks: word counts, group-by aggregates, distinct
// keys, top-k. Map writes partial rows laid out as Task.Output(); the first
// KeyColumns() columns are the group key and the rest the partial state.
//
// The engine combines partial rows with equal keys on the map side (in a
// bounded table that spills to sorted runs), hash-partitions them into R
// reduce partitions, and each reduce task merges one partition over every
// map chunk, in key order, with bounded memory. Merge must therefore be
// associative and commutative: rows may be merged in any grouping and
// order, any number of times.
type Reducer interface {
	// KeyColumns is how many leading columns of Output() form the key
	// (0 means one global group).
	KeyColumns() int
	// Merge folds the state of in into acc; both have the same key and are
	// laid out as Output(). acc is owned by the engine and may be updated
	// in place; in must not be retained. An error (an integer sum that
	// overflows, say) fails the chunk: wrap it with Permanent when a retry
	// cannot help.
	Merge(acc, in Row) error
	// Final is the schema of the rows Finish writes.
	Final() *Schema
	// Finish turns one fully merged partial row into zero or more final
	// rows.
	Finish(partial Row, out Output) error
}
