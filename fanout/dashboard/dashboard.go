// Package dashboard is fanout's live web dashboard: a page listing every
// job the queue holds (and recent ones found under given output
// prefixes) with state, progress, rate, ETA and age, and a page per job
// with its chunk states over time, throughput, the chunk-time
// distribution with stragglers and backups marked, the slowest running
// chunks, dead letters with their reasons, rejected records, the commit
// record's files per partition and the cost estimates. Pages poll a JSON
// API every second. The assets are embedded: nothing is fetched from
// elsewhere and nothing needs building.
//
// One goroutine (the sampler, started by Run) looks at every job once
// per interval, through fanout.Engine.Overview, which reads the queue's
// counters and single objects, never a listing of a job's markers: a
// request is answered from the last look, so the work per refresh does
// not grow with the number of chunks or of people watching.
//
// Security: the pages show what `fanout status` prints (no job
// arguments, no credentials; failure reasons redacted by the engine).
// Actions (redrive a failed job, cancel one that has not committed) are POSTs that carry the token in the
// X-Fanout-Token header: a page of another origin can neither send that
// header without a CORS preflight this server never answers, nor read
// the token, which lives only in the page's session storage, never in a
// cookie. No GET changes anything. A dashboard configured as loopback-only
// refuses requests whose Host is not a loopback name (DNS rebinding).
package dashboard

import (
	"cmp"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
)

//go:embed assets
var assets embed.FS

// TokenHeader carries the action token.
const TokenHeader = "X-Fanout-Token"

// Prefix is the path under which Handler serves everything.
const Prefix = "/ui/"

// Config configures a Dashboard. Engine and Admin are required.
type Config struct {
	// Engine reads the jobs (Overview) and redrives them; Admin lists the
	// queue's jobs.
	Engine *fanout.Engine
	Admin  fanout.QueueAdmin
	// Token, when set, enables the actions for requests carrying it in
	// the X-Fanout-Token header; empty disables them.
	Token string
	// Outputs are output prefixes (URLs) whose owner job is shown as well,
	// whether or not the queue still holds it.
	Outputs []string
	// LoopbackOnly refuses requests whose Host header is not a loopback
	// name or address (set it when listening on loopback).
	LoopbackOnly bool
	// Interval is how often every job is looked at (default 1s; at most
	// 2s keeps the pages live).
	Interval time.Duration
	// Recent is how many jobs that left the queue stay listed (default
	// 100).
	Recent int
	// Logger receives the actions taken; nil discards them.
	Logger *slog.Logger
}

// Dashboard serves the pages and the JSON API.
type Dashboard struct {
	cfg     Config
	sampler *sampler
	static  http.Handler
	shell   []byte
}

// New checks cfg and returns a Dashboard; Run must run for its pages to
// fill.
func New(cfg Config) (*Dashboard, error) {
	var errs []error
	if cfg.Engine == nil {
		errs = append(errs, errors.New("dashboard: Config.Engine is nil"))
	}
	if cfg.Admin == nil {
		errs = append(errs, errors.New("dashboard: Config.Admin is nil"))
	}
	if cfg.Interval < 0 || cfg.Interval > 2*time.Second {
		errs = append(errs, fmt.Errorf("dashboard: Config.Interval %v is not within (0, 2s]", cfg.Interval))
	}
	if cfg.Token != "" && len(cfg.Token) < fanout.MinSecretLen {
		errs = append(errs, fmt.Errorf("dashboard: Config.Token is shorter than %d characters", fanout.MinSecretLen))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.Recent <= 0 {
		cfg.Recent = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	shell, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return nil, err
	}
	return &Dashboard{cfg: cfg, sampler: newSampler(cfg), static: http.StripPrefix(Prefix+"static/", http.FileServerFS(sub)), shell: shell}, nil
}

// Run looks at the jobs every Config.Interval until ctx ends.
func (d *Dashboard) Run(ctx context.Context) { d.sampler.run(ctx) }

// Handler serves the dashboard under Prefix.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"{$}", d.page)
	mux.HandleFunc("GET "+Prefix+"jobs/{job}", d.page)
	mux.Handle("GET "+Prefix+"static/", d.static)
	mux.HandleFunc("GET "+Prefix+"api/jobs", d.apiJobs)
	mux.HandleFunc("GET "+Prefix+"api/jobs/{job}", d.apiJob)
	mux.HandleFunc("POST "+Prefix+"api/jobs/{job}/redrive", d.action(d.redrive))
	mux.HandleFunc("POST "+Prefix+"api/jobs/{job}/cancel", d.action(d.cancel))
	return d.guard(mux)
}

