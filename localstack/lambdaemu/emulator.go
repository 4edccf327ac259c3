// Package lambdaemu is a Lambda emulator for tests and local development:
// it runs the real bootstrap binary of a provided.al2023 function as
// processes ("instances") on loopback and speaks both of Lambda's APIs.
//
//   - The Runtime API, one endpoint per instance (AWS_LAMBDA_RUNTIME_API):
//     GET /2018-06-01/runtime/invocation/next hands an invocation to the
//     instance with the Lambda-Runtime-Aws-Request-Id,
//     Lambda-Runtime-Deadline-Ms, Lambda-Runtime-Invoked-Function-Arn and
//     Lambda-Runtime-Trace-Id headers; POST .../{id}/response and
//     .../{id}/error and POST /2018-06-01/runtime/init/error answer 202.
//   - The Invoke API, POST /2015-03-31/functions/{name}/invocations, with
//     X-Amz-Invocation-Type RequestResponse (the response, or the error
//     payload with X-Amz-Function-Error: Unhandled), Event (202, queued,
//     failures retried AsyncRetries times) and DryRun (204); errors as
//     Lambda sends them (X-Amzn-ErrorType ResourceNotFoundException,
//     TooManyRequestsException, InvalidRequestContentException ...), so the
//     aws-sdk-go-v2 Lambda client with BaseEndpoint set to Endpoint() works
//     unchanged.
//
// Like Lambda, an instance runs one invocation at a time; the emulator
// starts instances on demand up to the function's MaxInstances (its
// reserved concurrency), kills an instance whose invocation passes its
// deadline (the invocation fails with Sandbox.Timedout) and starts a fresh
// one for the next invocation, and fails the invocation of an instance
// that dies (Runtime.ExitError). Tests can kill instances (Kill,
// KillBusy), shorten the next invocation's timeout (SetNextTimeout), read
// every invocation's record (Invocations) and wait for a condition
// (Await) instead of sleeping.
//
// What it leaves out: layers, extensions, the Logs API, response
// streaming, SnapStart, X-Ray, function URLs, aliases and versions
// (every invocation runs $LATEST), IAM (requests are not authenticated).
package lambdaemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Function configures one emulated function.
type Function struct {
	// Name is the function name (what FunctionName holds, or the last
	// part of its ARN).
	Name string
	// Command is the bootstrap and its arguments.
	Command []string
	// Env holds KEY=VALUE pairs added to the instance environment, which
	// otherwise holds only what Lambda sets (and PATH).
	Env []string
	// Dir is the working directory (LAMBDA_TASK_ROOT); default: the
	// bootstrap's directory.
	Dir string
	// Timeout is the invocation timeout (default 3s, as Lambda's).
	Timeout time.Duration
	// MemoryMB is reported in AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128).
	MemoryMB int
	// MaxInstances is the reserved concurrency: the most instances at once
	// (default 10). A RequestResponse invocation finding them all busy is
	// throttled (429); Event invocations wait in the queue.
	MaxInstances int
	// MaxQueued bounds the Event invocations waiting for an instance; past
	// it Invoke answers 429 TooManyRequestsException (0: unbounded).
	MaxQueued int
	// AsyncRetries is how many times a failed Event invocation is run
	// again (Lambda's default is 2; here the default is 0).
	AsyncRetries int
	// AsyncRetryDelay is the pause before such a retry (default 100ms;
	// Lambda waits a minute, then two).
	AsyncRetryDelay time.Duration
}

// Config configures an Emulator.
type Config struct {
	Functions []Function
	// Region and Account appear in ARNs (defaults us-east-1 and
	// 000000000000).
	Region  string
	Account string
	// LogOutput, when set, receives every instance's output, each line
	// prefixed with the function and instance; Logs keeps it too.
	LogOutput io.Writer
}

// Invocation outcomes.
const (
	OutcomeSuccess = "success" // the runtime posted a response
	OutcomeError   = "error"   // the runtime posted an error
	OutcomeTimeout = "timeout" // past the deadline: the instance was killed
	OutcomeExit    = "exit"    // the instance died during the invocation
	OutcomeInit    = "init"    // the instance failed before it could take it
	OutcomeAborted = "aborted" // the emulator closed first
	outcomePending = ""        // not finished
	typeSync       = "RequestResponse"
	typeEvent      = "Event"
	typeDryRun     = "DryRun"
	stateStarting  = "starting" // process started, no /next yet
	stateIdle      = "idle"     // waiting in /next
	stateBusy      = "busy"     // holds an invocation
	stateDead      = "dead"
)

