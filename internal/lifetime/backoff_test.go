package lifetime

import (
	"testing"
	"time"
)

func TestBackoffDoublesToCapWithJitter(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 30 * time.Second}
	for i, base := range []time.Duration{1, 2, 4, 8, 16, 30, 30, 30} {
		base *= time.Second
		got := b.Next()
		if lo, hi := base*8/10, base*12/10; got < lo || got > hi {
			t.Fatalf("attempt %d: wait %s, want %s ±20%%", i, got, base)
		}
	}
	b.Reset()
	if got := b.Next(); got > 1200*time.Millisecond {
		t.Fatalf("after Reset: %s, want about 1s", got)
	}
}
