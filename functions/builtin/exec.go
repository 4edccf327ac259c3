package builtin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/functions"
)

// Exec is the exec function: it runs a program once per chunk, writes the
// chunk's records to its standard input, one per line, and turns each line
// of its standard output into an output row line:string.
//
// Arguments:
//
//	cmd=COMMAND     required; the program and its arguments
//	shell=true      run COMMAND with /bin/sh -c (pipes, globs, variables)
//	timeout=DUR     kill the program after this long (Go syntax: 90s, 5m)
//	mode=stream     keep the program running and send it chunk after chunk
//	                in JSON lines (ExecPool), instead of one run per chunk
//
// Without shell, COMMAND is split into words like a shell would split plain
// words, '...' and "..." quotes and backslash escapes, and nothing is
// expanded; unquoted shell syntax such as | is an error.
//
// A record is written as its input bytes (Raw) when it has them, and
// otherwise, as for Parquet, as a JSON object of its columns. Output lines
// lose their terminator (\n or \r\n). The program runs in fanout's working
// directory with the environment Env, never fanout's own: that holds
// credentials (AWS keys, the Redis URL, webhook and spec secrets) which a
// program could print into its error, and so into markers and logs.
//
// The chunk fails when the program exits with a non-zero status; the error
// holds the status and the last 4 KiB of its standard error. The program may
// stop reading its input early (head does): that is not an error. When the
// chunk's context is cancelled or the timeout expires, the program (and on
// Unix its process group) is killed.
type Exec struct {
	// Env is the programs' environment as NAME=VALUE entries; nil gives
	// them an empty one. ExecEnv builds one from a process's environment.
	Env []string
	// Pool keeps the programs of mode=stream running between chunks (see
	// ExecPool); without one, mode=stream fails.
	Pool *ExecPool
}

const (
	// stderrTail is how much of the end of a program's stderr an error shows.
	stderrTail = 4 << 10
	// maxLine bounds one line of a program's output.
	maxLine = 16 << 20
	// waitDelay bounds the wait for a killed program's pipes to close.
	waitDelay = 5 * time.Second
)

// Name returns "exec".
func (Exec) Name() string { return "exec" }

// Describe returns one line of help.
func (Exec) Describe() string {
	return "pipe each chunk's records through a program, one per line: cmd=COMMAND [shell=true] [timeout=DURATION] [mode=stream: one program for many chunks, JSON lines]"
}

// Prepare parses the command line and the options.
func (x Exec) Prepare(p functions.Params) (functions.Task, error) {
	const fn = "exec"
	if err := checkArgs(fn, p.Args, "cmd", "shell", "timeout", "mode"); err != nil {
		return nil, err
	}
	in, err := inputSchema(fn, p)
	if err != nil {
		return nil, err
	}
	cmd, ok := p.Args["cmd"]
	if !ok {
		return nil, functions.Permanent(errors.New("exec: missing argument cmd (the command to run)"))
	}
	shell, err := boolArg(fn, p, "shell")
	if err != nil {
		return nil, err
	}
	t := &execTask{cmd: cmd, keys: jsonKeys(in), env: x.Env, pool: x.Pool}
	switch mode := p.Arg("mode", "chunk"); mode {
	case "chunk":
	case "stream":
		t.stream = true
	default:
		return nil, argError(fn, "mode", mode, errors.New("want chunk (a run per chunk) or stream (one program for many chunks)"))
	}
	if t.env == nil {
		t.env = []string{} // a nil Cmd.Env would inherit fanout's
	}
	if shell {
		if cmd == "" {
			return nil, argError(fn, "cmd", cmd, errors.New("empty command"))
		}
		t.argv = []string{"/bin/sh", "-c", cmd}
	} else if t.argv, err = splitCommand(cmd); err != nil {
		return nil, argError(fn, "cmd", cmd, err)
	}
	if v, ok := p.Args["timeout"]; ok {
		if t.timeout, err = time.ParseDuration(v); err == nil && t.timeout <= 0 {
			err = errors.New("want a positive duration")
		}
		if err != nil {
			return nil, argError(fn, "timeout", v, err)
		}
	}
	return t, nil
}