// guard sets the security headers every answer carries and refuses
// foreign Host headers on a loopback-only dashboard.
func (d *Dashboard) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		if d.cfg.LoopbackOnly && !loopbackHost(r.Host) {
			http.Error(w, "this dashboard answers only on a loopback address (localhost, 127.0.0.1, [::1])", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names the local machine.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// page serves the HTML shell; app.js renders the page the path names.
func (d *Dashboard) page(w http.ResponseWriter, r *http.Request) {
	if job := r.PathValue("job"); job != "" && !manifest.ValidJobID(job) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(d.shell)
}

// JobRow is one job in the jobs list.
type JobRow struct {
	Job      string    `json:"job"`
	State    string    `json:"state"`
	Output   string    `json:"output"`
	Function string    `json:"function"`
	Planned  time.Time `json:"planned,omitzero"`
	Tasks    int       `json:"tasks"`
	Done     int       `json:"done"`
	Running  int       `json:"running"`
	Retrying int       `json:"retrying"`
	Dead     int       `json:"dead"`
	Bytes    int64     `json:"bytes"`
	// BytesDone estimates the input read: Bytes in proportion to the
	// map chunks done.
	BytesDone int64 `json:"bytes_done"`
	// Records are the committed job's records in and out; while it
	// runs, estimates (RecordsEstimated) from the input read and a sample
	// of its chunk markers.
	RecordsIn        int64   `json:"records_in,omitempty"`
	RecordsOut       int64   `json:"records_out,omitempty"`
	RecordsPerSecond float64 `json:"records_per_second,omitempty"`
	RecordsEstimated bool    `json:"records_estimated,omitempty"`
	// RecordsCounted says the running job's records and input read are
	// the queue's counts of its published tasks (every worker's, each task
	// once: fanout.TaskCounter), exact rather than estimated.
	RecordsCounted bool `json:"records_counted,omitempty"`
	// SampledMarkers is how many chunk markers the estimates rest on.
	SampledMarkers int `json:"sampled_markers,omitempty"`
	// LambdaGBSeconds is the commit record's, or while the job runs an
	// estimate from the sampled markers (zero when none ran on Lambda).
	LambdaGBSeconds float64 `json:"lambda_gb_seconds,omitempty"`
	// TasksPerSecond and BytesPerSecond are the recent rate (the last
	// half minute of looks), ETASeconds the time left at it.
	TasksPerSecond float64 `json:"tasks_per_second"`
	BytesPerSecond float64 `json:"bytes_per_second"`
	ETASeconds     float64 `json:"eta_seconds,omitempty"`
	// Error is why the last look at the job failed.
	Error string `json:"error,omitempty"`
}

// JobsReply is GET /ui/api/jobs.
type JobsReply struct {
	At   time.Time `json:"at"`
	Jobs []JobRow  `json:"jobs"`
	// Error is why the last look at the queue failed.
	Error string `json:"error,omitempty"`
	// Actions says whether actions are enabled (a token is configured).
	Actions bool `json:"actions"`
}

// rateSamples is how many of the last looks the rate is measured over.
const rateSamples = 30

func row(e entry) JobRow {
	ov := e.ov
	r := JobRow{Job: ov.Job, State: ov.State, Output: ov.Output, Function: ov.Function, Planned: ov.Planned, Tasks: ov.Tasks,
		Done: ov.Done, Running: ov.Queue.Running, Retrying: ov.Queue.Retrying, Dead: ov.Queue.Dead, Bytes: ov.Bytes, Error: e.err}
	if r.State == "" {
		r.State = "unknown"
	}
	if ov.MapChunks > 0 {
		r.BytesDone = ov.Bytes * int64(min(ov.Done, ov.MapChunks)) / int64(ov.MapChunks)
	}
	if c := ov.Commit; c != nil {
		r.RecordsIn, r.RecordsOut, r.BytesDone, r.LambdaGBSeconds = c.RecordsIn, c.RecordsOut, c.BytesIn, c.LambdaGBSeconds
		if wall := c.Timings.Wall.D().Seconds(); wall > 0 {
			r.RecordsPerSecond = float64(c.RecordsIn) / wall
		}
	}
	if h := e.history; len(h) >= 2 && (ov.State == fanout.StateRunning || ov.State == fanout.StateQueued) {
		first, last := h[max(len(h)-rateSamples, 0)], h[len(h)-1]
		if dt := last.At.Sub(first.At).Seconds(); dt > 0 {
			r.TasksPerSecond = float64(last.Done-first.Done) / dt
			if ov.MapChunks > 0 {
				r.BytesPerSecond = r.TasksPerSecond * float64(ov.Bytes) / float64(ov.MapChunks)
			}
		}
		if left := ov.Tasks - ov.Done - ov.Queue.Dead; r.TasksPerSecond > 0 && left > 0 {
			r.ETASeconds = float64(left) / r.TasksPerSecond
		}
	}
	if m := e.markers; ov.Commit == nil && m.Markers > 0 {
		r.SampledMarkers, r.RecordsEstimated = m.Markers, true
		if m.BytesIn > 0 {
			perByte := float64(m.RecordsIn) / float64(m.BytesIn)
			r.RecordsIn = int64(perByte * float64(r.BytesDone))
			r.RecordsOut = int64(float64(m.RecordsOut) / float64(m.BytesIn) * float64(r.BytesDone))
			r.RecordsPerSecond = perByte * r.BytesPerSecond
		}
		r.LambdaGBSeconds = m.LambdaGBSeconds / float64(m.Markers) * float64(min(ov.Done, ov.MapChunks))
	}
	if q := ov.Queue; ov.Commit == nil && (q.RecordsIn > 0 || q.BytesIn > 0) {
		// A queue that counts (fanout.TaskCounter) gives the records and
		// bytes of the tasks published so far exactly.
		r.RecordsIn, r.RecordsOut, r.BytesDone = q.RecordsIn, q.RecordsOut, q.BytesIn
		r.RecordsEstimated, r.RecordsCounted = false, true
		r.RecordsPerSecond = 0
		if q.BytesIn > 0 {
			r.RecordsPerSecond = float64(q.RecordsIn) / float64(q.BytesIn) * r.BytesPerSecond
		}
	}
	return r
}

func (d *Dashboard) apiJobs(w http.ResponseWriter, _ *http.Request) {
	entries, qerr, at := d.sampler.all()
	reply := JobsReply{At: at, Error: qerr, Actions: d.cfg.Token != "", Jobs: []JobRow{}}
	for _, e := range entries {
		reply.Jobs = append(reply.Jobs, row(e))
	}
	// Unfinished first, then the newest.
	slices.SortFunc(reply.Jobs, func(a, b JobRow) int {
		if fa, fb := a.State == fanout.StateCommitted, b.State == fanout.StateCommitted; fa != fb {
			if fa {
				return 1
			}
			return -1
		}
		if c := b.Planned.Compare(a.Planned); c != 0 {
			return c
		}
		return strings.Compare(a.Job, b.Job)
	})
	writeJSON(w, http.StatusOK, reply)
}

// JobReply is GET /ui/api/jobs/{job}: the row, the overview, the
// history of counts and what the job page charts.
type JobReply struct {
	At  time.Time       `json:"at"`
	Row JobRow          `json:"row"`
	Job fanout.Overview `json:"overview"`
	// History holds the looks at the job's counts, oldest first.
	History []sample `json:"history"`
	// Partitions sums the committed files per partition (most bytes
	// first, at most 200); PartitionCount is how many partitions there
	// are. The overview's commit record carries neither its files nor its
	// partitions, and at most 50 of its failed chunks.
	Partitions     []Partition `json:"partitions,omitempty"`
	PartitionCount int         `json:"partition_count,omitempty"`
	// Timings are the commit record's, in seconds.
	Timings *Timings `json:"timings,omitempty"`
	// Sample is what the sampled chunk markers of a job that has not
	// committed say (rejected records among them).
	Sample *fanout.MarkerSample `json:"sample,omitempty"`
	// Actions says which actions the job takes now.
	Actions []string `json:"actions"`
	// TokenRequired is true when actions are enabled (they need the
	// token); false when the dashboard has no token and takes none.
	TokenRequired bool `json:"token_required"`
}

// Timings are a committed job's task times and wall time, in seconds.
type Timings struct {
	Wall float64 `json:"wall"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	Max  float64 `json:"max"`
}

// Partition is the committed output of one partition.
type Partition struct {
	Partition string `json:"partition"`
	Files     int    `json:"files"`
	Rows      int64  `json:"rows"`
	Bytes     int64  `json:"bytes"`
}

// partitionsShown bounds JobReply.Partitions; failedShown the failed
// chunks of the commit record a reply carries (Overview.DeadLetters are
// bounded alike).
const (
	partitionsShown = 200
	failedShown     = 50
)

// partitions sums the committed files per partition and returns the
// partitionsShown with the most bytes and how many there are.
func partitions(rec *manifest.CommitRecord) ([]Partition, int) {
	if rec == nil {
		return nil, 0
	}
	byName := map[string]*Partition{}
	var out []*Partition
	// The commit sums its files per partition (a record of version 2
	// lists no files); older records are summed here.
	for _, p := range rec.Partitions {
		out = append(out, &Partition{Partition: p.Partition, Files: p.Files, Rows: p.Rows, Bytes: p.Bytes})
	}
	for _, f := range rec.Files {
		if len(rec.Partitions) > 0 {
			break
		}
		p := byName[f.Partition]
		if p == nil {
			p = &Partition{Partition: f.Partition}
			byName[f.Partition] = p
			out = append(out, p)
		}
		p.Files++
		p.Rows += f.Rows
		p.Bytes += f.Size
	}
	slices.SortFunc(out, func(a, b *Partition) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), strings.Compare(a.Partition, b.Partition))
	})
	list := make([]Partition, 0, min(len(out), partitionsShown))
	for _, p := range out[:min(len(out), partitionsShown)] {
		list = append(list, *p)
	}
	return list, len(out)
}

// slimCommit returns what the pages show of a commit record: its totals,
// rejections by rule and column and first failed chunks, without the
// lists that grow with the job (files, partitions, the drift of every
// input object), which the sampler would otherwise keep for every job
// and send on every refresh.
func slimCommit(rec *manifest.CommitRecord) *manifest.CommitRecord {
	c := *rec
	c.Files, c.RejectedFiles, c.FileParts, c.RejectedParts, c.Partitions, c.Drift = nil, nil, nil, nil, nil, nil
	c.Failed = slices.Clone(c.Failed[:min(len(c.Failed), failedShown)])
	return &c
}

func (d *Dashboard) apiJob(w http.ResponseWriter, r *http.Request) {
	job := r.PathValue("job")
	e, ok := d.sampler.get(job)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no job " + job + " in the queue or under the dashboard's outputs"})
		return
	}
	_, _, at := d.sampler.all()
	reply := JobReply{At: at, Row: row(e), Job: e.ov, History: e.history, Partitions: e.partitions, PartitionCount: e.partitionCount,
		TokenRequired: d.cfg.Token != "", Actions: d.actions(e)}
	if e.ov.Commit == nil && e.markers.Markers > 0 {
		reply.Sample = &e.markers
	}
	if c := e.ov.Commit; c != nil {
		t := c.Timings
		reply.Timings = &Timings{Wall: t.Wall.D().Seconds(), P50: t.ChunkP50.D().Seconds(), P95: t.ChunkP95.D().Seconds(), Max: t.ChunkMax.D().Seconds()}
	}
	writeJSON(w, http.StatusOK, reply)
}

// actions names what can be done to a job in its state.
func (d *Dashboard) actions(e entry) []string {
	acts := []string{}
	if d.cfg.Token == "" {
		return acts
	}
	if e.ov.State == fanout.StateFailed || e.ov.RedriveHold != nil {
		// A redrive killed before it let go of the job is finished by
		// another.
		acts = append(acts, "redrive")
	}
	switch e.ov.State {
	case fanout.StateQueued, fanout.StateRunning, fanout.StateFailed:
		acts = append(acts, "cancel")
	}
	return acts
}

// action checks what every action request must carry and runs act.
func (d *Dashboard) action(act func(ctx context.Context, e entry) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.cfg.Token == "" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "actions are disabled: start the dashboard with --ui-token (or FANOUT_UI_TOKEN)"})
			return
		}
		// A browser says where a request comes from; a page of another
		// site cannot send the token header anyway (no CORS), but refuse
		// it before looking at the token.
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site request refused"})
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && origin != "http://"+r.Host && origin != "https://"+r.Host {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-origin request refused"})
			return
		}
		got := r.Header.Get(TokenHeader)
		if got == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing " + TokenHeader + " header"})
			return
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(d.cfg.Token)) != 1 {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "wrong token"})
			return
		}
		job := r.PathValue("job")
		e, ok := d.sampler.get(job)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no job " + job})
			return
		}
		res, err := act(r.Context(), e)
		d.sampler.poke(job)
		if err != nil {
			status := http.StatusInternalServerError
			var refused *refusal
			if errors.As(err, &refused) {
				status = http.StatusConflict
			}
			writeJSON(w, status, map[string]string{"error": d.cfg.Engine.Redact(err.Error())})
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// refusal is an action the job's state does not allow.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func (d *Dashboard) redrive(ctx context.Context, e entry) (any, error) {
	if e.ov.State != fanout.StateFailed && e.ov.RedriveHold == nil {
		return nil, &refusal{fmt.Sprintf("job %s is %s: only a failed job, or one an interrupted redrive holds, can be redriven", e.ov.Job, e.ov.State)}
	}
	info, err := d.cfg.Engine.Redrive(ctx, e.ov.Output, e.ov.Job)
	if err != nil {
		return nil, err
	}
	d.cfg.Logger.Info("dashboard: redrove a job", "job", e.ov.Job, "chunks", len(info.Chunks), "enqueued", info.Enqueued)
	return info, nil
}

func (d *Dashboard) cancel(ctx context.Context, e entry) (any, error) {
	switch e.ov.State {
	case fanout.StateCommitted, fanout.StateCommitting, fanout.StateCancelled:
		return nil, &refusal{fmt.Sprintf("job %s is %s: there is nothing to cancel", e.ov.Job, e.ov.State)}
	}
	info, err := d.cfg.Engine.Cancel(ctx, e.ov.Output, e.ov.Job, fanout.CancelOptions{Reason: "cancelled from the dashboard"})
	var refused *fanout.CancelRefusedError
	if errors.As(err, &refused) {
		return nil, &refusal{err.Error()}
	}
	if err != nil {
		return nil, err
	}
	d.cfg.Logger.Info("dashboard: cancelled a job", "job", e.ov.Job, "dropped", info.Dropped, "stopping", info.Stopping)
	return info, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}
