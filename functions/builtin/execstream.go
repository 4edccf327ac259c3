package builtin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"strings"
	"sync"

	"github.com/fanout-dev/fanout/functions"
)

// ExecPool keeps the programs of exec's streaming mode (mode=stream)
// running between chunks: one process serves many chunks, one chunk at a
// time, so that a program with a costly start (an interpreter, a model
// to load) starts once per worker slot rather than once per chunk.
//
// The protocol is JSON lines both ways. For each chunk fanout writes one
// line per record, {"record":"<the record's bytes>"} (for Parquet input
// {"record":{<column>:<value>,...}}), then {"end":"<chunk>"}. The
// program answers with one line per output row, {"line":"<text>"}, and
// ends the chunk with {"end":"<chunk>"}, or fails it with
// {"error":"<reason>","end":"<chunk>"} (add "permanent":true when a retry
// cannot help). It may answer as it reads or only at the end. A program
// that exits, breaks the protocol, or runs into the chunk's timeout or
// cancellation fails that chunk (to be retried) and is not used again; the
// next chunk starts a new one.
//
// A pool belongs to one process's exec function (Exec.Pool); its programs
// get the same environment and admission as per-chunk ones: the command
// is the job's cmd argument, which a worker runs only when its operator
// allowed it (ExecAllow).
type ExecPool struct {
	mu     sync.Mutex
	idle   map[string][]*streamProc // key: argv and env
	closed bool
	// starts counts the programs started (Starts); seq numbers chunks.
	starts, seq int64
}

// NewExecPool returns an empty pool.
func NewExecPool() *ExecPool { return &ExecPool{idle: map[string][]*streamProc{}} }

// Starts returns how many programs the pool has started.
func (p *ExecPool) Starts() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Close stops the idle programs (closing their input, which ends a
// program that reads to its end, then killing them) and makes the pool
// start no more.
func (p *ExecPool) Close() error {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = map[string][]*streamProc{}
	p.mu.Unlock()
	for _, procs := range idle {
		for _, sp := range procs {
			sp.stop()
		}
	}
	return nil
}

// streamProc is one running program of the pool.
type streamProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	in     *bufio.Writer
	out    *bufio.Scanner
	stderr *tailBuffer
	cancel context.CancelFunc
}

func (sp *streamProc) stop() {
	sp.stdin.Close()
	sp.cancel()
	sp.cmd.Wait() //nolint:errcheck // the program is being discarded
}

func poolKey(argv, env []string) string {
	return strings.Join(argv, "\x00") + "\x01" + strings.Join(env, "\x00")
}

// take returns an idle program for argv and env, or starts one.
func (p *ExecPool) take(argv, env []string, display string) (*streamProc, error) {
	key := poolKey(argv, env)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("exec: the worker is shutting down")
	}
	if procs := p.idle[key]; len(procs) > 0 {
		sp := procs[len(procs)-1]
		p.idle[key] = procs[:len(procs)-1]
		p.mu.Unlock()
		return sp, nil
	}
	p.starts++
	p.mu.Unlock()
	// The program outlives the chunk that started it: its lifetime is
	// the pool's (Close), or its own failure.
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.WaitDelay = waitDelay
	killGroupOnCancel(cmd)
	sp := &streamProc{cmd: cmd, stderr: &tailBuffer{max: stderrTail}, cancel: cancel}
	cmd.Stderr = sp.stderr
	var err error
	if sp.stdin, err = cmd.StdinPipe(); err != nil {
		cancel()
		return nil, fmt.Errorf("exec: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("exec: %w", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		err = fmt.Errorf("exec: start %q: %w", display, err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			err = functions.Permanent(err)
		}
		return nil, err
	}
	sp.in = bufio.NewWriterSize(sp.stdin, 64<<10)
	sp.out = bufio.NewScanner(stdout)
	sp.out.Buffer(make([]byte, 64<<10), maxLine)
	return sp, nil
}

