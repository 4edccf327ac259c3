package builtin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/localstack"
)

func needPrograms(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			localstack.Missing(t, fmt.Sprintf("%s (the exec tests need it: %v)", n, err))
		}
	}
}

func TestExec(t *testing.T) {
	needPrograms(t, "cat", "grep", "sh", "tr", "head", "printf")
	many := make([]string, 100_000)
	for i := range many {
		many[i] = fmt.Sprintf("line %d", i)
	}
	tests := []struct {
		name string
		args map[string]string
		in   *sliceInput
		want []string
	}{
		{"cat", map[string]string{"cmd": "cat"}, lines("a", "", "c d"), []string{"a", "", "c d"}},
		{"empty chunk", map[string]string{"cmd": "cat"}, lines(), []string{}},
		{"grep", map[string]string{"cmd": "grep -v 'b a'"}, lines("a b", "b a", "c"), []string{"a b", "c"}},
		{"grep no match exits 1", map[string]string{"cmd": "grep -c zzz", "shell": "true"}, lines("a"), nil},
		{"rows as json", map[string]string{"cmd": "cat"}, peopleInput(), []string{
			`{"name":"alice","age":30,"vip":true}`,
			`{"name":"bob","age":17,"vip":null}`,
			`{"name":null,"age":null,"vip":false}`,
		}},
		{"shell pipeline", map[string]string{"cmd": "tr a-z A-Z | head -n 2", "shell": "true"}, lines(many...), []string{"LINE 0", "LINE 1"}},
		{"stops reading early", map[string]string{"cmd": "head -n 1"}, lines(many...), []string{"line 0"}},
		{"output without input", map[string]string{"cmd": `printf 'x\r\ny\nlast'`}, lines("ignored"), []string{"x", "y", "last"}},
		{"timeout not reached", map[string]string{"cmd": "cat", "timeout": "1m"}, lines("a"), []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, schema, err := run(t, builtin.Exec{}, tt.args, tt.in)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), "exit status 1") {
					t.Fatalf("got %v, want exit status 1", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := schema.String(); got != "line:string" {
				t.Errorf("got schema %s, want line:string", got)
			}
			if got := out.texts(); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExecFailures(t *testing.T) {
	needPrograms(t, "sh")
	tests := []struct {
		name      string
		args      map[string]string
		want      []string // substrings of the error
		notWant   string
		permanent bool
	}{
		{
			name: "exit status",
			args: map[string]string{"cmd": "sh -c 'echo oops >&2; exit 3'"},
			want: []string{`exec: "sh -c 'echo oops >&2; exit 3'": exit status 3; stderr: oops`},
		},
		{
			name:    "stderr tail",
			args:    map[string]string{"cmd": `i=0; while [ $i -lt 3000 ]; do echo "noise $i" >&2; i=$((i+1)); done; exit 2`, "shell": "true"},
			want:    []string{"exit status 2", "stderr (last 4 KiB): ...", "noise 2999"},
			notWant: "noise 0\n",
		},
		{
			name:      "no such program",
			args:      map[string]string{"cmd": "fanout-no-such-program --flag"},
			want:      []string{`exec: start "fanout-no-such-program --flag"`, "executable file not found"},
			permanent: true,
		},
		{
			name: "timeout",
			args: map[string]string{"cmd": "sh -c 'echo started >&2; exec sleep 100'", "timeout": "200ms"},
			want: []string{"timed out after 200ms; stderr: started"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, builtin.Exec{}, tt.args, lines("a"))
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
			if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("got %q, want it not to contain %q", err, tt.notWant)
			}
			if len(err.Error()) > 4096+200 {
				t.Errorf("got an error of %d bytes, want the stderr tail bounded", len(err.Error()))
			}
			if got := functions.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent: got %v, want %v", got, tt.permanent)
			}
		})
	}
}

// signalInput is an input of one line that closes started when it is
// first read, that is once the program runs.
type signalInput struct {
	*sliceInput
	started chan struct{}
}

func (in *signalInput) Next() (*functions.Record, error) {
	select {
	case <-in.started:
	default:
		close(in.started)
	}
	return in.sliceInput.Next()
}

func TestExecCancelKillsProgram(t *testing.T) {
	needPrograms(t, "sleep", "sh")
	tests := []struct {
		name string
		args map[string]string
	}{
		{"program", map[string]string{"cmd": "sleep 100"}},
		// sh forks sleep, which holds stdout: the whole group must die.
		{"child of a shell", map[string]string{"cmd": "sleep 100; echo done", "shell": "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, err := builtin.Exec{}.Prepare(functions.Params{Args: tt.args, Input: functions.LinesSchema})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			in := &signalInput{lines("x"), make(chan struct{})}
			done := make(chan error, 1)
			go func() { done <- task.Map(ctx, in, &sliceOutput{}) }()
			<-in.started
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("got %v, want %v", err, context.Canceled)
				}
			case <-time.After(3 * time.Second): // less than exec's WaitDelay
				t.Fatal("Map still running 3s after its context was cancelled")
			}
		})
	}
}

// genInput yields n lines of fixed width without holding them.
type genInput struct {
	n, i int
	rec  functions.Record
}

func (in *genInput) Schema() *functions.Schema { return functions.LinesSchema }

func (in *genInput) Next() (*functions.Record, error) {
	if in.i == in.n {
		return nil, io.EOF
	}
	in.rec.Raw = fmt.Appendf(in.rec.Raw[:0], "%099d", in.i)
	in.i++
	return &in.rec, nil
}

