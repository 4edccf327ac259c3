// Command testfunc is a small Lambda function for the emulator's tests,
// built on the real aws-lambda-go runtime client. Its payload says what to
// do: {"do":"echo"|"fail"|"sleep"|"hang"|"panic","ms":N}.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Do string `json:"do"`
	MS int    `json:"ms"`
}

type response struct {
	RequestID   string `json:"request_id"`
	FunctionARN string `json:"function_arn"`
	Remaining   int64  `json:"remaining_ms"`
	RuntimeAPI  string `json:"runtime_api"`
	Function    string `json:"function"`
	PID         int    `json:"pid"`
	Echo        string `json:"echo"`
}

func handle(ctx context.Context, req request) (response, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	resp := response{RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn, Remaining: time.Until(deadline).Milliseconds(),
		RuntimeAPI: os.Getenv("AWS_LAMBDA_RUNTIME_API"), Function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), PID: os.Getpid(), Echo: req.Do}
	switch req.Do {
	case "fail":
		return resp, errors.New("asked to fail")
	case "sleep": // honours the deadline
		select {
		case <-time.After(time.Duration(req.MS) * time.Millisecond):
		case <-ctx.Done():
			return resp, ctx.Err()
		}
	case "hang": // ignores the deadline
		time.Sleep(time.Duration(req.MS) * time.Millisecond)
	case "panic":
		panic("asked to panic")
	}
	return resp, nil
}

func main() {
	if os.Getenv("TESTFUNC_INIT_FAIL") != "" {
		// What a runtime does when it cannot initialise.
		url := fmt.Sprintf("http://%s/2018-06-01/runtime/init/error", os.Getenv("AWS_LAMBDA_RUNTIME_API"))
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(`{"errorMessage":"missing configuration","errorType":"Runtime.ConfigError"}`)))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		os.Exit(1)
	}
	lambda.Start(handle)
}
