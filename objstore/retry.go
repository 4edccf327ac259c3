package objstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy says which errors Retry retries and how long it waits.
// The zero value retries nothing; DefaultRetryPolicy returns the settings
// the S3 backends use.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first included;
	// zero means 8.
	MaxAttempts int
	// BaseDelay is the wait before the second attempt; each later wait
	// doubles, up to MaxDelay. Zero means 100 ms.
	BaseDelay time.Duration
	// MaxDelay caps one wait. Zero means 10 s.
	MaxDelay time.Duration
	// Retryable reports whether err is transient (throttling, 5xx,
	// connection reset). Nil retries nothing. Retry never retries
	// ErrNotFound, ErrPrecondition, ErrInvalidKey or ctx's own error,
	// whatever Retryable says.
	Retryable func(error) bool
}

// DefaultRetryPolicy returns the policy the S3 backends use: 8 attempts,
// waits from 100 ms doubling to at most 10 s (about 25 s in all before the
// jitter), retrying what retryable accepts.
func DefaultRetryPolicy(retryable func(error) bool) RetryPolicy {
	return RetryPolicy{MaxAttempts: 8, BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second, Retryable: retryable}
}

// Retry calls op until it succeeds, returns an error p does not retry, or
// p.MaxAttempts attempts have failed; it returns op's last error. Waits are
// exponential with "equal jitter" (a random wait between half and all of the
// exponential step) so that many workers throttled together do not retry in
// lockstep. When ctx ends during a wait, Retry returns ctx's error joined
// with op's last error.
func Retry(ctx context.Context, op func(ctx context.Context) error, p RetryPolicy) error {
	maxAttempts := p.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 8
	}
	base, maxDelay := p.BaseDelay, p.MaxDelay
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 10 * time.Second
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return fmt.Errorf("%w (after %d attempts; last error: %w)", ctx.Err(), attempt, err)
		}
		if err == nil || attempt >= maxAttempts || !retryable(ctx, err, p.Retryable) {
			return err
		}
		step := maxDelay
		if shift := attempt - 1; shift < 30 && base<<shift < maxDelay {
			step = base << shift
		}
		wait := step/2 + rand.N(step/2+1)
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %d attempts; last error: %w)", ctx.Err(), attempt, err)
		case <-timer.C:
		}
	}
}

func retryable(ctx context.Context, err error, f func(error) bool) bool {
	switch {
	case f == nil, ctx.Err() != nil,
		errors.Is(err, ErrNotFound), errors.Is(err, ErrPrecondition), errors.Is(err, ErrInvalidKey),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return f(err)
}
