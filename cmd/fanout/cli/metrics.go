package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fanout-dev/fanout/fanout"
)

// metrics are the Prometheus series `fanout work` (and `fanout serve`)
// expose on --metrics-addr.
type metrics struct {
	reg        *prometheus.Registry
	chunks     *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	recordsIn  prometheus.Counter
	recordsOut prometheus.Counter
	bytesIn    prometheus.Counter
	retries    prometheus.Counter
	leaseLost  prometheus.Counter
	backups    *prometheus.CounterVec
	queue      *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		chunks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fanout_chunks_total",
			Help: "Chunk attempts by outcome (done, skipped, failed, lease_lost, released)."}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fanout_chunk_duration_seconds",
			Help: "Time from claim to settled, per attempt.", Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 14)}, []string{"outcome"}),
		recordsIn:  prometheus.NewCounter(prometheus.CounterOpts{Name: "fanout_records_in_total", Help: "Records read by published attempts."}),
		recordsOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "fanout_records_out_total", Help: "Rows written by published attempts."}),
		bytesIn:    prometheus.NewCounter(prometheus.CounterOpts{Name: "fanout_bytes_in_total", Help: "Input bytes owned by published attempts."}),
		retries:    prometheus.NewCounter(prometheus.CounterOpts{Name: "fanout_retries_total", Help: "Attempts that were not a chunk's first delivery."}),
		leaseLost:  prometheus.NewCounter(prometheus.CounterOpts{Name: "fanout_lease_losses_total", Help: "Attempts stopped because their lease was lost."}),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fanout_backup_attempts_total",
			Help: "Backup attempts at stragglers by outcome (done: the backup published)."}, []string{"outcome"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fanout_queue_chunks",
			Help: "Chunks of active jobs by queue state (pending, retrying, running, done, dead)."}, []string{"job", "state"}),
	}
	m.reg.MustRegister(m.chunks, m.duration, m.recordsIn, m.recordsOut, m.bytesIn, m.retries, m.leaseLost, m.backups, m.queue,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe records one ended attempt.
func (m *metrics) observe(ev fanout.ChunkEvent) {
	m.chunks.WithLabelValues(ev.Outcome).Inc()
	m.duration.WithLabelValues(ev.Outcome).Observe(ev.Duration.Seconds())
	m.recordsIn.Add(float64(ev.RecordsIn))
	m.recordsOut.Add(float64(ev.RecordsOut))
	m.bytesIn.Add(float64(ev.BytesIn))
	if ev.Retry {
		m.retries.Inc()
	}
	if ev.Backup {
		m.backups.WithLabelValues(ev.Outcome).Inc()
	}
	if ev.Outcome == fanout.OutcomeLeaseLost {
		m.leaseLost.Inc()
	}
}

// pollQueue refreshes the queue depth gauges every interval until ctx ends.
func (m *metrics) pollQueue(ctx context.Context, admin fanout.QueueAdmin, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if jobs, err := admin.Jobs(ctx); err == nil {
			m.queue.Reset()
			for _, j := range jobs {
				s, err := admin.Stats(ctx, j.Job)
				if err != nil {
					continue
				}
				m.queue.WithLabelValues(j.Job, "pending").Set(float64(s.Pending - s.Retrying))
				m.queue.WithLabelValues(j.Job, "retrying").Set(float64(s.Retrying))
				m.queue.WithLabelValues(j.Job, "running").Set(float64(s.Running))
				m.queue.WithLabelValues(j.Job, "done").Set(float64(s.Done))
				m.queue.WithLabelValues(j.Job, "dead").Set(float64(s.Dead))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// handler serves the registry in Prometheus' text format.
func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// serveMetrics serves /metrics on addr until ctx ends. It returns the
// address it listens on (useful with port 0).
func (m *metrics) serve(ctx context.Context, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err
		}
	}()
	return ln.Addr().String(), nil
}
