package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// superviseRun is prestart -supervise around a sleeping app, logged in
// with role "renew", whose token lives 1 second: Vault's shortest TTL, so
// prestart renews it about every 0.7 s (two thirds of the TTL plus
// jitter, as api.LifetimeWatcher does). It runs in the background for the
// whole benchmark; its renewals are one small request each.
type superviseRun struct {
	cmd        *exec.Cmd
	metricsURL string
	logPath    string
	started    time.Time
	rssStart   int // kB, once settled after the start

	// Written by watch until done is closed.
	done     chan struct{}
	err      error
	current  atomic.Int64 // renewals so far, for progress
	samples  []rssSample  // at each quarter of the renewals
	hwmEnd   int          // peak RSS, kB
	failures int64        // failed renewals and logins
	relogins int64
}

// rssSample is prestart's resident set size after some renewals.
type rssSample struct {
	renewals int64
	rss      int // kB
	at       time.Duration
}

func startSupervise(b *binaries, v *vaultLab, n int64) (*superviseRun, error) {
	w, err := v.mint("renew", true)
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &superviseRun{metricsURL: "http://" + addr + "/metrics", done: make(chan struct{})}
	s.cmd = exec.Command(b.prestart, "-supervise", "-role", "renew", "-poll", "0", "-metrics-addr", addr,
		"-secret", "DB_PASSWORD=vault://secret/app/db#password", "--", "/bin/sleep", "3600")
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "VAULT_ADDR=" + v.addr, "VAULT_ROLE_ID=" + v.renewRoleID, "VAULT_WRAPPED_SECRET_ID=" + w}
	s.logPath = filepath.Join(v.dir, "supervise.log")
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	s.cmd.Stderr = logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.started = time.Now()
	// Settled: logged in, read, app started, first renewal done.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := s.tokenRenewals()
		if err == nil && n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("prestart -supervise did not renew its token within 30s: %v: %s", err, s.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s.rssStart, _, err = s.rss(); err != nil {
		s.stop()
		return nil, err
	}
	go s.watch(n)
	return s, nil
}

// watch follows the renewals until there are n, reading prestart's memory
// at each quarter of them, then its counters of failures and new logins.
// A renewal takes about 0.7 s; it gives up at 1.5 s per renewal and a
// minute more.
func (s *superviseRun) watch(n int64) {
	defer close(s.done)
	deadline := s.started.Add(time.Duration(n)*1500*time.Millisecond + time.Minute)
	next := int64(1)
	for {
		got, err := s.tokenRenewals()
		if err != nil {
			s.err = fmt.Errorf("metrics: %w: %s", err, s.log())
			return
		}
		s.current.Store(got)
		for next <= 4 && got >= next*n/4 {
			rss, hwm, err := s.rss()
			if err != nil {
				s.err = err
				return
			}
			s.samples = append(s.samples, rssSample{got, rss, time.Since(s.started)})
			s.hwmEnd = hwm
			next++
		}
		if next > 4 {
			break
		}
		if time.Now().After(deadline) {
			s.err = fmt.Errorf("only %d of %d token renewals after %s", got, n, time.Since(s.started).Round(time.Second))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	m, err := s.metrics()
	if err != nil {
		s.err = err
		return
	}
	s.failures, s.relogins = m["keyturn_renewal_failures_total"], m["keyturn_relogins_total"]
}

// finish waits for watch and stops prestart.
func (s *superviseRun) finish(n int64, progress func(string)) error {
	defer s.stop()
	for {
		select {
		case <-s.done:
			return s.err
		case <-time.After(30 * time.Second):
			progress(fmt.Sprintf("supervise: %d of %d token renewals", s.current.Load(), n))
		}
	}
}

func (s *superviseRun) stop() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	}
}

// log returns what prestart wrote on stderr.
func (s *superviseRun) log() string {
	b, _ := os.ReadFile(s.logPath)
	return strings.TrimSpace(string(b))
}

// tokenRenewals reads prestart's own counter of successful renewals.
func (s *superviseRun) tokenRenewals() (int64, error) {
	m, err := s.metrics()
	if err != nil {
		return 0, err
	}
	n, ok := m["keyturn_token_renewals_total"]
	if !ok {
		return 0, errors.New("no keyturn_token_renewals_total")
	}
	return n, nil
}

// metrics reads prestart's Prometheus counters and gauges.
func (s *superviseRun) metrics() (map[string]int64, error) {
	resp, err := http.Get(s.metricsURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			m[name] = n
		}
	}
	return m, sc.Err()
}

// rss returns prestart's resident and peak resident set size in kB.
func (s *superviseRun) rss() (rss, hwm int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, fmt.Errorf("prestart exited early: %s", s.log())
	}
	for _, line := range strings.Split(string(b), "\n") {
		for prefix, dst := range map[string]*int{"VmRSS:": &rss, "VmHWM:": &hwm} {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				if f := strings.Fields(v); len(f) > 0 {
					*dst, _ = strconv.Atoi(f[0])
				}
			}
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in /proc/PID/status")
	}
	return rss, hwm, nil
}
