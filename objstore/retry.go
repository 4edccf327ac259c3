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
	// Throttled reports whether err is the store asking the client to
	// slow down (S3's 503 SlowDown, 429): such a failure may be retried up
	// to ThrottledAttempts in all, where MaxAttempts would stop. Failing
	// the request would make the caller (a queue's chunk, a commit) start
	// again from further back, sending more requests to the same busy
	// prefix; waiting longer, at MaxDelay a wait, is what the store asks.
	// Nil, or a ThrottledAttempts not above MaxAttempts, gives throttling
	// no more attempts than any transient error. Throttled errors must be
	// Retryable too to be retried at all.
	Throttled         func(error) bool
	ThrottledAttempts int
}

// DefaultRetryPolicy returns the policy the S3 backends use: 8 attempts,
// waits from 100 ms doubling to at most 10 s (about 25 s in all before the
// jitter), retrying what retryable accepts; a failure throttled accepts
// (S3's SlowDown) gets DefaultThrottledAttempts (about 50 s of waits in
// all before the jitter, 40 s on average with it).
func DefaultRetryPolicy(retryable, throttled func(error) bool) RetryPolicy {
	return RetryPolicy{MaxAttempts: 8, BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second,
		Retryable: retryable, Throttled: throttled, ThrottledAttempts: DefaultThrottledAttempts}
}

// DefaultThrottledAttempts is DefaultRetryPolicy's ThrottledAttempts. The
// scale simulation (docs/scale.md) at a million chunks on 1,000 workers
// saw 9 of 7.7 million requests refused through 8 attempts while S3's
// partitions split.
const DefaultThrottledAttempts = 12

// Retry calls op until it succeeds, returns an error p does not retry, or
// p.MaxAttempts attempts have failed; it returns op's last error. Waits are
// BackoffStep's: exponential with "equal jitter" (a random wait between half
// and all of the exponential step) so that many workers throttled together
// do not retry in lockstep. When ctx ends during a wait, Retry returns
// ctx's error joined with op's last error.
func Retry(ctx context.Context, op func(ctx context.Context) error, p RetryPolicy) error {
	maxAttempts := p.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 8
	}
	backoff := Backoff{Base: p.BaseDelay, Max: p.MaxDelay}
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
		if err == nil || !retryable(ctx, err, p.Retryable) {
			return err
		}
		if attempt >= maxAttempts && (attempt >= p.ThrottledAttempts || p.Throttled == nil || !p.Throttled(err)) {
			return err
		}
		wait := backoff.Next()
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

// BackoffStep returns the wait after the nth failure in a row (n from 1) of
// capped exponential backoff with "equal jitter": step is base·2^(n-1),
// capped at maxStep, and the wait lies in [step/2, step), u in [0, 1) saying
// where. It is the project's one backoff formula: Retry, Backoff, the
// in-memory queue's retry delay (and, in Lua, the Redis queue's) use it.
func BackoffStep(base, maxStep time.Duration, n int, u float64) time.Duration {
	step := max(min(base, maxStep), 0)
	for i := 1; i < n && step > 0 && step < maxStep; i++ {
		if step > maxStep/2 {
			step = maxStep // doubling would pass the cap (or overflow)
		} else {
			step *= 2
		}
	}
	return step/2 + time.Duration(u*float64(step-step/2))
}

// Backoff paces a loop that retries by itself (reconnecting, re-invoking)
// with BackoffStep's waits. The zero value waits from 100 ms doubling to
// at most 10 s. A Backoff is not safe for concurrent use.
type Backoff struct {
	// Base is the first wait's step; zero means 100 ms.
	Base time.Duration
	// Max caps a step; zero means 10 s.
	Max time.Duration
	// Rand draws the jitter in [0, 1); nil means math/rand/v2's.
	Rand func() float64
	n    int
}

// Next returns the wait after one more failure in a row.
func (b *Backoff) Next() time.Duration {
	base, maxStep, u := b.Base, b.Max, rand.Float64
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if maxStep <= 0 {
		maxStep = 10 * time.Second
	}
	if b.Rand != nil {
		u = b.Rand
	}
	b.n++
	return BackoffStep(base, maxStep, b.n, u())
}

// Reset starts again from Base after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Wait waits Next() or until ctx ends, and then returns ctx's error.
func (b *Backoff) Wait(ctx context.Context) error {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
