package lambdaemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/fanout-dev/fanout/fanout/lambdafan"
	"github.com/fanout-dev/fanout/localstack/lambdaemu"
)

var (
	buildOnce sync.Once
	testFunc  string
	buildErr  error
)

// TestMain removes what the tests built once per run (the test function's bootstrap) from the
// temporary directory when they are done: left there, every run of the
// package's tests kept it on the disk.
func TestMain(m *testing.M) {
	code := m.Run()
	if testFunc != "" {
		os.RemoveAll(filepath.Dir(testFunc))
	}
	os.Exit(code)
}

// testFunction builds testdata/testfunc (on the real aws-lambda-go
// runtime client) once.
func testFunction(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lambdaemu-testfunc-")
		if err != nil {
			buildErr = err
			return
		}
		testFunc = filepath.Join(dir, "bootstrap")
		out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", testFunc, "./testdata/testfunc").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return testFunc
}

func start(t *testing.T, fns ...lambdaemu.Function) (*lambdaemu.Emulator, *lambda.Client) {
	t.Helper()
	bin := testFunction(t)
	for i := range fns {
		if len(fns[i].Command) == 0 {
			fns[i].Command = []string{bin}
		}
	}
	emu, err := lambdaemu.Start(lambdaemu.Config{Functions: fns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("instance logs:\n%s", emu.Logs(""))
		}
		emu.Close()
	})
	client := lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(emu.Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		// The SDK's own retries of 429s only slow the throttling test.
		RetryMaxAttempts: 1,
	})
	return emu, client
}

type testResponse struct {
	RequestID   string `json:"request_id"`
	FunctionARN string `json:"function_arn"`
	Remaining   int64  `json:"remaining_ms"`
	RuntimeAPI  string `json:"runtime_api"`
	Function    string `json:"function"`
	PID         int    `json:"pid"`
	Echo        string `json:"echo"`
}

func invoke(t *testing.T, c *lambda.Client, fn, payload string) (*lambda.InvokeOutput, testResponse) {
	t.Helper()
	out, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("Invoke %s: %v", payload, err)
	}
	var r testResponse
	if out.FunctionError == nil {
		if err := json.Unmarshal(out.Payload, &r); err != nil {
			t.Fatalf("response %s: %v", out.Payload, err)
		}
	}
	return out, r
}

func TestRequestResponse(t *testing.T) {
	emu, c := start(t, lambdaemu.Function{Name: "fn", Timeout: 2 * time.Second})
	out, r := invoke(t, c, "fn", `{"do":"echo"}`)
	if out.StatusCode != 200 || out.FunctionError != nil || r.Echo != "echo" {
		t.Fatalf("got status %d, function error %v, response %+v", out.StatusCode, out.FunctionError, r)
	}
	if r.Function != "fn" || r.FunctionARN != emu.ARN("fn") || r.RuntimeAPI == "" || r.RequestID == "" {
		t.Errorf("runtime saw %+v: want its name, ARN, runtime API and request ID", r)
	}
	if r.Remaining <= 1000 || r.Remaining > 2000 {
		t.Errorf("remaining time %dms, want just under the 2s timeout", r.Remaining)
	}
	// A warm instance serves the next call; by ARN works too.
	_, r2 := invoke(t, c, emu.ARN("fn"), `{"do":"echo"}`)
	if r2.PID != r.PID || r2.RequestID == r.RequestID {
		t.Errorf("second call: pid %d request %s, want the warm instance %d and a new request ID", r2.PID, r2.RequestID, r.PID)
	}
	invs := emu.Invocations("fn")
	if len(invs) != 2 || invs[0].Outcome != lambdaemu.OutcomeSuccess || invs[0].RequestID != r.RequestID {
		t.Errorf("records %+v: want two successes, the first with request %s", invs, r.RequestID)
	}
}

func TestFunctionErrors(t *testing.T) {
	emu, c := start(t, lambdaemu.Function{Name: "fn", Timeout: time.Second})
	out, _ := invoke(t, c, "fn", `{"do":"fail"}`)
	var e struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	json.Unmarshal(out.Payload, &e)
	if out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" || e.Message != "asked to fail" || e.Type == "" {
		t.Fatalf("handler error: status %d, X-Amz-Function-Error %q, payload %s", out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
	}
	// A panic: reported, and aws-lambda-go then exits the process.
	out, _ = invoke(t, c, "fn", `{"do":"panic"}`)
	if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), "asked to panic") {
		t.Fatalf("panic: X-Amz-Function-Error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
	}
	// A timeout: the instance is killed and the next call gets a fresh one.
	_, before := invoke(t, c, "fn", `{"do":"echo"}`)
	out, _ = invoke(t, c, "fn", `{"do":"hang","ms":5000}`)
	if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), "Task timed out after 1.00 seconds") {
		t.Fatalf("timeout: X-Amz-Function-Error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
	}
	_, after := invoke(t, c, "fn", `{"do":"echo"}`)
	if after.PID == before.PID {
		t.Errorf("the instance that timed out (pid %d) served again", before.PID)
	}
	var outcomes []string
	for _, inv := range emu.Invocations("fn") {
		outcomes = append(outcomes, inv.Outcome+"/"+inv.ErrorType)
	}
	t.Logf("outcomes: %v", outcomes)
	if got := outcomes[3]; got != "timeout/Sandbox.Timedout" {
		t.Errorf("hang recorded as %q", got)
	}
	// Not JSON, not a function.
	if _, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte("{")}); err == nil {
		t.Errorf("an invalid JSON payload was accepted")
	}
	_, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("nope"), Payload: []byte("{}")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown function: got %v, want ResourceNotFoundException", err)
	}
	if err := lambdafan.NewClient(c).InvokeAsync(context.Background(), "nope", []byte("{}")); !errors.Is(err, lambdafan.ErrFunctionNotFound) {
		t.Errorf("lambdafan: got %v, want ErrFunctionNotFound", err)
	}
}

