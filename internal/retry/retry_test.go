package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errTemp = errors.New("temporary")
var errPerm = errors.New("permanent")

func isTemp(err error) bool { return errors.Is(err, errTemp) }

func TestRetriesUntilSuccess(t *testing.T) {
	n := 0
	err := Do(context.Background(), Policy{Timeout: 5 * time.Second, Initial: time.Millisecond, Retryable: isTemp}, func(context.Context) error {
		n++
		if n < 4 {
			return errTemp
		}
		return nil
	})
	if err != nil || n != 4 {
		t.Fatalf("err=%v after %d attempts, want success on the 4th", err, n)
	}
}

func TestPermanentStopsAtOnce(t *testing.T) {
	n := 0
	err := Do(context.Background(), Policy{Timeout: 5 * time.Second, Retryable: isTemp}, func(context.Context) error {
		n++
		return errPerm
	})
	if !errors.Is(err, errPerm) || n != 1 {
		t.Fatalf("err=%v n=%d", err, n)
	}
}

func TestGivesUpAtDeadlineWithBackoffCapped(t *testing.T) {
	var waits []time.Duration
	start := time.Now()
	err := Do(context.Background(), Policy{
		Timeout: 300 * time.Millisecond, Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Retryable: isTemp,
		OnRetry: func(_ int, _ error, w time.Duration) { waits = append(waits, w) },
	}, func(context.Context) error { return errTemp })
	el := time.Since(start)
	if !errors.Is(err, errTemp) {
		t.Fatalf("err=%v", err)
	}
	if el < 300*time.Millisecond || el > 2*time.Second {
		t.Fatalf("gave up after %s, want about 300ms", el)
	}
	for _, w := range waits {
		if w <= 0 || w > 40*time.Millisecond {
			t.Fatalf("wait %s outside (0, 40ms]", w)
		}
	}
	if len(waits) < 7 {
		t.Fatalf("only %d retries in 300ms with a 40ms cap", len(waits))
	}
}

func TestContextCancelStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Do(ctx, Policy{Timeout: time.Minute, Initial: 20 * time.Millisecond, Retryable: isTemp}, func(context.Context) error { return errTemp })
	if !errors.Is(err, errTemp) || time.Since(start) > 2*time.Second {
		t.Fatalf("err=%v after %s", err, time.Since(start))
	}
}