// Invocation is the record of one attempt of one invocation.
type Invocation struct {
	RequestID string
	Function  string
	Type      string // RequestResponse or Event
	Attempt   int    // 1, then 2... for retried Event invocations
	Payload   []byte
	// Instance ran it (0 if none did).
	Instance int
	Queued   time.Time
	Start    time.Time
	Deadline time.Time
	End      time.Time
	// Outcome is one of the Outcome constants ("" while running).
	Outcome string
	// Response is the response payload, or the error payload.
	Response []byte
	// ErrorType is the error's type (Lambda-Runtime-Function-Error-Type,
	// or Sandbox.Timedout, Runtime.ExitError, Runtime.InitError).
	ErrorType string
}

// InstanceInfo describes one instance.
type InstanceInfo struct {
	ID       int
	Function string
	PID      int
	// State is starting, idle, busy or dead.
	State string
	// RequestID is the invocation it holds (busy only).
	RequestID string
	// Invocations counts the invocations it was handed.
	Invocations int
}

// Emulator is a running Lambda emulator.
type Emulator struct {
	cfg Config
	ln  net.Listener
	srv *http.Server

	mu        sync.Mutex
	funcs     map[string]*function
	instances []*instance
	records   []*invocation
	nextID    int
	closed    bool
	changed   chan struct{} // closed and replaced on every state change
	wg        sync.WaitGroup
}

type function struct {
	Function
	arn       string
	pending   []*invocation
	idle      []*instance
	overrides []time.Duration // timeouts of the next invocations
}

type invocation struct {
	Invocation
	fn    *function
	inst  *instance
	timer *time.Timer
	done  chan struct{}
}

type instance struct {
	id      int
	fn      *function
	cmd     *exec.Cmd
	ln      net.Listener
	srv     *http.Server
	state   string
	cur     *invocation
	assign  chan *invocation
	exited  chan struct{}
	count   int
	initErr []byte
	logs    *tail
}

// Start starts the emulator on a free loopback port. Instances start on
// demand. Close stops everything.
func Start(cfg Config) (*Emulator, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Account == "" {
		cfg.Account = "000000000000"
	}
	e := &Emulator{cfg: cfg, funcs: map[string]*function{}, changed: make(chan struct{})}
	for _, f := range cfg.Functions {
		if err := e.add(f); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdaemu: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", e.handleInvoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "UnknownOperationException", "lambdaemu: unsupported operation "+r.Method+" "+r.URL.Path)
	})
	e.ln, e.srv = ln, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.srv.Serve(ln)
	}()
	return e, nil
}

func (e *Emulator) add(f Function) error {
	if f.Name == "" || len(f.Command) == 0 {
		return errors.New("lambdaemu: a function needs a Name and a Command")
	}
	if _, dup := e.funcs[f.Name]; dup {
		return fmt.Errorf("lambdaemu: function %s given twice", f.Name)
	}
	if f.Timeout <= 0 {
		f.Timeout = 3 * time.Second
	}
	if f.MemoryMB <= 0 {
		f.MemoryMB = 128
	}
	if f.MaxInstances <= 0 {
		f.MaxInstances = 10
	}
	if f.AsyncRetryDelay <= 0 {
		f.AsyncRetryDelay = 100 * time.Millisecond
	}
	arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", e.cfg.Region, e.cfg.Account, f.Name)
	e.funcs[f.Name] = &function{Function: f, arn: arn}
	return nil
}

// Endpoint is the Invoke API's base URL, for the SDK's BaseEndpoint or
// AWS_ENDPOINT_URL_LAMBDA.
func (e *Emulator) Endpoint() string { return "http://" + e.ln.Addr().String() }

// ARN returns a function's ARN.
func (e *Emulator) ARN(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f := e.funcs[name]; f != nil {
		return f.arn
	}
	return ""
}

