package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// This file turns mistakes on the command line into usage errors (exit
// status 2) that say what was wrong and what to do, with a "did you
// mean" where a name is close to a known one, and failures into one line
// with the command that goes on from there.

// setUsageErrors makes flag and argument errors of every command usage
// errors with suggestions.
func setUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(flagError)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return usagef("%s: %v (usage: %s)", cmd.Name(), err, cmd.UseLine())
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	for _, c := range root.Commands() {
		walk(c)
	}
}

// flagError rewrites pflag's errors: a "did you mean" for an unknown
// flag, the flag's expected value for a bad one.
func flagError(cmd *cobra.Command, err error) error {
	see := fmt.Sprintf("; see %s --help", cmd.CommandPath())
	var ne *pflag.NotExistError
	if errors.As(err, &ne) && ne.GetSpecifiedName() != "" {
		name := ne.GetSpecifiedName()
		var names []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		})
		if c := functions.Closest(name, names); c != "" {
			return usagef("unknown flag --%s (did you mean --%s?)%s", name, c, see)
		}
		return usagef("unknown flag --%s%s", name, see)
	}
	var ie *pflag.InvalidValueError
	if errors.As(err, &ie) {
		f := ie.GetFlag()
		return usagef("--%s %q: want %s%s", f.Name, ie.GetValue(), flagValueKind(f), see)
	}
	return usageError{fmt.Errorf("%w%s", err, see)}
}

// flagValueKind says what a flag's value must be.
func flagValueKind(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "int64", "uint", "int32":
		return "a whole number"
	case "float64", "float32":
		return "a number"
	case "duration":
		return "a duration such as 30s or 5m"
	case "bool":
		return "true or false"
	}
	return "a " + f.Value.Type()
}

// explain turns errors cobra reports before any command ran into usage
// errors: an unknown command gets its suggestion on the same line.
func explain(root *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown command "); ok {
		name, _, _ = strings.Cut(name, " for ")
		name = strings.Trim(name, `"`)
		var names []string
		for _, c := range root.Commands() {
			if !c.Hidden {
				names = append(names, c.Name())
			}
		}
		if c := functions.Closest(name, names); c != "" {
			return usagef("unknown command %q (did you mean %s?); see %s --help", name, c, root.Name())
		}
		return usagef("unknown command %q; see %s --help", name, root.Name())
	}
	return err
}

// checkFunction refuses an unknown function name, suggesting the known one
// it most likely misspells.
func checkFunction(reg *functions.Registry, name, prog string) error {
	if _, err := reg.Lookup(name); err == nil {
		return nil
	}
	if c := functions.Closest(name, reg.Names()); c != "" {
		return usagef("--fn %s: unknown function (did you mean %s?); %s functions lists them", name, c, prog)
	}
	return usagef("--fn %s: unknown function; %s functions lists them (%s)", name, prog, strings.Join(reg.Names(), ", "))
}

// specError names the flags behind a JobSpec's invalid fields.
func specError(err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var msgs []string
	for _, e := range errs {
		var fe *manifest.FieldError
		if !errors.As(e, &fe) {
			msgs = append(msgs, e.Error())
			continue
		}
		field, _, _ := strings.Cut(fe.Field, "[")
		msgs = append(msgs, specFlag(field)+": "+fe.Err.Error())
	}
	return usageError{errors.New(strings.Join(msgs, "; "))}
}

// specFlag is the flag that sets a JobSpec field.
func specFlag(field string) string {
	switch field {
	case "inputs":
		return "--in"
	case "inventories":
		return "--in-inventory"
	case "key_lists":
		return "--in-keys"
	case "function":
		return "--fn"
	case "args":
		return "--arg"
	case "output":
		return "--out"
	case "output_format":
		return "--out-format"
	case "chunk_bytes":
		return "--chunk-size"
	case "max_record_bytes":
		return "--max-record-size"
	case "max_decompressed_bytes":
		return "--max-decompressed-size"
	case "row_group_rows":
		return "--row-group-size"
	}
	return "--" + strings.ReplaceAll(field, "_", "-")
}

// redisURL accepts host:port for a Redis URL.
func redisURL(s string) string {
	if s == "" || strings.Contains(s, "://") {
		return s
	}
	return "redis://" + s
}

// redisError says that Redis cannot be reached, once, and what to do;
// other errors (a refused password) pass unchanged, but for the name of
// the URL: the queue's Config.URL is --redis (or FANOUT_REDIS_URL) here.
func redisError(rawURL string, err error) error {
	var ne *net.OpError
	if !errors.As(err, &ne) || ne.Op != "dial" {
		if msg := err.Error(); strings.Contains(msg, "Config.URL") {
			return errors.New(strings.Replace(msg, "Config.URL", "--redis (or FANOUT_REDIS_URL)", 1))
		}
		return err
	}
	host := rawURL
	if u, perr := url.Parse(rawURL); perr == nil && u.Host != "" {
		host = u.Host
	}
	cause := err
	for {
		next := errors.Unwrap(cause)
		if next == nil {
			break
		}
		cause = next
	}
	return fmt.Errorf("cannot reach Redis at %s (%v): start it, or run without --redis and FANOUT_REDIS_URL (embedded mode)", host, cause)
}

// s3Hint adds to an S3 store's refusal of the credentials, or an endpoint
// it cannot reach, where the command takes them from (README,
// "Environment").
func s3Hint(err error) error {
	var denied *bucketurl.AccessDeniedError
	var unreachable *bucketurl.UnreachableError
	switch {
	case errors.As(err, &denied):
		return fmt.Errorf("%w (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else AWS_PROFILE's shared files, else the instance or task role)", err)
	case errors.As(err, &unreachable):
		return fmt.Errorf("%w (AWS_ENDPOINT_URL_S3, or AWS_ENDPOINT_URL)", err)
	}
	return err
}

// redisLogger sends go-redis's own log lines (a connection pool's dial
// failures, repeated for every retry) to the debug log: the command
// reports a Redis that cannot be reached once, itself.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug("redis: " + fmt.Sprintf(format, v...))
}

// quietRedis routes go-redis's log to log (a process-wide setting of the
// go-redis package, made here in main's package).
func quietRedis(log *slog.Logger) { redis.SetLogger(redisLogger{log}) }

// failureHint adds to a failed job's error what to do next.
func failureHint(err error, job, redriveCmd string) error {
	var ic *fanout.InputChangedError
	if errors.As(err, &ic) || strings.Contains(err.Error(), "changed after the job was planned") {
		return fmt.Errorf("%w; the job reads the input as it was planned: run it again with --rerun to plan the changed input as a new job", err)
	}
	var tr *fanout.TooManyRejectedError
	if errors.As(err, &tr) {
		// No chunk failed, so a redrive has nothing to run.
		return fmt.Errorf("%w; fix the input, or allow more with a larger --max-rejected, then run again with --rerun (it takes the output over from this job)", err)
	}
	var jf *fanout.JobFailedError
	if errors.As(err, &jf) && redriveCmd != "" {
		return fmt.Errorf("%w; after fixing the cause: %s", err, redriveCmd)
	}
	return err
}