// put returns a program that finished a chunk cleanly to the idle list.
func (p *ExecPool) put(argv, env []string, sp *streamProc) {
	p.mu.Lock()
	if !p.closed {
		key := poolKey(argv, env)
		p.idle[key] = append(p.idle[key], sp)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	sp.stop()
}

// streamMsg is one line the program writes.
type streamMsg struct {
	Line      *string `json:"line"`
	End       *string `json:"end"`
	Error     string  `json:"error"`
	Permanent bool    `json:"permanent"`
}

// mapStream runs one chunk through a pooled program.
func (t *execTask) mapStream(ctx context.Context, in functions.Input, out functions.Output) error {
	if t.pool == nil {
		return functions.Permanent(errors.New("exec: mode=stream needs a worker with an exec pool (Exec.Pool)"))
	}
	chunk := t.chunkTag()
	sp, err := t.pool.take(t.argv, t.env, t.cmd)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if t.timeout > 0 {
		var cancelTimeout context.CancelFunc
		runCtx, cancelTimeout = context.WithTimeout(runCtx, t.timeout)
		defer cancelTimeout()
	}
	// A chunk cut short (cancelled, timed out) leaves the program in the
	// middle of the protocol: it is killed, never reused.
	stopKill := context.AfterFunc(runCtx, sp.cancel)
	fed := make(chan error, 1)
	go func() {
		err := t.feedStream(runCtx, in, sp, chunk)
		if err != nil {
			sp.cancel() // the reader waits for an end line that will not come
		}
		fed <- err
	}()
	readErr := t.readStream(sp, out, chunk)
	var chunkErr *streamChunkError
	if readErr != nil && !errors.As(readErr, &chunkErr) {
		sp.cancel() // unblocks a feeder stuck on a program that stopped reading
	}
	inErr := <-fed
	killed := !stopKill()
	switch {
	case ctx.Err() != nil:
		sp.stop()
		return ctx.Err()
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		sp.stop()
		return fmt.Errorf("exec: %q: timed out after %v%s", t.cmd, t.timeout, sp.stderr.suffix())
	case inErr != nil && !errors.As(inErr, new(*streamWriteError)):
		sp.stop()
		return inErr
	case readErr != nil && chunkErr == nil:
		// The program broke the protocol or quit; a write that failed
		// on its closed stdin is the consequence, the reader's reason
		// the cause.
		sp.stop()
		return fmt.Errorf("exec: %q: %w%s", t.cmd, readErr, sp.stderr.suffix())
	case inErr != nil:
		sp.stop()
		return inErr
	case chunkErr != nil:
		// The program failed the chunk and stays in step: keep it.
		t.pool.put(t.argv, t.env, sp)
		if chunkErr.permanent {
			return functions.Permanent(chunkErr)
		}
		return chunkErr
	case readErr != nil || killed:
		sp.stop()
		if readErr == nil {
			readErr = errors.New("stopped")
		}
		return fmt.Errorf("exec: %q: %w%s", t.cmd, readErr, sp.stderr.suffix())
	}
	t.pool.put(t.argv, t.env, sp)
	return nil
}

// streamChunkError is a chunk the program failed with {"error":...}.
type streamChunkError struct {
	cmd, reason string
	permanent   bool
}

func (e *streamChunkError) Error() string { return fmt.Sprintf("exec: %q: %s", e.cmd, e.reason) }

// chunkTag names the chunk in the protocol's end lines. The task does not
// know its chunk's ID; the pool's sequence number is as good a tag, since
// a program serves one chunk at a time.
func (t *execTask) chunkTag() string {
	t.pool.mu.Lock()
	defer t.pool.mu.Unlock()
	t.pool.seq++
	return fmt.Sprintf("%d", t.pool.seq)
}

// feedStream writes the chunk's records and its end line.
func (t *execTask) feedStream(ctx context.Context, in functions.Input, sp *streamProc, chunk string) error {
	var line []byte
	err := each(ctx, in, func(rec *functions.Record) error {
		line = append(line[:0], `{"record":`...)
		if rec.Raw != nil {
			line = appendJSONString(line, rec.Raw)
		} else {
			line = append(line, '{')
			for i, key := range t.keys {
				line = append(line, key...)
				line = cell(rec.Row, i).AppendJSON(line)
			}
			line = append(line, '}')
		}
		line = append(line, "}\n"...)
		if _, werr := sp.in.Write(line); werr != nil {
			return &streamWriteError{cmd: t.cmd, err: werr}
		}
		return nil
	})
	if err != nil {
		return err
	}
	end, _ := json.Marshal(map[string]string{"end": chunk})
	if _, err := sp.in.Write(append(end, '\n')); err != nil {
		return &streamWriteError{cmd: t.cmd, err: err}
	}
	if err := sp.in.Flush(); err != nil {
		return &streamWriteError{cmd: t.cmd, err: err}
	}
	return nil
}

// streamWriteError is a write to the program's stdin that failed,
// usually because the program quit or broke the protocol: what the
// reader saw then says more.
type streamWriteError struct {
	cmd string
	err error
}

func (e *streamWriteError) Error() string { return fmt.Sprintf("exec: %q: write: %v", e.cmd, e.err) }
func (e *streamWriteError) Unwrap() error { return e.err }

// appendJSONString appends b as a JSON string.
func appendJSONString(dst, b []byte) []byte {
	s, _ := json.Marshal(string(b)) // invalid UTF-8 becomes U+FFFD, as any JSON encoder does
	return append(dst, s...)
}

// readStream reads the program's lines until the chunk's end line.
func (t *execTask) readStream(sp *streamProc, out functions.Output, chunk string) error {
	row := make(functions.Row, 1)
	for sp.out.Scan() {
		var m streamMsg
		if err := json.Unmarshal(sp.out.Bytes(), &m); err != nil {
			return fmt.Errorf("not a protocol line (want JSON {\"line\":...} or {\"end\":...}): %.100q", sp.out.Text())
		}
		switch {
		case m.End != nil:
			if *m.End != chunk {
				return fmt.Errorf("ended chunk %q while fanout sent %q", *m.End, chunk)
			}
			if m.Error != "" {
				return &streamChunkError{cmd: t.cmd, reason: m.Error, permanent: m.Permanent}
			}
			return nil
		case m.Line != nil:
			row[0] = functions.StringValue(*m.Line)
			if err := out.Write(row); err != nil {
				return err
			}
		default:
			return fmt.Errorf("a protocol line with neither line nor end: %.100q", sp.out.Text())
		}
	}
	if err := sp.out.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return functions.Permanent(fmt.Errorf("exec: %q: an output line is longer than %d bytes", t.cmd, maxLine))
		}
		return fmt.Errorf("read output: %w", err)
	}
	return errors.New("exited before ending the chunk")
}
