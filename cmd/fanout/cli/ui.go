package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/dashboard"
)

// uiFlags are the dashboard's settings, shared by ui and serve.
type uiFlags struct {
	token   string
	outputs []string
}

// resolveToken reads $FANOUT_UI_TOKEN when --ui-token was not given,
// refuses a token too short to be redacted, and adds the token to the
// secrets the engine redacts.
func (f *uiFlags) resolveToken(cmd *cobra.Command, g *globalFlags) error {
	if !cmd.Flags().Changed("ui-token") {
		f.token = os.Getenv("FANOUT_UI_TOKEN")
	}
	if f.token != "" && len(f.token) < fanout.MinSecretLen {
		return usageError{fmt.Errorf("--ui-token (or FANOUT_UI_TOKEN): %d characters; want at least %d (openssl rand -hex 16 makes one)", len(f.token), fanout.MinSecretLen)}
	}
	if f.token != "" {
		g.secrets = append(g.secrets, f.token)
	}
	return nil
}

// dashboard builds the dashboard of an app's queue for a listener.
func (f *uiFlags) dashboard(a *app, admin fanout.QueueAdmin, token string, ln net.Listener, log *slog.Logger) (*dashboard.Dashboard, error) {
	return dashboard.New(dashboard.Config{Engine: a.engine, Admin: admin, Token: token, Outputs: f.outputs,
		LoopbackOnly: loopbackListener(ln), Logger: log})
}

// loopbackListener reports whether ln accepts only local connections.
func loopbackListener(ln net.Listener) bool {
	tcp, ok := ln.Addr().(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func newUICommand(g *globalFlags) *cobra.Command {
	var f uiFlags
	var listen string
	cmd := &cobra.Command{
		Use:   "ui [--listen ADDR] [--ui-token TOKEN] [--out URL ...]",
		Short: "Serve a live dashboard of the queue's jobs in a browser: progress, throughput, stragglers, failures, redrive",
		Long: `ui serves a web page listing every job the queue (Redis) holds, and the jobs that
own the --out prefixes (or the last 100 directories under one that no job owns), with their state, progress, rate, ETA and age; a page per job
charts its task states over time, its throughput and its task times (stragglers and
backups marked), and lists its slowest running tasks, its failed tasks with their
reasons, its rejected records and committed files per partition, and its estimated
S3 requests and Lambda GB-seconds. Pages update every second.

It listens on loopback unless --listen says otherwise, and then answers only requests
addressed to localhost. Redriving a failed job and cancelling one need the token
(--ui-token or $FANOUT_UI_TOKEN), typed into the page; without one the dashboard is
read-only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.resolveToken(cmd, g); err != nil {
				return err
			}
			ctx := cmd.Context()
			a, err := newApp(ctx, g, true)
			if err != nil {
				return fmt.Errorf("ui: %w (the dashboard shows the jobs of a Redis queue)", err)
			}
			defer a.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			dash, err := f.dashboard(a, a.admin, f.token, ln, a.log)
			if err != nil {
				ln.Close()
				return err
			}
			mux := http.NewServeMux()
			mux.Handle(dashboard.Prefix, dash.Handler())
			mux.Handle("GET /{$}", http.RedirectHandler(dashboard.Prefix, http.StatusFound))
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
				WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
			runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
			defer stop()
			go dash.Run(runCtx)
			// The address on stderr, so that a script (or test) that
			// listens on port 0 finds it.
			fmt.Fprintf(os.Stderr, "%s ui: serving http://%s%s\n", g.prog, ln.Addr(), dashboard.Prefix)
			if !loopbackListener(ln) {
				fmt.Fprintf(os.Stderr, "%s ui: warning: %s is not a loopback address: whoever reaches it sees the dashboard's pages (its actions still need the token); put a proxy with authentication and TLS in front\n", g.prog, ln.Addr())
			}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			select {
			case <-ctx.Done():
			case err = <-done:
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9090", "`ADDR` to listen on (loopback by default)")
	f.register(cmd)
	cmd.Flags().StringArrayVar(&f.outputs, "out", nil, "also show the job that owns this output `URL` (a committed or failed job the queue no longer lists), or, when none does, those that own the last 100 directories right under it (such as fanout serve's batches); repeatable")
	return cmd
}

// register adds the dashboard flags.
func (f *uiFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.token, "ui-token", "", "`TOKEN` the dashboard's actions (redrive, cancel) need, typed into the page; default $FANOUT_UI_TOKEN (prefer the variable: flags show in ps)")
}
