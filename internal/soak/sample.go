package main

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// sample is one look at the supervising prestart: its metrics (goroutines
// among them) and what /proc says about it (threads, files, memory).
type sample struct {
	at      time.Time
	m       map[string]float64
	threads int
	fds     int
	rssKB   int
}

func (s sample) get(name string) float64 { return s.m[name] }

// resources are what must stay flat.
type resources struct{ goroutines, threads, fds, rssKB int }

// floor is the lowest of each resource over samples. Comparing the floor
// of the first minute after the warm-up with that of the last minute
// shows a leak, which raises the floor, and not what comes and goes: a
// pooled HTTP connection is two goroutines and a file, and the heap is
// a sawtooth between collections.
func floor(samples []sample) resources {
	if len(samples) == 0 {
		return resources{}
	}
	r := resources{math.MaxInt, math.MaxInt, math.MaxInt, math.MaxInt}
	for _, s := range samples {
		r.goroutines = min(r.goroutines, int(s.get("go_goroutines")))
		r.threads = min(r.threads, s.threads)
		r.fds = min(r.fds, s.fds)
		r.rssKB = min(r.rssKB, s.rssKB)
	}
	return r
}

// scrape reads prestart's /metrics and /proc/PID.
func scrape(client *http.Client, url string, pid int) (sample, error) {
	s := sample{at: time.Now(), m: map[string]float64{}}
	resp, err := client.Get(url)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			s.m[f[0]] = v
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			s.rssKB, _ = strconv.Atoi(f[0])
		case "Threads":
			s.threads, _ = strconv.Atoi(f[0])
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	return s, nil
}

// window is one cut of Vault, from start to end; recovered is when the
// token was renewed again after it, zero until then.
type window struct {
	start, end, recovered time.Time
}

// ledger classifies the samples of a run against the cut windows.
//
// A missed renewal is a token renewal or login that failed outside a cut
// window, the token found dead (keyturn_degraded 1, or
// keyturn_token_expiry_seconds 0 in two samples in a row: a token at its
// max TTL shows 0 for a moment before the new login) outside a cut window,
// or a cut after which the token was not renewed within settle (windows
// may overlap the next cut, which would hide such a death).
// A window lasts from the cut's start until settle after its end: the
// time prestart may take to notice that Vault is back (a request in flight
// until the client's timeout, then the login backoff).
type ledger struct {
	settle  time.Duration
	windows []*window
	prev    *sample
	// missed counts the failures and the deaths outside the windows;
	// readFailures the failed re-reads outside them.
	missed, readFailures int
	// dead is set while a death outside the windows has been counted.
	dead  bool
	notes []string
}

func (l *ledger) inWindow(t time.Time) bool {
	for _, w := range l.windows {
		end := w.end
		if end.IsZero() {
			return true // the cut is on
		}
		if !t.Before(w.start) && !t.After(end.Add(l.settle)) {
			return true
		}
	}
	return false
}

func (l *ledger) add(s sample) {
	defer func() { l.prev = &s }()
	for _, w := range l.windows {
		if !w.end.IsZero() && w.recovered.IsZero() && s.at.After(w.end) &&
			l.prev != nil && s.get("keyturn_token_renewals_total") > l.prev.get("keyturn_token_renewals_total") &&
			s.get("keyturn_degraded") == 0 {
			w.recovered = s.at
		}
	}
	if l.prev == nil {
		return
	}
	// Strict: a change first seen outside a window counts, even if it may
	// have happened in the second before the window closed.
	outside := !l.inWindow(s.at)
	if d := s.get("keyturn_renewal_failures_total") - l.prev.get("keyturn_renewal_failures_total"); d > 0 && outside {
		l.missed += int(d)
		l.notes = append(l.notes, fmt.Sprintf("%s: %v failed renewals or logins outside a cut", s.at.Format(time.TimeOnly), d))
	}
	if d := s.get("keyturn_secret_read_failures_total") - l.prev.get("keyturn_secret_read_failures_total"); d > 0 && outside {
		l.readFailures += int(d)
	}
	dead := s.get("keyturn_degraded") == 1 ||
		(s.get("keyturn_token_expiry_seconds") == 0 && l.prev.get("keyturn_token_expiry_seconds") == 0)
	// Counted once per death, also when one that began in a cut outlasts
	// the window.
	if dead && outside && !l.dead {
		l.missed++
		l.dead = true
		l.notes = append(l.notes, fmt.Sprintf("%s: the token was dead outside a cut", s.at.Format(time.TimeOnly)))
	}
	if !dead {
		l.dead = false
	}
}

// finish counts the cuts that did not recover within settle, as of t.
func (l *ledger) finish(t time.Time) {
	for i, w := range l.windows {
		switch {
		case w.end.IsZero():
		case w.recovered.IsZero() && t.Sub(w.end) > l.settle:
			l.missed++
			l.notes = append(l.notes, fmt.Sprintf("cut %d: no renewal in the %s after it", i+1, t.Sub(w.end).Round(time.Second)))
		case !w.recovered.IsZero() && w.recovered.Sub(w.end) > l.settle:
			l.missed++
			l.notes = append(l.notes, fmt.Sprintf("cut %d: renewing again only %s after it, more than %s", i+1, w.recovered.Sub(w.end).Round(time.Second), l.settle))
		}
	}
}
