package main

import (
	"testing"
	"time"
)

// The ledger counts failures and deaths of the token outside the cut
// windows (each extended by settle) as missed, and nothing inside them.
func TestLedgerCountsOnlyOutsideTheCuts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	l := &ledger{settle: 10 * time.Second, windows: []*window{{start: at(20), end: at(30)}}}
	type state struct {
		sec                       int
		renewals, failures, reads float64
		degraded, expiry          float64
	}
	for _, st := range []state{
		{sec: 0, renewals: 1, expiry: 3},
		{sec: 10, renewals: 5, expiry: 2},
		// In the cut: failures, a dead token, failed re-reads.
		{sec: 21, renewals: 5, failures: 2, reads: 1, expiry: 0},
		{sec: 25, renewals: 5, failures: 3, reads: 2, degraded: 1, expiry: 0},
		// Within settle after the cut: still the cut's.
		{sec: 35, renewals: 6, failures: 4, reads: 3, expiry: 3},
		// Outside: one failed renewal, one failed re-read.
		{sec: 45, renewals: 8, failures: 5, reads: 4, expiry: 2},
		// Outside: the token dead for two samples in a row, counted once.
		{sec: 50, renewals: 8, failures: 5, reads: 4, expiry: 0},
		{sec: 51, renewals: 8, failures: 5, reads: 4, expiry: 0},
		{sec: 52, renewals: 8, failures: 5, reads: 4, degraded: 1, expiry: 0},
		{sec: 60, renewals: 9, failures: 5, reads: 4, expiry: 3},
	} {
		l.add(sample{at: at(st.sec), m: map[string]float64{
			"keyturn_token_renewals_total":       st.renewals,
			"keyturn_renewal_failures_total":     st.failures,
			"keyturn_secret_read_failures_total": st.reads,
			"keyturn_degraded":                   st.degraded,
			"keyturn_token_expiry_seconds":       st.expiry,
		}})
	}
	if l.missed != 2 || l.readFailures != 1 {
		t.Fatalf("missed %d, read failures %d, want 2 (one failure, one death) and 1; notes %q", l.missed, l.readFailures, l.notes)
	}
	if got := l.windows[0].recovered; !got.Equal(at(35)) {
		t.Fatalf("recovered at %v, want the first renewal after the cut, at 35s", got)
	}
}

// A cut after which the token is not renewed within settle is a miss,
// also when the next cut's window hides the dead token.
func TestLedgerCountsSlowRecovery(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	l := &ledger{settle: 30 * time.Second, windows: []*window{
		{start: at(0), end: at(20), recovered: at(45)},
		{start: at(60), end: at(80), recovered: at(150)},
		{start: at(180), end: at(200)},
	}}
	l.finish(at(240))
	if l.missed != 2 || len(l.notes) != 2 {
		t.Fatalf("missed %d (%q), want the second cut (70s to recover) and the third (none in 40s)", l.missed, l.notes)
	}
}

// The floors of the first and the last minute ignore what comes and goes
// and show what stays.
func TestFloorsShowALeakNotATransient(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var samples []sample
	for i := 0; i < 180; i++ {
		g := 14
		if i%10 == 0 {
			g = 18 // a connection open for a moment
		}
		if i >= 120 {
			g += 3 // three goroutines that never end
		}
		samples = append(samples, sample{at: t0.Add(time.Duration(i) * time.Second), m: map[string]float64{"go_goroutines": float64(g)}, threads: 10, fds: 12, rssKB: 15000 + i%7})
	}
	early, late := floor(within(samples, 0, time.Minute)), floor(within(samples, -time.Minute, 0))
	if early.goroutines != 14 || late.goroutines != 17 {
		t.Fatalf("goroutine floors %d and %d, want 14 and 17", early.goroutines, late.goroutines)
	}
	if early.rssKB != 15000 || late.rssKB != 15000 || early.fds != 12 || late.threads != 10 {
		t.Fatalf("floors %+v and %+v", early, late)
	}
	if n := len(within(samples, -time.Minute, 0)); n != 60 {
		t.Fatalf("the last minute holds %d samples, want 60", n)
	}
}
