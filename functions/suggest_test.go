package functions

import "testing"

func TestClosest(t *testing.T) {
	flags := []string{"workers", "workers-max", "out", "out-format", "partition-by", "rerun"}
	for _, tt := range []struct {
		name, want string
	}{
		{"wokers", "workers"},
		{"WORKERS", "workers"},
		{"partiton-by", "partition-by"},
		{"partition", "partition-by"},
		{"ot", "out"},
		{"rreun", "rerun"},
		{"rerun", "rerun"},
		{"x", ""},
		{"parallelism", ""},
		{"", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Closest(tt.name, flags); got != tt.want {
				t.Errorf("Closest(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
	if got := Closest("a", nil); got != "" {
		t.Errorf("Closest with no candidates = %q, want none", got)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"zürich", "zurich", 1}, {"flaw", "lawn", 2}, {"lien", "line", 1}, {"ca", "abc", 3}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
