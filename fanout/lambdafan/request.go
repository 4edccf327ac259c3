package lambdafan

import (
	"encoding/json"
	"fmt"
)

// Operations of a fanout invocation (Request.Fanout).
const (
	// OpWork claims and processes chunks until there is no work or the
	// invocation's deadline (minus a safety margin) is near, releases what
	// it holds, and commits the job when it finished the last chunk.
	OpWork = "work"
	// OpCommit looks at one job (or, without Job, every job the queue
	// knows) and commits it when every chunk has a marker.
	OpCommit = "commit"
	// OpDrive keeps work invocations of Request.Function in flight for a
	// job until it commits, handing over to a fresh drive invocation when
	// its own deadline is near.
	OpDrive = "drive"
)

// Request is the payload of a fanout invocation, as opposed to a bucket
// event. The "fanout" field tells the two apart.
type Request struct {
	Fanout string `json:"fanout"`
	Job    string `json:"job,omitempty"`
	// Output is the job's output URL, so that a job the queue forgot (Redis
	// flushed) can be found again.
	Output string `json:"output,omitempty"`
	// Concurrency is how many chunks a work invocation processes at once
	// (default 1), and for a drive invocation how many work invocations it
	// keeps in flight.
	Concurrency int `json:"concurrency,omitempty"`
	// Function is the worker function a drive invocation invokes.
	Function string `json:"function,omitempty"`
}

// Encode returns the request as JSON.
func (r Request) Encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("lambdafan: encoding a Request: %v", err)) // cannot happen: strings and ints
	}
	return b
}

// DecodeRequest reads a fanout invocation payload; ok is false when the
// payload is not one (no "fanout" field), err non-nil when it is one but
// malformed.
func DecodeRequest(payload []byte) (r Request, ok bool, err error) {
	var probe struct {
		Fanout *string `json:"fanout"`
	}
	if json.Unmarshal(payload, &probe) != nil || probe.Fanout == nil {
		return Request{}, false, nil
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		return Request{}, true, fmt.Errorf("lambdafan: decoding request: %w", err)
	}
	switch r.Fanout {
	case OpWork, OpCommit:
	case OpDrive:
		if r.Job == "" || r.Function == "" {
			return r, true, fmt.Errorf("lambdafan: a %q request needs job and function", r.Fanout)
		}
	default:
		return r, true, fmt.Errorf("lambdafan: unknown operation %q (want %s, %s or %s)", r.Fanout, OpWork, OpCommit, OpDrive)
	}
	return r, true, nil
}

// WorkSummary is what a work invocation returns.
type WorkSummary struct {
	Job string `json:"job,omitempty"`
	// Claimed counts the leases the invocation took; Chunks those it
	// published, Skipped those that already had a marker, Failed those
	// whose function failed, LeasesLost those taken over by another
	// attempt, Released those it gave back at its deadline.
	Claimed    int64 `json:"claimed"`
	Chunks     int64 `json:"chunks"`
	Skipped    int64 `json:"skipped"`
	Failed     int64 `json:"failed"`
	LeasesLost int64 `json:"leases_lost"`
	Released   int64 `json:"released"`
	RecordsIn  int64 `json:"records_in"`
	RecordsOut int64 `json:"records_out"`
	BytesIn    int64 `json:"bytes_in"`
	// Stopped is "idle" (no work left to claim) or "deadline".
	Stopped string `json:"stopped"`
	// State is the job's state after the invocation when it looked
	// ("committed", "failed", "running"; empty when it did not look).
	State string `json:"state,omitempty"`
}