// jsonKeys returns what precedes each column's value in a JSON object:
// `"a":`, `,"b":`, ...
func jsonKeys(s *functions.Schema) [][]byte {
	keys := make([][]byte, len(s.Columns))
	for i, c := range s.Columns {
		name, _ := json.Marshal(c.Name) // a string always marshals
		if i > 0 {
			keys[i] = append(keys[i], ',')
		}
		keys[i] = append(append(keys[i], name...), ':')
	}
	return keys
}

type execTask struct {
	cmd     string // as the user wrote it, for errors
	argv    []string
	timeout time.Duration
	keys    [][]byte // see jsonKeys
	env     []string // never nil
	stream  bool     // mode=stream: through pool
	pool    *ExecPool
}

func (t *execTask) Output() *functions.Schema {
	return &functions.Schema{Columns: []functions.Column{{Name: "line", Type: functions.String}}}
}

func (t *execTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	if t.stream {
		return t.mapStream(ctx, in, out)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if t.timeout > 0 {
		var cancelTimeout context.CancelFunc
		runCtx, cancelTimeout = context.WithTimeout(runCtx, t.timeout)
		defer cancelTimeout()
	}
	cmd := exec.CommandContext(runCtx, t.argv[0], t.argv[1:]...)
	cmd.Env = t.env
	cmd.WaitDelay = waitDelay
	killGroupOnCancel(cmd)
	stderr := &tailBuffer{max: stderrTail}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	if err := cmd.Start(); err != nil {
		err = fmt.Errorf("exec: start %q: %w", t.cmd, err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			err = functions.Permanent(err)
		}
		return err
	}

	// The feeder owns in and stdin until it sends its result; this
	// goroutine owns stdout and out. Wait closes stdin, which stops a
	// feeder blocked on a program that no longer reads.
	fed := make(chan error, 1)
	go func() { fed <- t.feed(runCtx, in, stdin, cancel) }()
	// Once the program is killed, stop reading after waitDelay even if
	// something it started (and that escaped the kill) holds stdout open.
	readDone := make(chan struct{})
	stopWatch := context.AfterFunc(runCtx, func() {
		select {
		case <-time.After(waitDelay):
			stdout.Close()
		case <-readDone:
		}
	})
	defer stopWatch()
	readErr := t.readLines(stdout, out)
	close(readDone)
	if readErr != nil {
		cancel()
	}
	waitErr := cmd.Wait()
	inErr := <-fed

	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case waitErr != nil && errors.Is(runCtx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("exec: %q: timed out after %v%s", t.cmd, t.timeout, stderr.suffix())
	case inErr != nil:
		return inErr
	case readErr != nil:
		return readErr
	case waitErr != nil:
		return fmt.Errorf("exec: %q: %w%s", t.cmd, waitErr, stderr.suffix())
	}
	return nil
}

// feed writes the records of in to stdin, one per line, and closes it. It
// returns in's error, after killing the program with kill. A program that
// stops reading is not an error (its exit status tells), nor is ctx's end
// (Map reports it).
func (t *execTask) feed(ctx context.Context, in functions.Input, stdin io.WriteCloser, kill func()) error {
	w := bufio.NewWriterSize(stdin, 64<<10)
	var line []byte
	var writeErr error
	err := each(ctx, in, func(rec *functions.Record) error {
		if rec.Raw != nil {
			line = append(line[:0], rec.Raw...)
		} else {
			line = append(line[:0], '{')
			for i, key := range t.keys {
				line = append(line, key...)
				line = cell(rec.Row, i).AppendJSON(line)
			}
			line = append(line, '}')
		}
		line = append(line, '\n')
		_, writeErr = w.Write(line)
		return writeErr
	})
	if err == nil {
		writeErr = w.Flush()
	}
	stdin.Close() // an error here is the program's and shows in its exit status
	if err == nil || err == writeErr || ctx.Err() != nil {
		return nil
	}
	kill()
	return err
}

// readLines writes each line of r to out as a row.
func (t *execTask) readLines(r io.Reader, out functions.Output) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	row := make(functions.Row, 1)
	for sc.Scan() {
		row[0] = functions.StringValue(sc.Text())
		if err := out.Write(row); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return functions.Permanent(fmt.Errorf("exec: %q: an output line is longer than %d bytes", t.cmd, maxLine))
		}
		return fmt.Errorf("exec: %q: read output: %w", t.cmd, err)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max       int
	buf       []byte
	truncated bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= b.max {
		b.truncated = b.truncated || len(b.buf) > 0 || len(p) > b.max
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return n, nil
	}
	if drop := len(b.buf) + len(p) - b.max; drop > 0 {
		b.buf = b.buf[:copy(b.buf, b.buf[drop:])]
		b.truncated = true
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

// suffix renders the tail for an error message, or "" when it is empty.
func (b *tailBuffer) suffix() string {
	tail := bytes.ToValidUTF8(bytes.TrimSpace(b.buf), nil) // the cut may split a character
	if len(tail) == 0 {
		return ""
	}
	if b.truncated {
		return "; stderr (last 4 KiB): ..." + string(tail)
	}
	return "; stderr: " + string(tail)
}

// execEnvNames are the variables ExecEnv passes on without being asked:
// what programs need to find themselves, their locale and a scratch
// directory, and that holds no credential.
var execEnvNames = []string{"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME"}

// ExecEnv builds the environment of exec's programs from a process's
// environment (os.Environ's NAME=VALUE entries): PATH, HOME, LANG and
// LC_*, LANGUAGE, TZ, TMPDIR, USER and LOGNAME, plus what pass asks for:
// NAME passes environ's value of NAME on (nothing when environ lacks it),
// NAME=VALUE sets one. Everything else, credentials included, stays
// behind.
func ExecEnv(environ, pass []string) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(name, value string) {
		if _, ok := vars[name]; !ok {
			order = append(order, name)
		}
		vars[name] = value
	}
	lookup := map[string]string{}
	for _, kv := range environ {
		if name, value, ok := strings.Cut(kv, "="); ok && name != "" {
			lookup[name] = value
		}
	}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if slices.Contains(execEnvNames, name) || strings.HasPrefix(name, "LC_") {
			set(name, value)
		}
	}
	for _, p := range pass {
		name, value, hasValue := strings.Cut(p, "=")
		if name == "" || strings.ContainsAny(name, "\x00 ") {
			return nil, fmt.Errorf("exec environment %q: want NAME or NAME=VALUE", p)
		}
		if !hasValue {
			v, ok := lookup[name]
			if !ok {
				continue
			}
			value = v
		}
		set(name, value)
	}
	env := make([]string, 0, len(order))
	for _, name := range order {
		env = append(env, name+"="+vars[name])
	}
	return env, nil
}

