// Command fanout-lambda is fanout's AWS Lambda function: a provided.al2023
// bootstrap (build it with -tags lambda.norpc, see
// scripts/package-lambda.sh). One binary serves every role; the payload
// decides:
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
// Configuration comes from the environment: see envVars and
// docs/lambda.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()
	cfg, err := loadConfig()
	var a *app
	if err == nil {
		a, err = newApp(ctx, cfg, log)
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