func TestInitError(t *testing.T) {
	emu, c := start(t, lambdaemu.Function{Name: "fn", Env: []string{"TESTFUNC_INIT_FAIL=1"}})
	out, _ := invoke(t, c, "fn", `{"do":"echo"}`)
	if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), "missing configuration") {
		t.Fatalf("init error: X-Amz-Function-Error %q, payload %s", aws.ToString(out.FunctionError), out.Payload)
	}
	if invs := emu.Invocations("fn"); invs[0].Outcome != lambdaemu.OutcomeInit || invs[0].ErrorType != "Runtime.ConfigError" {
		t.Errorf("recorded %+v, want an init failure of type Runtime.ConfigError", invs[0])
	}
}

func TestEventConcurrencyKillAndRetry(t *testing.T) {
	emu, c := start(t, lambdaemu.Function{Name: "fn", Timeout: 10 * time.Second, MaxInstances: 4, AsyncRetries: 1, AsyncRetryDelay: 10 * time.Millisecond})
	client := lambdafan.NewClient(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 6 {
		if err := client.InvokeAsync(ctx, "fn", []byte(`{"do":"sleep","ms":1500}`)); err != nil {
			t.Fatal(err)
		}
	}
	busy := func() int {
		n := 0
		for _, in := range emu.Instances("fn") {
			if in.State == "busy" {
				n++
			}
		}
		return n
	}
	if err := emu.Await(ctx, func() bool { return busy() == 4 }); err != nil {
		t.Fatalf("never saw 4 busy instances: %v", emu.Instances("fn"))
	}
	killed, err := emu.KillBusy("fn")
	if err != nil {
		t.Fatal(err)
	}
	done := func() bool {
		n := 0
		for _, inv := range emu.Invocations("fn") {
			if inv.Outcome == lambdaemu.OutcomeSuccess {
				n++
			}
		}
		return n == 6
	}
	if err := emu.Await(ctx, done); err != nil {
		t.Fatalf("the 6 invocations did not all succeed: %+v", emu.Invocations("fn"))
	}
	var exit, retried int
	for _, inv := range emu.Invocations("fn") {
		if inv.Outcome == lambdaemu.OutcomeExit && inv.RequestID == killed.RequestID {
			exit++
		}
		if inv.Attempt == 2 && inv.RequestID == killed.RequestID && inv.Outcome == lambdaemu.OutcomeSuccess {
			retried++
		}
	}
	if exit != 1 || retried != 1 {
		t.Errorf("killed invocation %s: %d exit records and %d successful retries, want 1 and 1", killed.RequestID, exit, retried)
	}
	if n := len(emu.Instances("fn")); n > 5 {
		t.Errorf("%d instances for 4 slots and one kill", n)
	}
}

func TestThrottling(t *testing.T) {
	emu, c := start(t, lambdaemu.Function{Name: "fn", Timeout: 30 * time.Second, MaxInstances: 1, MaxQueued: 1})
	client := lambdafan.NewClient(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// One runs, one waits, the third is refused (the SDK's own retries
	// of the 429 are refused too: the first sleeps on).
	var errs []error
	payload := []byte(`{"do":"sleep","ms":20000}`)
	errs = append(errs, client.InvokeAsync(ctx, "fn", payload))
	if err := emu.Await(ctx, func() bool { return len(emu.Instances("fn")) == 1 && emu.Instances("fn")[0].State == "busy" }); err != nil {
		t.Fatal(err)
	}
	errs = append(errs, client.InvokeAsync(ctx, "fn", payload), client.InvokeAsync(ctx, "fn", payload))
	if errs[0] != nil || !errors.Is(errs[2], lambdafan.ErrThrottled) {
		t.Fatalf("got %v, want the third async call throttled", errs)
	}
	var tm *types.TooManyRequestsException
	if !errors.As(errs[2], &tm) {
		t.Errorf("the SDK did not decode TooManyRequestsException: %v", errs[2])
	}
	// A synchronous call finding the one instance busy is refused too.
	_, err := client.Invoke(ctx, "fn", []byte(`{"do":"echo"}`))
	if !errors.Is(err, lambdafan.ErrThrottled) {
		t.Errorf("sync call: got %v, want ErrThrottled", err)
	}
}
