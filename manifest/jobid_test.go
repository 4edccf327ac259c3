package manifest

import (
	"testing"
	"time"
)

func testSpec() JobSpec {
	return JobSpec{
		Inputs:   []string{"s3://in/logs/"},
		Function: "grep",
		Args:     map[string]string{"pattern": "ERROR", "invert": "false"},
		Output:   "s3://out/errors/",
	}
}

func TestJobID(t *testing.T) {
	base := JobID(testSpec(), "digest")
	if !ValidJobID(base) {
		t.Fatalf("JobID = %q, not a valid job ID", base)
	}
	tests := []struct {
		name     string
		spec     func() JobSpec
		digest   string
		wantSame bool
	}{
		{"same", testSpec, "digest", true},
		{"defaults spelled out", func() JobSpec { return testSpec().WithDefaults() }, "digest", true},
		{"args built in another order", func() JobSpec {
			s := testSpec()
			s.Args = map[string]string{}
			s.Args["invert"] = "false"
			s.Args["pattern"] = "ERROR"
			return s
		}, "digest", true},
		{"empty partition list", func() JobSpec { s := testSpec(); s.PartitionBy = []string{}; return s }, "digest", true},
		{"other digest", testSpec, "digest2", false},
		{"empty digest", testSpec, "", false},
		{"nonce", func() JobSpec { s := testSpec(); s.Nonce = "1"; return s }, "digest", false},
		{"other arg", func() JobSpec { s := testSpec(); s.Args["pattern"] = "WARN"; return s }, "digest", false},
		{"other lease", func() JobSpec { s := testSpec(); s.Lease = Duration(time.Minute + 1); return s }, "digest", false},
		{"other input", func() JobSpec { s := testSpec(); s.Inputs = []string{"s3://in/other/"}; return s }, "digest", false},
		{"digest moved into nonce", func() JobSpec { s := testSpec(); s.Nonce = "digest"; return s }, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JobID(tt.spec(), tt.digest)
			if !ValidJobID(got) {
				t.Errorf("JobID = %q, not a valid job ID", got)
			}
			if (got == base) != tt.wantSame {
				t.Errorf("JobID = %q, base %q; want same %v", got, base, tt.wantSame)
			}
		})
	}
}

func TestJobIDDoesNotChangeSpec(t *testing.T) {
	s := testSpec()
	JobID(s, "")
	if s.ChunkBytes != 0 || s.Version != 0 {
		t.Errorf("spec after JobID: ChunkBytes %d, Version %d; want both 0", s.ChunkBytes, s.Version)
	}
}

func TestValidJobID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"valid", "j0123456789abcdef0123", true},
		{"empty", "", false},
		{"short", "j0123456789abcdef012", false},
		{"long", "j0123456789abcdef01234", false},
		{"upper hex", "j0123456789ABCDEF0123", false},
		{"no j", "k0123456789abcdef0123", false},
		{"non hex", "j0123456789abcdefg123", false},
		{"slash", "j0123456789abcdef/123", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidJobID(tt.in); got != tt.want {
				t.Errorf("ValidJobID(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestChunkID(t *testing.T) {
	tests := []struct {
		name string
		i    int
		want string
	}{
		{"zero", 0, "c00000000"},
		{"small", 42, "c00000042"},
		{"largest padded", 99999999, "c99999999"},
		{"widened", 100000000, "c100000000"},
		{"wider", 1234567890, "c1234567890"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ChunkID(tt.i)
			if got != tt.want {
				t.Errorf("ChunkID(%d) = %q, want %q", tt.i, got, tt.want)
			}
			back, err := ChunkIndex(got)
			if err != nil || back != tt.i {
				t.Errorf("ChunkIndex(%q) = %d, %v; want %d, nil", got, back, err, tt.i)
			}
		})
	}
}

func TestChunkIDNegativePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("ChunkID(-1) did not panic")
		}
	}()
	ChunkID(-1)
}

func TestChunkIndexErrors(t *testing.T) {
	for _, id := range []string{"", "c", "c1", "c0000001", "x00000001", "c0000000a", "c-0000001",
		"c+0000001", "c000000001", "C00000001", "c 0000001", "c99999999999999999999999"} {
		t.Run(id, func(t *testing.T) {
			if n, err := ChunkIndex(id); err == nil {
				t.Errorf("ChunkIndex(%q) = %d, nil; want an error", id, n)
			}
			if ValidChunkID(id) {
				t.Errorf("ValidChunkID(%q) = true, want false", id)
			}
		})
	}
}

func TestShardOf(t *testing.T) {
	tests := []struct {
		name                  string
		chunk, size           int
		wantShard, wantShards int
	}{
		{"first", 0, 100, 0, 0},
		{"last of first", 99, 100, 0, 1},
		{"first of second", 100, 100, 1, 1},
		{"size one", 7, 1, 7, 7},
		{"partial", 250, 100, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ShardOf(tt.chunk, tt.size); got != tt.wantShard {
				t.Errorf("ShardOf(%d, %d) = %d, want %d", tt.chunk, tt.size, got, tt.wantShard)
			}
			if got := ShardCount(tt.chunk, tt.size); got != tt.wantShards {
				t.Errorf("ShardCount(%d, %d) = %d, want %d", tt.chunk, tt.size, got, tt.wantShards)
			}
		})
	}
}
