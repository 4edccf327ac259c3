package cli

import "testing"

func TestProgramName(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"", []string{"/usr/local/bin/accesslog"}, "accesslog"},
		{"", []string{`accesslog.exe`}, "accesslog"},
		{"", []string{"./fanout"}, "fanout"},
		{"mytool", []string{"/tmp/go-build123/b001/exe/main"}, "mytool"},
		{"", nil, "fanout"},
		{"", []string{""}, "fanout"},
	} {
		if got := programName(c.name, c.args); got != c.want {
			t.Errorf("programName(%q, %q) = %q, want %q", c.name, c.args, got, c.want)
		}
	}
}
