package lifetime

import (
	"math/rand/v2"
	"time"
)

// backoff spaces out the retries of one kind of failure: exponential,
// capped, with ±20% jitter so that many supervisors that lost the same
// Vault do not come back to it in lock step.
type backoff struct {
	initial, max time.Duration
	cur          time.Duration
}

// next returns the wait before the next attempt and doubles the base.
func (b *backoff) next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.initial
	default:
		b.cur = min(b.cur*2, b.max)
	}
	j := float64(b.cur) * (0.8 + 0.4*rand.Float64())
	return time.Duration(j)
}

// reset starts over after a success.
func (b *backoff) reset() { b.cur = 0 }
