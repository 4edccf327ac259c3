// Command fanout-lambda is fanout's AWS Lambda function: a provided.al2023
// bootstrap (build it with -tags lambda.norpc, see
// scripts/package-lambda.sh) serving bucket events and work, commit and
// drive invocations. It is the package lambdaapp's Start over the built-in
// functions; a program of your own that registers more functions is a
// bootstrap of the same kind (see package
// github.com/fanout-dev/fanout/cmd/fanout-lambda/lambdaapp and
// docs/lambda.md).
package main

import (
	"github.com/fanout-dev/fanout/cmd/fanout-lambda/lambdaapp"
	"github.com/fanout-dev/fanout/functions/builtin"
)

func main() { lambdaapp.Start(builtin.Registry()) }
