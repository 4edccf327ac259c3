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
	// Reason says why the job failed (State OwnerFailed).
	Reason string `json:"reason,omitempty"`
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
	// rejected records); `fanout redrive` sets it back to running.
	OwnerFailed = "failed"
	// OwnerCommitting: the job's commit has fenced the output and may be
	// publishing. Final: the owner never changes again.
	OwnerCommitting = "committing"
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
	case o.Token == "":
		return invalid("owner", errors.New("no token"))
	}
	switch o.State {
	case OwnerRunning, OwnerFailed, OwnerCommitting:
		return nil
	}
	return invalid("owner", fmt.Errorf("state %q", truncate(o.State, 40)))
}

// DecodeOwner decodes and validates an Owner record.
func DecodeOwner(b []byte) (*Owner, error) {
	return decode[Owner]("owner", b)
}
