package cli

import "testing"

// userText removes the libraries' package prefixes, stacked ones too,
// and leaves what a program wrote to its stderr as it wrote it.
func TestUserText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"codec: x.csv: bad", "x.csv: bad"},
		{"job j: fanout: codec: bad", "job j: bad"},
		{"open (miniostore: objstore: gone)", "open (gone)"},
		{"a; s3compat: denied", "a; denied"},
		{`chunk c1: exec: "tool": exit status 1; stderr: manifest: my own message`, `chunk c1: exec: "tool": exit status 1; stderr: manifest: my own message`},
		{`codec: exec: "t": exit status 2; stderr (last 4 KiB): ...codec: theirs`, `exec: "t": exit status 2; stderr (last 4 KiB): ...codec: theirs`},
		{`column "codec: x" is missing`, `column "codec: x" is missing`},
		{"in/manifest: short read", "in/manifest: short read"},
	} {
		if got := userText(tt.in); got != tt.want {
			t.Errorf("userText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
