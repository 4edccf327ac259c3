package lambdaemu

// This file is the Runtime API side: instances (the bootstrap processes),
// their endpoints, and what happens when they exit.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// startLocked starts a new instance of f: a runtime API listener of its
// own, then the bootstrap process pointed at it.
func (e *Emulator) startLocked(f *function) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.nextID++
	in := &instance{id: e.nextID, fn: f, ln: ln, state: stateStarting, assign: make(chan *invocation, 1),
		exited: make(chan struct{}), logs: &tail{max: 1 << 20}}
	var out io.Writer = in.logs
	if e.cfg.LogOutput != nil {
		out = io.MultiWriter(in.logs, &prefixWriter{w: e.cfg.LogOutput, prefix: fmt.Sprintf("[%s/%d] ", f.Name, in.id)})
	}
	cmd := exec.Command(f.Command[0], f.Command[1:]...)
	cmd.Dir = f.Dir
	if cmd.Dir == "" {
		cmd.Dir = filepath.Dir(f.Command[0])
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append([]string{
		"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=" + f.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(f.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + f.Name,
		fmt.Sprintf("AWS_LAMBDA_LOG_STREAM_NAME=%s/[$LATEST]%032x", time.Now().UTC().Format("2006/01/02"), in.id),
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + e.cfg.Region,
		"AWS_DEFAULT_REGION=" + e.cfg.Region,
		"LAMBDA_TASK_ROOT=" + cmd.Dir,
		"LAMBDA_RUNTIME_DIR=" + cmd.Dir,
		"_HANDLER=bootstrap",
		"TZ=:UTC",
		"PATH=" + os.Getenv("PATH"),
	}, f.Env...)
	in.cmd = cmd
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) { e.handleNext(in, w, r) })
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) { e.handleResult(in, w, r, true) })
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) { e.handleResult(in, w, r, false) })
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) { e.handleInitError(in, w, r) })
	in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := cmd.Start(); err != nil {
		ln.Close()
		return fmt.Errorf("lambdaemu: starting %s: %w", f.Command[0], err)
	}
	e.instances = append(e.instances, in)
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		in.srv.Serve(ln)
	}()
	go func() {
		defer e.wg.Done()
		err := cmd.Wait()
		e.exited(in, err)
	}()
	return nil
}

