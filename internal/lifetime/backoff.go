package lifetime

import (
	"math/rand/v2"
	"time"
)

// Backoff spaces out the retries of one kind of failure: exponential,
// capped, with ±20% jitter so that many supervisors that lost the same
// Vault do not come back to it in lock step.
type Backoff struct {
	Initial, Max time.Duration
	cur          time.Duration
}

// Next returns the wait before the next attempt and doubles the base.
func (b *Backoff) Next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.Initial
	default:
		b.cur = min(b.cur*2, b.Max)
	}
	j := float64(b.cur) * (0.8 + 0.4*rand.Float64())
	return time.Duration(j)
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.cur = 0 }
