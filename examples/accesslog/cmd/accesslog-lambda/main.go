// Command accesslog-lambda is fanout's Lambda bootstrap with the accesslog
// example's functions beside the built-in ones. Package it as
// scripts/package-lambda.sh packages fanout's own:
//
//	scripts/package-lambda.sh --main ./examples/accesslog/cmd/accesslog-lambda --name accesslog-lambda
package main

import (
	"github.com/fanout-dev/fanout/cmd/fanout-lambda/lambdaapp"
	"github.com/fanout-dev/fanout/examples/accesslog"
	"github.com/fanout-dev/fanout/functions/builtin"
)

func main() {
	reg := builtin.Registry()
	for _, f := range accesslog.Functions() {
		reg.Register(f)
	}
	lambdaapp.Start(reg)
}
