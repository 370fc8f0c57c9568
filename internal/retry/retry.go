// Package retry repeats an operation while its failure is temporary, with
// capped exponential backoff and full jitter, until a deadline. Jitter
// matters here: many containers started by one deploy must not hammer a
// Vault that has just come back in lock step.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// ErrUnavailable is the one marker of a temporary failure: Vault sealed,
// standing by or unreachable, S3 or KMS unreachable or throttling. Every
// backend's "unavailable" error matches it with errors.Is, so callers retry
// and map exit code 4 without knowing which backend failed.
var ErrUnavailable = errors.New("backend unavailable")

// Unavailable reports whether err is marked temporary, for use as
// Policy.Retryable.
func Unavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// Policy bounds the retries.
type Policy struct {
	Timeout time.Duration // total time allowed; 0 means one attempt
	Initial time.Duration // first backoff (default 100ms)
	Max     time.Duration // backoff cap (default 5s)
	// Retryable says whether an error is temporary.
	Retryable func(error) bool
	// OnRetry is told about every temporary failure before the wait.
	OnRetry func(attempt int, err error, wait time.Duration)
}

// Do runs fn until it succeeds, fails permanently, or the policy's time is
// up; it then returns fn's last error.
func Do(ctx context.Context, p Policy, fn func(context.Context) error) error {
	initial, max := p.Initial, p.Max
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if max <= 0 {
		max = 5 * time.Second
	}
	deadline := time.Now().Add(p.Timeout)
	backoff := initial
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || p.Retryable == nil || !p.Retryable(err) {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		wait := time.Duration(rand.Int64N(int64(backoff)) + 1)
		if wait > left {
			wait = left
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff *= 2
		if backoff > max {
			backoff = max
		}
	}
}
