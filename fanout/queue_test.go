package fanout_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
)

func TestJobQueueSpecValidate(t *testing.T) {
	good := fanout.JobQueueSpec{Job: "j", Lease: time.Second, MaxDeliveries: 1, MaxFailures: 1, BackoffBase: time.Millisecond, BackoffMax: time.Second}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v, want nil", good, err)
	}
	tests := []struct {
		name  string
		edit  func(*fanout.JobQueueSpec)
		field string // the field the error must name
	}{
		{"empty job", func(s *fanout.JobQueueSpec) { s.Job = "" }, "Job"},
		{"sub-millisecond lease", func(s *fanout.JobQueueSpec) { s.Lease = time.Microsecond }, "Lease"},
		{"zero max deliveries", func(s *fanout.JobQueueSpec) { s.MaxDeliveries = 0 }, "MaxDeliveries"},
		{"zero max failures", func(s *fanout.JobQueueSpec) { s.MaxFailures = 0 }, "MaxFailures"},
		{"negative backoff", func(s *fanout.JobQueueSpec) { s.BackoffBase = -time.Second }, "BackoffBase"},
		{"backoff max below base", func(s *fanout.JobQueueSpec) { s.BackoffMax = 0 }, "BackoffMax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.edit(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), "JobQueueSpec."+tt.field+" ") {
				t.Fatalf("Validate(%+v) = %v, want an error naming JobQueueSpec.%s", s, err, tt.field)
			}
		})
	}
}