// ExecAllow is a worker's policy for exec, the one built-in function that
// runs programs: whoever can queue a job chooses its command, so a worker
// runs exec only for the programs its operator allowed.
type ExecAllow struct {
	// Programs are the programs exec may run: a job's command must start
	// with one of them, written exactly so (a name looked up in PATH, or a
	// path). shell=true runs /bin/sh, which runs anything: only Any admits
	// it.
	Programs []string
	// Any lets exec run any command, shell=true included.
	Any bool
}

// Check says whether a job of function with args may run: nil for every
// function but exec, and for exec what Programs and Any allow.
func (a ExecAllow) Check(function string, args map[string]string) error {
	if function != (Exec{}).Name() || a.Any {
		return nil
	}
	if len(a.Programs) == 0 {
		return errors.New("exec is not allowed on this worker")
	}
	if shell, err := strconv.ParseBool(args["shell"]); err == nil && shell {
		return fmt.Errorf("exec with shell=true runs /bin/sh, which can run anything: it needs exec allowed for any command")
	}
	argv, err := splitCommand(args["cmd"])
	if err != nil || len(argv) == 0 {
		return fmt.Errorf("exec: cmd=%q: not a command", args["cmd"])
	}
	if !slices.Contains(a.Programs, argv[0]) {
		return fmt.Errorf("exec: program %q is not among those allowed (%s)", argv[0], strings.Join(a.Programs, ", "))
	}
	return nil
}
