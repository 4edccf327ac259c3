package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/localstack"
)

// TestTwoRunsOnOneOutput starts two `fanout run` processes together on
// real MinIO and Redis, converting different inputs into one --out.
// Before outputs had owners both exited 0 with each other's files mixed
// in; now exactly one commits, the other fails naming the owner job, and
// the oracle finds exactly the winner's records.
func TestTwoRunsOnOneOutput(t *testing.T) {
	j := newFaultJob(t, faultSetup{})
	half := len(j.ids) / 2 // in/part-00 and -01 hold the first half
	inputs := []string{"s3://" + j.bucket + "/in/", "s3://" + j.bucket + "/in/part-0[01].jsonl"}
	want := [][]string{j.ids, j.ids[:half]}
	var procs [2]*localstack.Proc
	for i, in := range inputs {
		args := append([]string{"run", "--json", "--quiet", "--workers", "2"}, j.jobArgs()...)
		for k := range args {
			if args[k] == "--in" {
				args[k+1] = in
			}
		}
		procs[i] = localstack.Start(t, "run"+string(rune('a'+i)), j.env(""), fanoutBinary(t), args...)
	}
	var res [2]runJSON
	var errs [2]error
	for i, p := range procs {
		errs[i] = p.Wait(t, 2*time.Minute)
		json.Unmarshal([]byte(p.Stdout()), &res[i])
	}
	won := 0
	if errs[0] != nil {
		won = 1
	}
	lost := 1 - won
	if errs[won] != nil || res[won].State != "committed" {
		t.Fatalf("no run committed: %v, %v\nstderr a:\n%s\nstderr b:\n%s", errs[0], errs[1], procs[0].Stderr(), procs[1].Stderr())
	}
	if errs[lost] == nil {
		t.Fatalf("both runs exited 0 on one output: %+v, %+v", res[0], res[1])
	}
	if msg := procs[lost].Stderr() + procs[lost].Stdout(); !strings.Contains(msg, "is owned by job "+res[won].Job) {
		t.Errorf("the refused run does not name the owner %s:\n%s", res[won].Job, msg)
	}
	j.job = res[won].Job
	c := faulttest.CheckCommitted(t, j.store, "out/", j.job, faulttest.JSONField("id"), want[won])
	t.Logf("run %d (%s) committed %d records in %d files; the other was refused", won, inputs[won], c.Records, len(c.Files))
}
