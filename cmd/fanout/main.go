// Command fanout runs a function over every record of the objects under a
// prefix, in parallel, and commits the result atomically. See README.md.
//
// It is the package cli's Main over the built-in functions; a program of
// your own that registers more functions gets the same command line (see
// package github.com/fanout-dev/fanout/cmd/fanout/cli).
package main

import (
	"github.com/fanout-dev/fanout/cmd/fanout/cli"
	"github.com/fanout-dev/fanout/functions/builtin"
)

func main() { cli.Main(builtin.Registry()) }
