package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/objstore"
)

var errTransient = errors.New("transient")

func fastPolicy() objstore.RetryPolicy {
	return objstore.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond,
		Retryable: func(err error) bool { return errors.Is(err, errTransient) }}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name         string
		errs         []error // returned by successive attempts; nil after the end
		wantAttempts int
		wantErr      error
	}{
		{"success", nil, 1, nil},
		{"transient then success", []error{errTransient, errTransient}, 3, nil},
		{"permanent", []error{errors.New("permanent")}, 1, nil},
		{"not found is never retried", []error{fmt.Errorf("%w: %w", objstore.ErrNotFound, errTransient)}, 1, objstore.ErrNotFound},
		{"precondition is never retried", []error{fmt.Errorf("%w: %w", objstore.ErrPrecondition, errTransient)}, 1, objstore.ErrPrecondition},
		{"gives up after MaxAttempts", []error{errTransient, errTransient, errTransient, errTransient, errTransient, errTransient}, 5, errTransient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attempts := 0
			err := objstore.Retry(context.Background(), func(ctx context.Context) error {
				attempts++
				if attempts <= len(tc.errs) {
					return tc.errs[attempts-1]
				}
				return nil
			}, fastPolicy())
			if attempts != tc.wantAttempts {
				t.Errorf("got %d attempts, want %d", attempts, tc.wantAttempts)
			}
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("got error %v, want %v", err, tc.wantErr)
			case tc.wantErr == nil && len(tc.errs) == 0 && err != nil:
				t.Errorf("got error %v, want nil", err)
			}
		})
	}
}

func TestRetryNilRetryableRetriesNothing(t *testing.T) {
	attempts := 0
	objstore.Retry(context.Background(), func(ctx context.Context) error { attempts++; return errTransient }, objstore.RetryPolicy{})
	if attempts != 1 {
		t.Fatalf("got %d attempts, want 1", attempts)
	}
}

func TestRetryHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := fastPolicy()
	p.BaseDelay, p.MaxDelay, p.MaxAttempts = time.Hour, time.Hour, 3
	attempts := 0
	done := make(chan error)
	go func() {
		done <- objstore.Retry(ctx, func(ctx context.Context) error { attempts++; return errTransient }, p)
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errTransient) {
			t.Fatalf("got error %v, want context.Canceled joined with the last error", err)
		}
		if attempts != 1 {
			t.Fatalf("got %d attempts, want 1", attempts)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Retry did not return after its context was cancelled")
	}
}

func TestRetryBackoffIsCapped(t *testing.T) {
	p := fastPolicy()
	p.MaxAttempts, p.BaseDelay, p.MaxDelay = 40, time.Microsecond, 2*time.Millisecond
	start := time.Now()
	objstore.Retry(context.Background(), func(ctx context.Context) error { return errTransient }, p)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("40 attempts capped at 2 ms each took %v", d)
	}
}

func TestBackoffStep(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		base, max time.Duration
		n         int
		step      time.Duration // the exponential step; waits lie in [step/2, step)
	}{
		{100 * ms, 10 * time.Second, 1, 100 * ms},
		{100 * ms, 10 * time.Second, 2, 200 * ms},
		{100 * ms, 10 * time.Second, 4, 800 * ms},
		{100 * ms, 10 * time.Second, 8, 10 * time.Second},
		{100 * ms, 10 * time.Second, 1000, 10 * time.Second},
		{1, 30 * time.Second, 40, 30 * time.Second},
		{time.Second, math.MaxInt64, 80, math.MaxInt64},
		{0, time.Second, 5, 0},
		{time.Second, time.Second, 3, time.Second},
	}
	for _, tt := range tests {
		lo := objstore.BackoffStep(tt.base, tt.max, tt.n, 0)
		hi := objstore.BackoffStep(tt.base, tt.max, tt.n, math.Nextafter(1, 0))
		if lo != tt.step/2 || hi < lo || hi > tt.step {
			t.Errorf("BackoffStep(%v, %v, %d) spans [%v, %v], want [%v, %v]", tt.base, tt.max, tt.n, lo, hi, tt.step/2, tt.step)
		}
	}
}

func TestBackoffResetsAndHonoursContext(t *testing.T) {
	b := objstore.Backoff{Base: time.Millisecond, Max: 4 * time.Millisecond, Rand: func() float64 { return 0 }}
	var got []time.Duration
	for range 4 {
		got = append(got, b.Next())
	}
	b.Reset()
	got = append(got, b.Next())
	want := []time.Duration{time.Millisecond / 2, time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond, time.Millisecond / 2}
	if !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	long := objstore.Backoff{Base: time.Hour, Max: time.Hour}
	if err := long.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a cancelled context = %v, want context.Canceled", err)
	}
}

var errThrottled = fmt.Errorf("503 SlowDown: %w", errTransient)

// TestRetryGivesThrottlingMoreAttempts: a request the store keeps asking
// to slow down is retried up to ThrottledAttempts, past MaxAttempts; any
// other transient error stops at MaxAttempts, and so does throttling
// without a Throttled classifier.
func TestRetryGivesThrottlingMoreAttempts(t *testing.T) {
	throttledPolicy := func() objstore.RetryPolicy {
		p := fastPolicy()
		p.Throttled = func(err error) bool { return errors.Is(err, errThrottled) }
		p.ThrottledAttempts = 9
		return p
	}
	tests := []struct {
		name   string
		policy objstore.RetryPolicy
		err    error // every attempt's
		failAt int   // attempts that fail before success; 0: all fail
		want   int
	}{
		{"throttled forever stops at ThrottledAttempts", throttledPolicy(), errThrottled, 0, 9},
		{"throttled 7 times then served", throttledPolicy(), errThrottled, 7, 8},
		{"other transient errors stop at MaxAttempts", throttledPolicy(), errTransient, 0, 5},
		{"no classifier: MaxAttempts", fastPolicy(), errThrottled, 0, 5},
		{"ThrottledAttempts below MaxAttempts changes nothing", func() objstore.RetryPolicy {
			p := throttledPolicy()
			p.ThrottledAttempts = 2
			return p
		}(), errThrottled, 0, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attempts := 0
			err := objstore.Retry(context.Background(), func(ctx context.Context) error {
				attempts++
				if tc.failAt == 0 || attempts <= tc.failAt {
					return tc.err
				}
				return nil
			}, tc.policy)
			if attempts != tc.want {
				t.Errorf("got %d attempts, want %d", attempts, tc.want)
			}
			if gotErr, wantErr := err != nil, tc.failAt == 0; gotErr != wantErr {
				t.Errorf("got error %v, want an error: %v", err, wantErr)
			}
		})
	}
	if p := objstore.DefaultRetryPolicy(nil, nil); p.ThrottledAttempts <= p.MaxAttempts {
		t.Errorf("DefaultRetryPolicy gives throttling %d attempts, no more than the %d of any error", p.ThrottledAttempts, p.MaxAttempts)
	}
}