// Close kills every instance, fails the invocations still queued or
// running with OutcomeAborted, and stops the servers.
func (e *Emulator) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	insts := slices.Clone(e.instances)
	for _, f := range e.funcs {
		for _, inv := range f.pending {
			e.finishLocked(inv, OutcomeAborted, "Emulator.Closed", []byte(`{"errorMessage":"lambdaemu: closed"}`))
		}
		f.pending = nil
	}
	e.mu.Unlock()
	for _, in := range insts {
		in.kill()
	}
	for _, in := range insts {
		<-in.exited
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	e.wg.Wait()
	return err
}

// notifyLocked wakes Await callers.
func (e *Emulator) notifyLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// Await waits until cond (called with no lock held, after every state
// change) is true, or ctx ends.
func (e *Emulator) Await(ctx context.Context, cond func() bool) error {
	for {
		e.mu.Lock()
		ch := e.changed
		e.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-time.After(100 * time.Millisecond): // conditions on the outside world
		}
	}
}

// Invocations returns a copy of every invocation record of the function
// ("" for all), in the order they were queued.
func (e *Emulator) Invocations(name string) []Invocation {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Invocation
	for _, r := range e.records {
		if name == "" || r.Function == name {
			c := r.Invocation
			c.Payload = slices.Clone(r.Payload)
			c.Response = slices.Clone(r.Response)
			out = append(out, c)
		}
	}
	return out
}

// Instances describes the function's instances ("" for all), dead ones
// included.
func (e *Emulator) Instances(name string) []InstanceInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []InstanceInfo
	for _, in := range e.instances {
		if name != "" && in.fn.Name != name {
			continue
		}
		info := InstanceInfo{ID: in.id, Function: in.fn.Name, State: in.state, Invocations: in.count}
		if in.cmd.Process != nil {
			info.PID = in.cmd.Process.Pid
		}
		if in.cur != nil {
			info.RequestID = in.cur.RequestID
		}
		out = append(out, info)
	}
	return out
}

// Logs returns what the function's instances ("" for all) wrote, most
// recent output of each instance (up to 1 MiB per instance).
func (e *Emulator) Logs(name string) string {
	e.mu.Lock()
	insts := slices.Clone(e.instances)
	e.mu.Unlock()
	var b strings.Builder
	for _, in := range insts {
		if name == "" || in.fn.Name == name {
			fmt.Fprintf(&b, "--- %s instance %d ---\n%s", in.fn.Name, in.id, in.logs.String())
		}
	}
	return b.String()
}

// SetTimeout changes a function's invocation timeout for invocations
// handed out from now on.
func (e *Emulator) SetTimeout(name string, d time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.funcs[name]
	if f == nil {
		return fmt.Errorf("lambdaemu: no function %s", name)
	}
	f.Timeout = d
	return nil
}

// SetNextTimeout gives the next invocation handed to an instance of the
// function this timeout instead of the function's (calls queue up).
func (e *Emulator) SetNextTimeout(name string, d time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.funcs[name]
	if f == nil {
		return fmt.Errorf("lambdaemu: no function %s", name)
	}
	f.overrides = append(f.overrides, d)
	return nil
}

// ErrNoBusyInstance is what KillBusy reports when no instance of the
// function holds an invocation.
var ErrNoBusyInstance = errors.New("lambdaemu: no busy instance")

// Kill kills an instance's process (SIGKILL to its process group), as a
// crash would. An invocation it held fails with Runtime.ExitError.
func (e *Emulator) Kill(id int) error {
	e.mu.Lock()
	var target *instance
	for _, in := range e.instances {
		if in.id == id {
			target = in
		}
	}
	e.mu.Unlock()
	if target == nil {
		return fmt.Errorf("lambdaemu: no instance %d", id)
	}
	target.kill()
	<-target.exited
	return nil
}

// KillBusy kills one instance of the function that holds an invocation
// and returns what it was.
func (e *Emulator) KillBusy(name string) (InstanceInfo, error) {
	for _, info := range e.Instances(name) {
		if info.State == stateBusy {
			return info, e.Kill(info.ID)
		}
	}
	return InstanceInfo{}, ErrNoBusyInstance
}

// kill sends SIGKILL to the instance's process group.
func (in *instance) kill() {
	if in.cmd.Process != nil {
		syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
	}
}
