package manifest

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDurationMarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		d    Duration
		want string
	}{
		{"zero", 0, `"0s"`},
		{"seconds", Duration(30 * time.Second), `"30s"`},
		{"mixed", Duration(90*time.Minute + 500*time.Millisecond), `"1h30m0.5s"`},
		{"negative", Duration(-time.Second), `"-1s"`},
		{"nanoseconds", 7, `"7ns"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.d)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal(%v) = %s, want %s", time.Duration(tt.d), got, tt.want)
			}
		})
	}
}

func TestDurationUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Duration
		wantErr bool
	}{
		{"string", `"30s"`, Duration(30 * time.Second), false},
		{"compound string", `"1h2m3s"`, Duration(time.Hour + 2*time.Minute + 3*time.Second), false},
		{"fraction string", `"1.5s"`, Duration(1500 * time.Millisecond), false},
		{"zero string", `"0"`, 0, false},
		{"nanoseconds", `1000000000`, Duration(time.Second), false},
		{"negative nanoseconds", `-5`, -5, false},
		{"exponent", `1e9`, Duration(time.Second), false},
		{"integral float", `2.0`, 2, false},
		{"max int64", `9223372036854775807`, Duration(1<<63 - 1), false},
		{"null keeps value", `null`, 42, false},
		{"spaces", ` "1s" `, Duration(time.Second), false},
		{"bad string", `"thirty seconds"`, 0, true},
		{"missing unit", `"30"`, 0, true},
		{"fractional nanoseconds", `1.5`, 0, true},
		{"overflow", `1e19`, 0, true},
		{"overflow 2^63", `9223372036854775808`, 0, true},
		{"bool", `true`, 0, true},
		{"object", `{}`, 0, true},
		{"empty", ``, 0, true},
		{"unterminated string", `"1s`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Duration(42)
			err := d.UnmarshalJSON([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Errorf("UnmarshalJSON(%s) = %v, nil; want an error", tt.in, time.Duration(d))
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalJSON(%s) error: %v", tt.in, err)
			}
			if d != tt.want {
				t.Errorf("UnmarshalJSON(%s) = %v, want %v", tt.in, time.Duration(d), time.Duration(tt.want))
			}
		})
	}
}

func TestDurationInStruct(t *testing.T) {
	type doc struct {
		Lease Duration `json:"lease"`
	}
	var got doc
	if err := json.Unmarshal([]byte(`{"lease":"1m"}`), &got); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if got.Lease != Duration(time.Minute) {
		t.Errorf("Lease = %v, want 1m0s", got.Lease)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if string(b) != `{"lease":"1m0s"}` {
		t.Errorf("Marshal = %s, want %s", b, `{"lease":"1m0s"}`)
	}
}
