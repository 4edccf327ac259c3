package lambdaemu

// This file is the Invoke API side: requests, the queue of invocations,
// scaling instances, timeouts and outcomes.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// newRequestID returns a request ID shaped like Lambda's (a UUID).
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceID returns an X-Ray trace header value.
func newTraceID() string {
	var b [20]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("Root=1-%x-%s;Parent=%s;Sampled=0", time.Now().Unix(), h[:24], h[24:40])
}

// apiError writes an error the way Lambda's API does, so that the SDK
// decodes it into its typed exception.
func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	w.WriteHeader(status)
	body := map[string]string{"Type": "User", "message": msg}
	if code == "TooManyRequestsException" {
		body["Reason"] = "ReservedFunctionConcurrentInvocationLimitExceeded"
	}
	json.NewEncoder(w).Encode(body)
}

// functionName extracts the function name from a name, a partial ARN or
// a full ARN, with or without a qualifier.
func functionName(s string) string {
	parts := strings.Split(s, ":")
	for i, p := range parts {
		if p == "function" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	if len(parts) == 3 { // account:function:name form handled above; name:qualifier
		return parts[0]
	}
	if len(parts) == 2 {
		return parts[0]
	}
	return s
}

const (
	maxSyncPayload  = 6 << 20
	maxAsyncPayload = 1 << 20
)

func (e *Emulator) handleInvoke(w http.ResponseWriter, r *http.Request) {
	name := functionName(r.PathValue("name"))
	typ := r.Header.Get("X-Amz-Invocation-Type")
	if typ == "" {
		typ = typeSync
	}
	if typ != typeSync && typ != typeEvent && typ != typeDryRun {
		apiError(w, http.StatusBadRequest, "InvalidParameterValueException", "invalid invocation type "+typ)
		return
	}
	limit := int64(maxSyncPayload)
	if typ == typeEvent {
		limit = maxAsyncPayload
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", err.Error())
		return
	}
	if int64(len(payload)) > limit {
		apiError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", fmt.Sprintf("Request must be smaller than %d bytes for the %s invocation type", limit, typ))
		return
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}
	e.mu.Lock()
	f := e.funcs[name]
	if f == nil || e.closed {
		e.mu.Unlock()
		apiError(w, http.StatusNotFound, "ResourceNotFoundException",
			fmt.Sprintf("Function not found: arn:aws:lambda:%s:%s:function:%s", e.cfg.Region, e.cfg.Account, name))
		return
	}
	if typ == typeDryRun {
		e.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	switch {
	case typ == typeSync && len(f.idle) == 0 && e.liveLocked(f)-e.countLocked(f, stateStarting) >= f.MaxInstances:
		e.mu.Unlock()
		apiError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Rate Exceeded.")
		return
	case typ == typeEvent && f.MaxQueued > 0 && len(f.pending) >= f.MaxQueued:
		e.mu.Unlock()
		apiError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Rate Exceeded.")
		return
	}
	inv := &invocation{Invocation: Invocation{RequestID: newRequestID(), Function: f.Name, Type: typ, Attempt: 1, Payload: payload, Queued: time.Now()},
		fn: f, done: make(chan struct{})}
	e.enqueueLocked(inv)
	e.mu.Unlock()

	w.Header().Set("X-Amzn-Requestid", inv.RequestID)
	if typ == typeEvent {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	select {
	case <-inv.done:
	case <-r.Context().Done():
		return // the caller left; the invocation runs on
	}
	e.mu.Lock()
	rec := inv.Invocation
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if rec.Outcome != OutcomeSuccess {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(rec.Response)
}

// liveLocked counts the function's instances that are not dead.
func (e *Emulator) liveLocked(f *function) int {
	n := 0
	for _, in := range e.instances {
		if in.fn == f && in.state != stateDead {
			n++
		}
	}
	return n
}

func (e *Emulator) countLocked(f *function, state string) int {
	n := 0
	for _, in := range e.instances {
		if in.fn == f && in.state == state {
			n++
		}
	}
	return n
}

// enqueueLocked hands an invocation to an idle instance or queues it,
// starting instances as needed.
func (e *Emulator) enqueueLocked(inv *invocation) {
	e.records = append(e.records, inv)
	f := inv.fn
	if len(f.idle) > 0 {
		in := f.idle[0]
		f.idle = f.idle[1:]
		e.assignLocked(in, inv)
	} else {
		f.pending = append(f.pending, inv)
	}
	e.scaleLocked(f)
	e.notifyLocked()
}

// scaleLocked starts instances while invocations wait for more than the
// instances already starting, within MaxInstances.
func (e *Emulator) scaleLocked(f *function) {
	if e.closed {
		return
	}
	for len(f.pending) > e.countLocked(f, stateStarting) && e.liveLocked(f) < f.MaxInstances {
		if err := e.startLocked(f); err != nil {
			// The bootstrap cannot even start: fail what waits.
			for _, inv := range f.pending {
				e.finishLocked(inv, OutcomeInit, "Runtime.InvalidEntrypoint", errorPayload("Runtime.InvalidEntrypoint", err.Error()))
			}
			f.pending = nil
			return
		}
	}
}

// assignLocked gives an invocation to an instance waiting in /next.
func (e *Emulator) assignLocked(in *instance, inv *invocation) {
	f := in.fn
	timeout := f.Timeout
	if len(f.overrides) > 0 {
		timeout, f.overrides = f.overrides[0], f.overrides[1:]
	}
	in.state, in.cur = stateBusy, inv
	in.count++
	inv.inst = in
	inv.Instance = in.id
	inv.Start = time.Now()
	inv.Deadline = inv.Start.Add(timeout)
	inv.timer = time.AfterFunc(timeout, func() { e.timeout(inv) })
	in.assign <- inv // buffered: the instance's /next is waiting for it
}

// timeout kills the instance of an invocation that passed its deadline,
// as Lambda does, and fails the invocation.
func (e *Emulator) timeout(inv *invocation) {
	e.mu.Lock()
	if inv.Outcome != outcomePending {
		e.mu.Unlock()
		return
	}
	in := inv.inst
	secs := inv.Deadline.Sub(inv.Start).Seconds()
	e.finishLocked(inv, OutcomeTimeout, "Sandbox.Timedout", errorPayload("Sandbox.Timedout",
		fmt.Sprintf("%s %s Task timed out after %.2f seconds", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), inv.RequestID, secs)))
	e.mu.Unlock()
	if in != nil {
		in.kill()
	}
}

func errorPayload(typ, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
	return b
}

// finishLocked records an invocation's outcome, wakes a synchronous
// caller and schedules a retry of a failed Event invocation.
func (e *Emulator) finishLocked(inv *invocation, outcome, errType string, response []byte) {
	if inv.Outcome != outcomePending {
		return
	}
	if inv.timer != nil {
		inv.timer.Stop()
	}
	inv.Outcome, inv.ErrorType, inv.Response, inv.End = outcome, errType, response, time.Now()
	if in := inv.inst; in != nil && in.cur == inv {
		in.cur = nil
	}
	close(inv.done)
	if inv.Type == typeEvent && outcome != OutcomeSuccess && outcome != OutcomeAborted && inv.Attempt <= inv.fn.AsyncRetries && !e.closed {
		retry := &invocation{Invocation: Invocation{RequestID: inv.RequestID, Function: inv.Function, Type: inv.Type, Attempt: inv.Attempt + 1,
			Payload: inv.Payload}, fn: inv.fn, done: make(chan struct{})}
		time.AfterFunc(inv.fn.AsyncRetryDelay, func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if !e.closed {
				retry.Queued = time.Now()
				e.enqueueLocked(retry)
			}
		})
	}
	e.notifyLocked()
}
