package cli

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
)

// snakeKey is the form of every key the commands' JSON has.
var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// userKeyed are objects whose keys are the user's names (objects,
// columns, rules, counters), not the program's.
var userKeyed = map[string]bool{"drift": true, "counters": true, "rejected_by_rule": true, "rejected_by_column": true}

// checkKeys fails the test for every key of v (decoded JSON) that is not
// snake_case, naming where it is.
func checkKeys(t *testing.T, where string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !snakeKey.MatchString(k) {
				t.Errorf("%s: key %q is not snake_case", where, k)
			}
			if !userKeyed[k] {
				checkKeys(t, where+"."+k, x)
			}
		}
	case []any:
		for _, x := range v {
			checkKeys(t, where+"[]", x)
		}
	}
}

// Every JSON the commands print, and every --progress json event, has
// snake_case keys (status printed "Pending" and "Done" once): run,
// status of a queued and of a committed job, jobs, cancel, a dry run.
func TestJSONKeysAreSnakeCase(t *testing.T) {
	redisURL, prefix := localstack.RedisNamespace(t)
	j := newSlowJob(t, "0")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "FANOUT_REDIS_URL=" + redisURL, "FANOUT_REDIS_PREFIX=" + prefix}
	decode := func(what, s string) any {
		t.Helper()
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", what, err, s)
		}
		return v
	}
	run := func(args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runIn(t, j.dir, env, args...)
		if code != exitOK {
			t.Fatalf("%s: exit code %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
		return stdout, stderr
	}

	stdout, stderr := run(append(j.args, "--json", "--progress", "json", "--log-format", "json")...)
	res := decode("run --json", stdout)
	checkKeys(t, "run --json", res)
	for line := range strings.Lines(stderr) {
		checkKeys(t, "a --progress json event or log line", decode("a --progress json event or log line", line))
	}
	job := res.(map[string]any)["job"].(string)
	stdout, _ = run("status", job, "--json")
	checkKeys(t, "status --json of a committed job", decode("status --json", stdout))
	stdout, _ = run(append(append([]string{}, j.args...), "--json", "--dry-run", "--rerun")...)
	checkKeys(t, "run --dry-run --json", decode("run --dry-run --json", stdout))

	// A job nobody runs: queued, then cancelled.
	stdout, _ = run("submit", "--in", "in/", "--fn", "grep", "--arg", "pattern=line", "--out", "queued/")
	queued := strings.TrimSpace(stdout)
	stdout, _ = run("status", queued, "--json")
	checkKeys(t, "status --json of a queued job", decode("status --json", stdout))
	stdout, _ = run("jobs", "--json")
	checkKeys(t, "jobs --json", decode("jobs --json", stdout))
	stdout, _ = run("cancel", queued, "--json")
	checkKeys(t, "cancel --json", decode("cancel --json", stdout))
	stdout, _ = run("jobs", "--json")
	checkKeys(t, "jobs --json after the cancel", decode("jobs --json", stdout))
}
