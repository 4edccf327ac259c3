package cli

import (
	"log/slog"
	"time"

	"github.com/fanout-dev/fanout/fanout"
)

// logChunk logs one of this process's ended attempts (shown with -v; the
// engine logs claims, failures with their reason and lost leases itself).
func logChunk(log *slog.Logger, ev fanout.ChunkEvent) {
	attrs := []any{"job", ev.Job, "chunk", ev.Chunk, "duration", ev.Duration.Round(time.Millisecond)}
	if ev.Retry {
		attrs = append(attrs, "retry", true)
	}
	if ev.Backup {
		attrs = append(attrs, "backup", true)
	}
	switch ev.Outcome {
	case fanout.OutcomeDone:
		log.Info("chunk done", append(attrs, "records_in", ev.RecordsIn, "records_out", ev.RecordsOut, "bytes_in", ev.BytesIn)...)
	case fanout.OutcomeSkipped:
		log.Info("chunk skipped: another attempt had published it", attrs...)
	case fanout.OutcomeReleased:
		log.Info("chunk released to the queue", attrs...)
	case fanout.OutcomeFailed:
		log.Info("chunk attempt failed", attrs...)
	case fanout.OutcomeLeaseLost:
		log.Info("chunk attempt ended: lease lost", attrs...)
	default:
		log.Info("chunk "+ev.Outcome, attrs...)
	}
}