// exited cleans up after an instance's process ended.
func (e *Emulator) exited(in *instance, waitErr error) {
	in.srv.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	prev := in.state
	in.state = stateDead
	f := in.fn
	f.idle = slices.DeleteFunc(f.idle, func(x *instance) bool { return x == in })
	status := "exit status 0"
	if waitErr != nil {
		status = waitErr.Error()
	}
	switch {
	case in.cur != nil:
		e.finishLocked(in.cur, OutcomeExit, "Runtime.ExitError", errorPayload("Runtime.ExitError",
			fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", in.cur.RequestID, status)))
	case prev == stateStarting && len(f.pending) > 0 && !e.closed:
		// Died during init: the invocation waiting for it fails, as the
		// one that caused a cold start does on Lambda.
		inv := f.pending[0]
		f.pending = f.pending[1:]
		payload := in.initErr
		if payload == nil {
			payload = errorPayload("Runtime.ExitError", "Runtime exited during init: "+status)
		}
		var typ struct {
			ErrorType string `json:"errorType"`
		}
		json.Unmarshal(payload, &typ)
		if typ.ErrorType == "" {
			typ.ErrorType = "Runtime.InitError"
		}
		e.finishLocked(inv, OutcomeInit, typ.ErrorType, payload)
	}
	close(in.exited)
	e.scaleLocked(f)
	e.notifyLocked()
}

// handleNext hands the instance its next invocation, waiting for one.
func (e *Emulator) handleNext(in *instance, w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	if in.cur != nil {
		// A /next while holding an invocation ends it without a result,
		// which Lambda treats as an error.
		e.finishLocked(in.cur, OutcomeError, "Runtime.NoResult", errorPayload("Runtime.NoResult", "the runtime asked for the next invocation without answering this one"))
	}
	f := in.fn
	var inv *invocation
	if len(f.pending) > 0 {
		inv = f.pending[0]
		f.pending = f.pending[1:]
		e.assignLocked(in, inv)
		inv = <-in.assign
	} else {
		in.state = stateIdle
		f.idle = append(f.idle, in)
	}
	e.notifyLocked()
	e.mu.Unlock()
	if inv == nil {
		select {
		case inv = <-in.assign:
		case <-r.Context().Done():
		case <-in.exited:
		}
	}
	if inv == nil {
		e.mu.Lock()
		f.idle = slices.DeleteFunc(f.idle, func(x *instance) bool { return x == in })
		select {
		case inv = <-in.assign: // assigned as the caller left: give it back
			e.requeueLocked(in, inv)
		default:
		}
		e.mu.Unlock()
		return
	}
	e.mu.Lock()
	deadline, rec := inv.Deadline, inv.Invocation
	e.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", rec.RequestID)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", f.arn)
	h.Set("Lambda-Runtime-Trace-Id", newTraceID())
	w.WriteHeader(http.StatusOK)
	w.Write(rec.Payload)
}

// requeueLocked returns an invocation an instance could not take.
func (e *Emulator) requeueLocked(in *instance, inv *invocation) {
	if inv.timer != nil {
		inv.timer.Stop()
	}
	in.cur = nil
	if in.state == stateBusy {
		in.state = stateIdle
	}
	inv.inst, inv.Instance, inv.Start, inv.Deadline = nil, 0, time.Time{}, time.Time{}
	inv.fn.pending = append([]*invocation{inv}, inv.fn.pending...)
	e.scaleLocked(inv.fn)
	e.notifyLocked()
}

// handleResult records a response or an error posted by the runtime.
func (e *Emulator) handleResult(in *instance, w http.ResponseWriter, r *http.Request, ok bool) {
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSyncPayload+1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	inv := in.cur
	if inv == nil || inv.RequestID != id {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write(errorPayload("InvalidRequestID", "Invalid request ID"))
		return
	}
	switch {
	case ok && len(body) > maxSyncPayload:
		e.finishLocked(inv, OutcomeError, "Function.ResponseSizeTooLarge", errorPayload("Function.ResponseSizeTooLarge", "Response payload size exceeded maximum allowed payload size (6291556 bytes)."))
	case ok:
		e.finishLocked(inv, OutcomeSuccess, "", body)
	default:
		typ := r.Header.Get("Lambda-Runtime-Function-Error-Type")
		if typ == "" {
			var p struct {
				ErrorType string `json:"errorType"`
			}
			json.Unmarshal(body, &p)
			typ = p.ErrorType
		}
		e.finishLocked(inv, OutcomeError, typ, body)
	}
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(`{"status":"OK"}`))
}

// handleInitError records why an instance could not initialise; the
// instance is then stopped, as Lambda resets the environment.
func (e *Emulator) handleInitError(in *instance, w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	e.mu.Lock()
	in.initErr = body
	if typ := r.Header.Get("Lambda-Runtime-Function-Error-Type"); typ != "" {
		var p map[string]any
		if json.Unmarshal(body, &p) == nil {
			if _, has := p["errorType"]; !has {
				p["errorType"] = typ
				in.initErr, _ = json.Marshal(p)
			}
		}
	}
	e.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte(`{"status":"OK"}`))
	go in.kill()
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = slices.Clone(t.buf[len(t.buf)-t.max:])
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// prefixWriter prefixes every line.
type prefixWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  string
	midLine bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out bytes.Buffer
	for _, c := range b {
		if !p.midLine {
			out.WriteString(p.prefix)
			p.midLine = true
		}
		out.WriteByte(c)
		if c == '\n' {
			p.midLine = false
		}
	}
	_, err := p.w.Write(out.Bytes())
	return len(b), err
}
