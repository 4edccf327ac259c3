package manifest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseMaxRejected(t *testing.T) {
	tests := []struct {
		in      string
		records int64
		want    int64
		err     string
	}{
		{"", 1000, -1, ""},
		{"  ", 5, -1, ""},
		{"0", 1000, 0, ""},
		{"25", 10, 25, ""},
		{"1%", 1000, 10, ""},
		{"1%", 999, 9, ""},
		{"2.5%", 1000, 25, ""},
		{"0.1%", 30000000000, 30000000, ""},
		{"100%", 7, 7, ""},
		{"101%", 7, 0, "more than 100%"},
		{"-1", 7, 0, "non-negative"},
		{"x%", 7, 0, "decimal"},
		{"1e3", 7, 0, "non-negative"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMaxRejected(tt.in, tt.records)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %d, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestRejectionsRoundTripAndSum(t *testing.T) {
	m := testMarker()
	m.Rejections = Rejections{
		Rejected: 3, RejectedByRule: map[string]int64{"type": 2, "required": 1}, RejectedByColumn: map[string]int64{"a": 3},
		RejectedFiles: []OutputFile{{Key: "out/_fanout/x/staging/c00000012/3/_rejected/part-c00000012-0000.jsonl", Size: 10, Rows: 3}},
		Counters:      map[string]int64{"trim.a": 4},
	}
	got, err := DecodeMarker(mustEncode(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Rejections, m.Rejections) {
		t.Fatalf("got %+v, want %+v", got.Rejections, m.Rejections)
	}
	var sum Rejections
	sum.Add(m.Rejections)
	sum.Add(m.Rejections.Clone())
	if sum.Rejected != 6 || sum.RejectedByRule["type"] != 4 || sum.RejectedByColumn["a"] != 6 || sum.Counters["trim.a"] != 8 || len(sum.RejectedFiles) != 2 {
		t.Fatalf("got sum %+v", sum)
	}
	if m.Rejections.RejectedByRule["type"] != 2 {
		t.Fatalf("Add changed its argument: %+v", m.Rejections)
	}
	// An old marker without the fields decodes with none.
	m2 := testMarker()
	if got, err := DecodeMarker(mustEncode(t, m2)); err != nil || got.Rejected != 0 || got.RejectedByRule != nil {
		t.Fatalf("got %+v, %v", got, err)
	}
	if strings.Contains(string(mustEncode(t, m2)), "rejected") {
		t.Fatal("a marker without rejections mentions them")
	}
}

func TestRejectionsMustBeValid(t *testing.T) {
	for name, r := range map[string]Rejections{
		"negative total":     {Rejected: -1},
		"negative rule":      {RejectedByRule: map[string]int64{"type": -1}},
		"file without a key": {RejectedFiles: []OutputFile{{Size: 1}}},
	} {
		t.Run(name, func(t *testing.T) {
			m := testMarker()
			m.Rejections = r
			if _, err := Encode(m); !errors.Is(err, ErrInvalid) {
				t.Errorf("marker: got %v, want ErrInvalid", err)
			}
			c := testCommit()
			c.Rejections = r
			if _, err := Encode(c); !errors.Is(err, ErrInvalid) {
				t.Errorf("commit: got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestSpecMaxRejected(t *testing.T) {
	s := testSpec().WithDefaults()
	id := JobID(s, "d")
	s.MaxRejected = "5%"
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if JobID(s, "d") == id {
		t.Error("max_rejected does not change the job ID")
	}
	s.MaxRejected = "five"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "max_rejected") {
		t.Fatalf("got %v, want an error naming max_rejected", err)
	}
	if got := NewLayout("out").RejectedKey("part-c00000001-0000.jsonl"); got != "out/_rejected/part-c00000001-0000.jsonl" {
		t.Errorf("got %q", got)
	}
}
