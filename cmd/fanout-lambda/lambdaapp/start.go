// Package lambdaapp is fanout's AWS Lambda function as a library: Start
// makes a Go program a complete provided.al2023 bootstrap over the
// functions it registers. cmd/fanout-lambda is Start over
// builtin.Registry(); a program with functions of its own adds them:
//
//	func main() {
//		reg := builtin.Registry()
//		reg.Register(myFunction{})
//		lambdaapp.Start(reg)
//	}
//
// Build it as scripts/package-lambda.sh builds cmd/fanout-lambda
// (GOOS=linux, CGO_ENABLED=0, -tags lambda.norpc, the executable named
// bootstrap at the root of the zip). One binary serves every role; the payload decides:
//
//   - a bucket event (S3 notification, directly or through SQS, SNS or
//     EventBridge, or a MinIO notification body) starts jobs over the new
//     objects (package trigger: filtering, claims, one job per batch) and
//     then works on them in the same invocation, or, with
//     FANOUT_WORKER_FUNCTION set, fans them out over work invocations of
//     that function (package lambdafan);
//   - {"fanout":"work","job":J} claims and processes chunks until the
//     deadline minus a safety margin, releases what it holds and returns a
//     summary (lambdafan.WorkSummary); the invocation that finishes the last
//     chunk commits;
//   - {"fanout":"commit","job":J} commits a job whose chunks are all done
//     (without a job: every job in the queue, a sweep to schedule);
//   - {"fanout":"drive","job":J,"function":F} keeps work invocations in
//     flight until the job commits, handing over to a new drive invocation
//     near its deadline.
//
// Start is the program's main: configuration comes from the environment
// (FANOUT_REDIS_URL, the S3 settings, FANOUT_FUNCTION, ...: envVars and
// docs/lambda.md), as the Lambda service sets it. This package lives under
// cmd/ because it is the layer that reads the environment and wires the
// vendor SDKs (aws-lambda-go, go-redis); the libraries it drives read no
// environment variable.
package lambdaapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fanout-dev/fanout/functions"
)

// Start serves Lambda invocations with the functions of reg
// (builtin.Registry() and the program's own) until the runtime stops the
// process. A configuration error is reported to the Runtime API as the
// invocation's error (Runtime.ConfigError) and exits with status 1. Start
// does not return.
func Start(reg *functions.Registry) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()
	cfg, err := loadConfig()
	var a *app
	if err == nil {
		a, err = newApp(ctx, cfg, reg, log)
	}
	if err != nil {
		log.Error("init failed", "err", err)
		reportInitError(err)
		os.Exit(1)
	}
	lambda.Start(a.handle)
}

// reportInitError tells the Runtime API why the function cannot start,
// so that the invocation fails with that reason rather than an exit code.
func reportInitError(err error) {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		return
	}
	body, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "Runtime.ConfigError"})
	req, rerr := http.NewRequest(http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if rerr != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	} else {
		fmt.Fprintln(os.Stderr, "fanout-lambda: reporting the init error:", err)
	}
}
