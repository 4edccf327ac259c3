// Command accesslog is fanout's command line with the accesslog example's
// functions (accesslog, visitors) beside the built-in ones: every command
// of fanout (run, submit, work, wait, status, ...), the same flags and
// environment. Its `work` processes run jobs of both kinds; stock `fanout
// work` processes on the same Redis leave the example's jobs to it.
//
//	go build -o bin/accesslog ./examples/accesslog/cmd/accesslog
//	bin/accesslog run --in s3://logs/2026/ --fn visitors --out s3://logs/visitors/
package main

import (
	"github.com/fanout-dev/fanout/cmd/fanout/cli"
	"github.com/fanout-dev/fanout/examples/accesslog"
	"github.com/fanout-dev/fanout/functions/builtin"
)

func main() {
	reg := builtin.Registry()
	for _, f := range accesslog.Functions() {
		reg.Register(f)
	}
	cli.Main(reg)
}
