package manifest

import (
	"fmt"
	"time"
)

// RedriveRecord is a job's redrive generation, at Layout.RedriveKey: a
// counter that `fanout redrive` raises (a write conditional on the ETag
// read, If-Match, so that two redrives at once count twice) after the
// queue has forgotten the job and before any task runs again. Every
// failed marker names the generation its writer read before it saw its
// task dead (ChunkMarker.Generation); a failed marker of an older
// generation than the record's is stale, whatever the time it landed at.
// A job without a record is at generation 0.
type RedriveRecord struct {
	Version    int    `json:"version"`
	Job        string `json:"job"`
	Generation int64  `json:"generation"`
	// Redriven is when the generation was last raised.
	Redriven time.Time `json:"redriven"`
	// Token is random per write, as in Owner: no two writes send the
	// same bytes.
	Token string `json:"token,omitempty"`
}

// RedriveKey is the key of job's RedriveRecord.
func (l Layout) RedriveKey(job string) string { return l.JobPrefix(job) + "_REDRIVEN" }

// Validate checks the redrive record's invariants.
func (r *RedriveRecord) Validate() error {
	if err := checkVersion("redrive record", r.Version); err != nil {
		return err
	}
	if !ValidJobID(r.Job) {
		return invalid("redrive record", fmt.Errorf("job %q is not a job ID", truncate(r.Job, 40)))
	}
	if r.Generation < 1 {
		return invalid("redrive record", fmt.Errorf("generation %d is not positive", r.Generation))
	}
	return nil
}

// DecodeRedrive decodes and validates a RedriveRecord.
func DecodeRedrive(b []byte) (*RedriveRecord, error) {
	return decode[RedriveRecord]("redrive record", b)
}

// StaleFailure reports whether m is a failed marker written under an
// older redrive generation than generation, the job's: its task was
// redriven since, and the marker counts as none.
func (m *ChunkMarker) StaleFailure(generation int64) bool {
	return m.State == MarkerFailed && m.Generation < generation
}
