package manifest

import (
	"errors"
	"fmt"
	"time"
)

// Owner is the output prefix's owner record, at Layout.OwnerKey: the one
// job allowed to publish under the prefix. A job creates it create-only
// (If-None-Match: *) before it plans any work; every later change is a
// write conditional on the ETag read (If-Match), so that changes of the
// owner are serialised by the store: the commit's fence (state
// OwnerCommitting) and a --rerun taking the output over cannot both win.
// See fanout/owner.go for the protocol.
type Owner struct {
	Version int    `json:"version"`
	Job     string `json:"job"`
	// Spec is the job ID its spec would have without a nonce: equal for
	// every --rerun of one spec.
	Spec  string `json:"spec"`
	State string `json:"state"`
	// Since is when the owner record was last written.
	Since time.Time `json:"since"`
	// Previous is the job this one took the output over from (--rerun).
	Previous string `json:"previous,omitempty"`
	// Reason says why the job failed (State OwnerFailed) or was
	// cancelled (OwnerCancelled).
	Reason string `json:"reason,omitempty"`
	// Replaces is the committed job whose output this job replaces when
	// it commits (--overwrite); a job that takes the output over from
	// this one inherits it.
	Replaces string `json:"replaces,omitempty"`
	// Generation is the job's redrive generation (RedriveRecord) as of
	// the last redrive that finished: a commit publishes only if it
	// fences with the generation it read before it read any marker
	// (fanout/owner.go, "A redrive and a commit").
	Generation int64 `json:"generation,omitempty"`
	// Redriving is the token of the redrive under way (or interrupted):
	// while it is set, the job's commit publishes nothing. The redrive
	// sets it before it changes anything and clears it when it is done.
	Redriving string `json:"redriving,omitempty"`
	// RedrivingBy names the process that holds the job for a redrive
	// (Redriving set): its worker name, host:pid by default. A hold left
	// by a redrive that was killed stays until `fanout redrive` runs
	// again; status shows who took it and when (Since).
	RedrivingBy string `json:"redriving_by,omitempty"`
	// Token is random per write, so that no two writers ever send
	// identical bytes: a backend that resolves a retried conditional
	// write by comparing ETags (objstore.PutOptions.IfMatch) then never
	// tells a writer it won another writer's write.
	Token string `json:"token"`
}

// Owner states.
const (
	// OwnerRunning: the job is being planned, is running, or was
	// interrupted; a --rerun may take the output over from it.
	OwnerRunning = "running"
	// OwnerFailed: the job's commit found too many failed chunks (or
	// rejected records); `fanout redrive` sets it back to running (with
	// Redriving set until the redrive is done).
	OwnerFailed = "failed"
	// OwnerCommitting: the job's commit has fenced the output and may be
	// publishing. Final for the job: only a job with --overwrite takes
	// the output over, and only once the commit is complete.
	OwnerCommitting = "committing"
	// OwnerCancelled: `fanout cancel` stopped the job before its commit
	// fenced the output. Final for the job: its commit is refused, and
	// the output is free for any other job.
	OwnerCancelled = "cancelled"
)

// OwnerKey is the key of the output's Owner record. It is not under any
// job's prefix ("OWNER" is not a job ID).
func (l Layout) OwnerKey() string { return l.FanoutPrefix() + "OWNER" }

// Validate checks the owner record's invariants.
func (o *Owner) Validate() error {
	if err := checkVersion("owner", o.Version); err != nil {
		return err
	}
	switch {
	case !ValidJobID(o.Job):
		return invalid("owner", fmt.Errorf("job %q is not a job ID", truncate(o.Job, 40)))
	case o.Spec != "" && !ValidJobID(o.Spec):
		return invalid("owner", fmt.Errorf("spec %q is not a job ID", truncate(o.Spec, 40)))
	case o.Previous != "" && !ValidJobID(o.Previous):
		return invalid("owner", fmt.Errorf("previous job %q is not a job ID", truncate(o.Previous, 40)))
	case o.Replaces != "" && !ValidJobID(o.Replaces):
		return invalid("owner", fmt.Errorf("replaced job %q is not a job ID", truncate(o.Replaces, 40)))
	case o.Token == "":
		return invalid("owner", errors.New("no token"))
	case o.Generation < 0:
		return invalid("owner", fmt.Errorf("generation %d is negative", o.Generation))
	}
	switch o.State {
	case OwnerRunning, OwnerFailed, OwnerCommitting, OwnerCancelled:
		return nil
	}
	return invalid("owner", fmt.Errorf("state %q", truncate(o.State, 40)))
}

// DecodeOwner decodes and validates an Owner record.
func DecodeOwner(b []byte) (*Owner, error) {
	return decode[Owner]("owner", b)
}

// CancelRecord is written create-only at Layout.CancelKey once a job was
// cancelled (its owner record moved to OwnerCancelled first): the job's
// own durable note of it, which outlives the owner record when another
// job takes the output.
type CancelRecord struct {
	Version   int       `json:"version"`
	Job       string    `json:"job"`
	Cancelled time.Time `json:"cancelled"`
	Reason    string    `json:"reason,omitempty"`
}

// CancelKey is the key of job's CancelRecord.
func (l Layout) CancelKey(job string) string { return l.JobPrefix(job) + "_CANCELLED" }

// RemovedKey is the key of job's tombstone, which `fanout gc` creates
// before it removes what a job that lost the output left (a
// RemovedRecord), and keeps: a job with one never takes an output over
// again.
func (l Layout) RemovedKey(job string) string { return l.JobPrefix(job) + "_REMOVED" }

// RemovedRecord is the body of a job's tombstone (Layout.RemovedKey).
type RemovedRecord struct {
	Version int       `json:"version"`
	Job     string    `json:"job"`
	Removed time.Time `json:"removed"`
	// Owner is the job that owned the output when gc removed this one.
	Owner string `json:"owner,omitempty"`
}

// Validate checks the cancel record's invariants.
func (c *CancelRecord) Validate() error {
	if err := checkVersion("cancel record", c.Version); err != nil {
		return err
	}
	if !ValidJobID(c.Job) {
		return invalid("cancel record", fmt.Errorf("job %q is not a job ID", truncate(c.Job, 40)))
	}
	return nil
}

// DecodeCancel decodes and validates a CancelRecord.
func DecodeCancel(b []byte) (*CancelRecord, error) {
	return decode[CancelRecord]("cancel record", b)
}
