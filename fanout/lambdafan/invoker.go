package lambdafan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

var (
	// ErrThrottled reports that Lambda refused an invocation for lack of
	// concurrency or rate (429 TooManyRequestsException and kin): back off
	// and try again.
	ErrThrottled = errors.New("lambdafan: invocation throttled")
	// ErrFunctionNotFound reports that the function does not exist (or the
	// caller may not see it): retrying cannot help.
	ErrFunctionNotFound = errors.New("lambdafan: function not found")
)

// Invoker sends asynchronous invocations. Client is the implementation
// on AWS Lambda; tests wrap it to inject faults.
type Invoker interface {
	// InvokeAsync queues one invocation of function with payload
	// (InvocationType Event) and returns once Lambda accepted it.
	// Throttling is reported as ErrThrottled, a missing function as
	// ErrFunctionNotFound.
	InvokeAsync(ctx context.Context, function string, payload []byte) error
}

// FunctionError is an invocation that ran and failed: Lambda's
// X-Amz-Function-Error with the error payload the runtime reported.
type FunctionError struct {
	Function string
	// Kind is the X-Amz-Function-Error header ("Unhandled", "Handled").
	Kind string
	// Type and Message come from the payload ({"errorType",
	// "errorMessage"}) when it has them.
	Type    string
	Message string
	Payload []byte
}

func (e *FunctionError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("lambdafan: %s failed (%s): %s: %s", e.Function, e.Kind, e.Type, e.Message)
	}
	return fmt.Sprintf("lambdafan: %s failed (%s): %s", e.Function, e.Kind, e.Payload)
}

// Client invokes functions through the aws-sdk-go-v2 Lambda client.
type Client struct {
	api *lambda.Client
}

var _ Invoker = (*Client)(nil)

// NewClient wraps a Lambda client.
func NewClient(api *lambda.Client) *Client { return &Client{api: api} }

// NewClientFromEnv builds a Lambda client from the AWS default chain
// (AWS_REGION, credentials, AWS_ENDPOINT_URL_LAMBDA for an emulator);
// endpoint, when set, overrides the endpoint.
func NewClientFromEnv(ctx context.Context, endpoint string) (*Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("lambdafan: loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return NewClient(lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})), nil
}

// InvokeAsync queues an invocation (InvocationType Event; Lambda answers
// 202 and runs it later, retrying failures on its own).
func (c *Client) InvokeAsync(ctx context.Context, function string, payload []byte) error {
	out, err := c.api.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(function),
		InvocationType: types.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return classify(function, err)
	}
	if out.StatusCode != http.StatusAccepted {
		return fmt.Errorf("lambdafan: async invocation of %s answered %d, want 202", function, out.StatusCode)
	}
	return nil
}

// Invoke runs an invocation synchronously (RequestResponse) and returns
// its response payload, or a *FunctionError when the function failed.
func (c *Client) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	out, err := c.api.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(function),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	})
	if err != nil {
		return nil, classify(function, err)
	}
	if out.FunctionError != nil {
		fe := &FunctionError{Function: function, Kind: *out.FunctionError, Payload: out.Payload}
		var body struct {
			Type    string `json:"errorType"`
			Message string `json:"errorMessage"`
		}
		if json.Unmarshal(out.Payload, &body) == nil {
			fe.Type, fe.Message = body.Type, body.Message
		}
		return nil, fe
	}
	return out.Payload, nil
}

// classify maps the SDK's errors onto ErrThrottled and
// ErrFunctionNotFound, keeping the cause.
func classify(function string, err error) error {
	var tooMany *types.TooManyRequestsException
	var ec2 *types.EC2ThrottledException
	var notFound *types.ResourceNotFoundException
	var resp *awshttp.ResponseError
	switch {
	case errors.As(err, &tooMany), errors.As(err, &ec2):
		return fmt.Errorf("%w: %s: %w", ErrThrottled, function, err)
	case errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s: %w", ErrThrottled, function, err)
	case errors.As(err, &notFound):
		return fmt.Errorf("%w: %s: %w", ErrFunctionNotFound, function, err)
	}
	return fmt.Errorf("lambdafan: invoking %s: %w", function, err)
}