// checkOutput checks that line i is genInput's line i, without holding
// the lines.
type checkOutput struct {
	n, bytes int
	err      error
}

func (o *checkOutput) Write(row functions.Row) error {
	if want := fmt.Sprintf("%099d", o.n); row[0].S != want && o.err == nil {
		o.err = fmt.Errorf("line %d: got %q, want %q", o.n, row[0].S, want)
	}
	o.n++
	o.bytes += len(row[0].S) + 1
	return nil
}

func TestExecLargeVolume(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 50 MB through cat; skipped with -short, scripts/test.sh runs it")
	}
	needPrograms(t, "cat")
	task, err := builtin.Exec{}.Prepare(functions.Params{Args: map[string]string{"cmd": "cat"}, Input: functions.LinesSchema})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500_000 // 100 bytes each: 50 MB
	out := &checkOutput{}
	if err := task.Map(context.Background(), &genInput{n: n}, out); err != nil {
		t.Fatal(err)
	}
	if out.err != nil {
		t.Fatal(out.err)
	}
	if out.n != n || out.bytes != 100*n {
		t.Errorf("got %d lines, %d bytes, want %d, %d", out.n, out.bytes, n, 100*n)
	}
}

// failOutput fails its first Write.
type failOutput struct{ err error }

func (o failOutput) Write(functions.Row) error { return o.err }

func TestExecOutputErrorStopsProgram(t *testing.T) {
	needPrograms(t, "cat")
	task, err := builtin.Exec{}.Prepare(functions.Params{Args: map[string]string{"cmd": "cat"}, Input: functions.LinesSchema})
	if err != nil {
		t.Fatal(err)
	}
	full := errors.New("disk full")
	done := make(chan error, 1)
	go func() { done <- task.Map(context.Background(), &genInput{n: 10_000_000}, failOutput{full}) }()
	select {
	case err := <-done:
		if !errors.Is(err, full) {
			t.Errorf("got %v, want %v", err, full)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Map still running 30s after its output failed")
	}
}

func TestExecInputErrorFailsChunk(t *testing.T) {
	needPrograms(t, "cat")
	in := lines("a", "b")
	bad := &functions.RecordError{Object: "x.jsonl", Offset: 4, Err: errors.New("bad JSON")}
	in.err = bad
	out, _, err := run(t, builtin.Exec{}, map[string]string{"cmd": "cat"}, in)
	if !errors.Is(err, bad) || !functions.IsPermanent(err) {
		t.Errorf("got %v (output %q), want %v", err, out.texts(), bad)
	}
}

func TestExecLongOutputLine(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 17 MB line; skipped with -short, scripts/test.sh runs it")
	}
	needPrograms(t, "head", "tr")
	_, _, err := run(t, builtin.Exec{}, map[string]string{"cmd": "head -c 17000000 /dev/zero | tr '\\0' x", "shell": "true"}, lines())
	if err == nil || !strings.Contains(err.Error(), "longer than") || !functions.IsPermanent(err) {
		t.Errorf("got %v, want a permanent error about a long line", err)
	}
}

func TestExecJSONEscapes(t *testing.T) {
	needPrograms(t, "cat")
	schema := &functions.Schema{Columns: []functions.Column{{Name: `we"ird`, Type: functions.String}, {Name: "t", Type: functions.Timestamp}}}
	in := rows(schema, functions.Row{
		functions.StringValue("a\nb\"c"),
		functions.TimeValue(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)),
	}, functions.Row{})
	out, _, err := run(t, builtin.Exec{}, map[string]string{"cmd": "cat"}, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"we\"ird":"a\nb\"c","t":"2024-05-01T12:00:00Z"}`, `{"we\"ird":null,"t":null}`}
	if got := out.texts(); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if bytes.Contains([]byte(want[0]), []byte("\n")) {
		t.Error("a JSON line holds a newline")
	}
}

// TestExecEnvironment runs env under exec with secrets in the test's
// environment: a program sees only what ExecEnv let through, and with a
// zero Exec nothing at all.
func TestExecEnvironment(t *testing.T) {
	needPrograms(t, "env")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-in-parent")
	t.Setenv("FANOUT_REDIS_URL", "redis://:redis-pw-in-parent@127.0.0.1:1/0")
	t.Setenv("FANOUT_EXEC_TEST_PASS", "passed-on")
	t.Setenv("LC_TIME", "C")
	env, err := builtin.ExecEnv(os.Environ(), []string{"FANOUT_EXEC_TEST_PASS", "EXTRA=a=b", "ABSENT_VAR"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fn   builtin.Exec
		want []string
	}{
		{"zero Exec", builtin.Exec{}, nil},
		{"ExecEnv", builtin.Exec{Env: env}, []string{"EXTRA=a=b", "FANOUT_EXEC_TEST_PASS=passed-on", "LC_TIME=C", "PATH=" + os.Getenv("PATH")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := run(t, tt.fn, map[string]string{"cmd": "env"}, lines())
			if err != nil {
				t.Fatal(err)
			}
			got := out.texts()
			for _, kv := range got {
				if strings.Contains(kv, "in-parent") || strings.HasPrefix(kv, "ABSENT_VAR=") {
					t.Errorf("the program sees %q", kv)
				}
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("got environment %q, want it to hold %q", got, w)
				}
			}
			if tt.want == nil && len(got) != 0 {
				t.Errorf("got environment %q, want none", got)
			}
		})
	}
	for _, bad := range []string{"", "=x", "A B"} {
		if _, err := builtin.ExecEnv(nil, []string{bad}); err == nil {
			t.Errorf("ExecEnv(%q): no error", bad)
		}
	}
}
