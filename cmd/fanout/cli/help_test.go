package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Every command's --help shows placeholders that read (--fn NAME,
// --grace DURATION), never pflag's type names (--name string, --grace
// duration) nor words of the description (--fn fanout functions).
func TestHelpPlaceholdersRead(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runIn(t, dir, nil, "--help")
	if code != exitOK {
		t.Fatalf("--help: exit code %d: %s", code, stderr)
	}
	_, list, ok := strings.Cut(stdout, "Available Commands:\n")
	if !ok {
		t.Fatalf("--help lists no commands:\n%s", stdout)
	}
	list, _, _ = strings.Cut(list, "\n\n")
	commands := []string{""}
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] != "help" && f[0] != "completion" {
			commands = append(commands, f[0])
		}
	}
	if len(commands) < 15 {
		t.Fatalf("--help lists %d commands: %q", len(commands)-1, commands)
	}
	// A flag line: "  -v, --verbose   text" or "      --fn NAME   text".
	flagLine := regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9-]+)(?: (\S+))?\s{2,}`)
	typeNames := []string{"string", "strings", "stringArray", "stringSlice", "int", "int64", "uint", "float", "float64", "duration", "bool"}
	seen := map[string]string{}
	for _, c := range commands {
		args := []string{"--help"}
		if c != "" {
			args = []string{c, "--help"}
		}
		code, stdout, stderr := runIn(t, dir, nil, args...)
		if code != exitOK {
			t.Errorf("%s --help: exit code %d: %s", c, code, stderr)
			continue
		}
		for _, l := range strings.Split(stdout, "\n") {
			m := flagLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			if slices.Contains(typeNames, m[2]) {
				t.Errorf("fanout %s --help: --%s shows the type name %q as its placeholder: %q", c, m[1], m[2], strings.TrimSpace(l))
			}
			if m[2] != "" && m[2] != strings.ToUpper(m[2]) && !strings.Contains(m[2], "|") && !strings.Contains(m[2], ":") {
				t.Errorf("fanout %s --help: --%s's placeholder %q is neither a NAME in capitals nor a choice a|b: %q", c, m[1], m[2], strings.TrimSpace(l))
			}
			seen[c+" --"+m[1]] = m[2]
		}
	}
	for flag, want := range map[string]string{"run --fn": "NAME", "run --workers": "N", "run --grace": "DURATION", "run --lease": "DURATION",
		"work --grace": "DURATION", "wait --workers": "N", "run --in": "URL", "run --out": "URL", "run --arg": "K=V", " --redis": "URL"} {
		if got, ok := seen[flag]; !ok || got != want {
			t.Errorf("fanout %s: placeholder %q, want %q", flag, got, want)
		}
	}
}

// fanout functions lists every function with every argument it takes,
// and fanout functions NAME describes one: each argument the function
// accepts (as its own refusal of an unknown one lists them) is named,
// K=..., in its description or in the arguments every function takes.
func TestFunctionsListEveryArgument(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.csv"), []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, all, stderr := runIn(t, dir, nil, "functions")
	if code != exitOK {
		t.Fatalf("functions: exit code %d: %s", code, stderr)
	}
	var names []string
	for _, l := range strings.Split(all, "\n") {
		if m := regexp.MustCompile(`^([a-z][a-z0-9_]*)\s{2,}\S`).FindStringSubmatch(l); m != nil {
			names = append(names, m[1])
		}
	}
	if len(names) < 10 || !slices.Contains(names, "convert") || !slices.Contains(names, "grep") {
		t.Fatalf("functions lists %q:\n%s", names, all)
	}
	valid := regexp.MustCompile(`unknown argument "zzz_unknown" \(valid: ([a-z_, ]+)\)`)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			code, one, stderr := runIn(t, dir, nil, "functions", name)
			if code != exitOK || !strings.HasPrefix(one, name+"  ") {
				t.Fatalf("functions %s: exit code %d, stdout:\n%s\nstderr: %s", name, code, one, stderr)
			}
			line := regexp.MustCompile(`(?m)^` + name + `\s{2,}.*$`).FindString(all)
			if desc := strings.SplitN(one, "\n", 2)[0]; strings.Join(strings.Fields(desc), " ") != strings.Join(strings.Fields(line), " ") {
				t.Errorf("functions %s says %q, the list %q", name, desc, line)
			}
			// The function's own list of its arguments, from a dry run
			// (which checks arguments and writes nothing).
			code, _, stderr = runIn(t, dir, nil, "run", "--in", "a.csv", "--fn", name, "--arg", "zzz_unknown=1", "--out", "out/", "--dry-run")
			m := valid.FindStringSubmatch(stderr)
			if code != exitFailed || m == nil {
				t.Fatalf("dry run with an unknown argument: exit code %d, stderr %q", code, stderr)
			}
			for _, arg := range strings.Split(m[1], ", ") {
				if !strings.Contains(one, arg+"=") {
					t.Errorf("functions %s does not name its argument %s=:\n%s", name, arg, one)
				}
			}
		})
	}
}
