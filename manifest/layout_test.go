package manifest

import (
	"strings"
	"testing"
)

func TestNewLayout(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"no slash", "out", "out/"},
		{"slash", "out/", "out/"},
		{"nested", "a/b", "a/b/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewLayout(tt.in).Prefix; got != tt.want {
				t.Errorf("NewLayout(%q).Prefix = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLayoutKeys(t *testing.T) {
	const job = "j0123456789abcdef0123"
	for _, prefix := range []string{"", "out/"} {
		l := NewLayout(prefix)
		tests := []struct {
			name string
			got  string
			want string
		}{
			{"FanoutPrefix", l.FanoutPrefix(), prefix + "_fanout/"},
			{"JobPrefix", l.JobPrefix(job), prefix + "_fanout/" + job + "/"},
			{"ManifestKey", l.ManifestKey(job), prefix + "_fanout/" + job + "/manifest.json"},
			{"ShardKey", l.ShardKey(job, 7), prefix + "_fanout/" + job + "/manifest/000007.json"},
			{"ShardKey wide", l.ShardKey(job, 1234567), prefix + "_fanout/" + job + "/manifest/1234567.json"},
			{"MarkerPrefix", l.MarkerPrefix(job), prefix + "_fanout/" + job + "/chunks/"},
			{"MarkerKey", l.MarkerKey(job, "c00000003"), prefix + "_fanout/" + job + "/chunks/ff/c00000003.json"},
			{"StagingRoot", l.StagingRoot(job), prefix + "_fanout/" + job + "/staging/"},
			{"StagingPrefix", l.StagingPrefix(job, "c00000003", 12), prefix + "_fanout/" + job + "/staging/ff/c00000003/12/"},
			{"CommitKey", l.CommitKey(job), prefix + "_fanout/" + job + "/_COMMITTED"},
			{"CommitPartsPrefix", l.CommitPartsPrefix(job), prefix + "_fanout/" + job + "/commit/"},
			{"CommitPartKey", l.CommitPartKey(job, "0a1b", 12), prefix + "_fanout/" + job + "/commit/0a1b/files-000012.json"},
			{"CommitPendingKey", l.CommitPendingKey(job, "0a1b", 3), prefix + "_fanout/" + job + "/commit/0a1b/pending-000003.json"},
			{"SuccessKey", l.SuccessKey(), prefix + "_SUCCESS"},
			{"DataKey unpartitioned", l.DataKey("", "part-0.parquet"), prefix + "part-0.parquet"},
			{"DataKey partitioned", l.DataKey("a=1/b=x", "part-0.parquet"), prefix + "a=1/b=x/part-0.parquet"},
			{"DataKey trailing slash", l.DataKey("a=1/", "f"), prefix + "a=1/f"},
		}
		for _, tt := range tests {
			t.Run("prefix="+prefix+"/"+tt.name, func(t *testing.T) {
				if tt.got != tt.want {
					t.Errorf("got %q, want %q", tt.got, tt.want)
				}
			})
		}
	}
}

// TestChunkSpreadSpreads checks that the spread directories of a job's
// sequential chunk IDs cover all 256 values, none holding more than twice
// its share, so that marker writes spread over S3's key partitions.
func TestChunkSpreadSpreads(t *testing.T) {
	const n = 25600
	count := map[string]int{}
	for i := range n {
		s := ChunkSpread(ChunkID(i))
		if len(s) != 2 || strings.Trim(s, "0123456789abcdef") != "" {
			t.Fatalf("ChunkSpread(%q) = %q, want two lowercase hex digits", ChunkID(i), s)
		}
		count[s]++
	}
	if len(count) != 256 {
		t.Fatalf("%d chunks spread over %d directories, want 256", n, len(count))
	}
	for s, c := range count {
		if c > 2*n/256 {
			t.Errorf("directory %s holds %d of %d chunks, want at most %d", s, c, n, 2*n/256)
		}
	}
}

func TestChunkFromMarkerKey(t *testing.T) {
	const job = "j0123456789abcdef0123"
	l := NewLayout("out")
	tests := []struct {
		name   string
		key    string
		want   string
		wantOK bool
	}{
		{"marker", l.MarkerKey(job, "c00000042"), "c00000042", true},
		{"round trip any name", l.MarkerKey(job, "r0001"), "r0001", true},
		{"other job", l.MarkerKey("j0000000000000000000a", "c00000042"), "", false},
		{"no suffix", l.MarkerPrefix(job) + "c00000042", "", false},
		{"empty name", l.MarkerPrefix(job) + ".json", "", false},
		{"flat (old layout)", l.MarkerPrefix(job) + "c00000042.json", "", false},
		{"wrong spread directory", l.MarkerPrefix(job) + "00/c00000042.json", "", false},
		{"nested", l.MarkerPrefix(job) + ChunkSpread("c00000042") + "/x/c00000042.json", "", false},
		{"manifest", l.ManifestKey(job), "", false},
		{"no prefix", "_fanout/" + job + "/chunks/c00000042.json", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := l.ChunkFromMarkerKey(job, tt.key)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ChunkFromMarkerKey(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
