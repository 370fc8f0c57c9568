package main

import (
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/faultproxy"
)

// Faults while prestart supervises an app on a 3s token (reusable secret
// ID, -poll 500ms). prestart's HTTP client gives up on a request after
// VAULT_CLIENT_TIMEOUT (60s unless set, as for the Vault CLI): the tests
// set 3s so that a request lost in a blackhole fails within the token's
// TTL, as a deployment on short tokens must.
const clientTimeout = "VAULT_CLIENT_TIMEOUT=3s"

// cutLongerThanTheToken cuts Vault off with cut until prestart's token
// has expired, for 8s in all, then restores the connection and waits for a
// new login and renewals of the new token. The app runs on throughout,
// never restarted, with its first value.
func cutLongerThanTheToken(t *testing.T, cut func(b *bed)) {
	b := newBed(t)
	s := b.supervise([]string{clientTimeout})
	relogins := s.metric("keyturn_relogins_total")
	cut(b)
	cutAt := time.Now()
	// The gauge counts down from the last renewal: 0 once the token is
	// dead.
	deadline := cutAt.Add(15 * time.Second)
	for s.metric("keyturn_token_expiry_seconds") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the token still lives %s after the cut", time.Since(cutAt))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("token expired %s after the cut", time.Since(cutAt).Round(time.Millisecond))
	time.Sleep(time.Until(cutAt.Add(8 * time.Second)))
	// A blackhole holds requests until the client's timeout, and the
	// renewals, logins and re-reads take turns: which failure is counted
	// first varies, that one is, not.
	failed := s.metric("keyturn_renewal_failures_total") + s.metric("keyturn_secret_read_failures_total")
	t.Logf("during the cut: degraded %v, %v failed renewals and logins, %v failed re-reads", s.metric("keyturn_degraded"),
		s.metric("keyturn_renewal_failures_total"), s.metric("keyturn_secret_read_failures_total"))
	if failed < 1 {
		t.Error("no failed renewal, login or re-read counted during the cut")
	}
	s.keptRunning()
	b.proxy.Pass()
	passAt := time.Now()
	s.waitMetric("keyturn_relogins_total", relogins+1, 45*time.Second)
	renewals := s.metric("keyturn_token_renewals_total")
	s.waitMetric("keyturn_token_renewals_total", renewals+1, 10*time.Second)
	t.Logf("logged in and renewed %s after the connection came back", time.Since(passAt).Round(time.Millisecond))
	if d := s.metric("keyturn_degraded"); d != 0 {
		t.Errorf("degraded %v after the new login", d)
	}
	s.keptRunning()
	if code := s.stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want the app's 0", code)
	}
}

// Every connection reset, open ones included, for longer than the token
// lives.
func TestFaultResetWhileSupervising(t *testing.T) {
	t.Parallel()
	cutLongerThanTheToken(t, func(b *bed) { b.proxy.Reset() })
}

// Nothing passes and nothing is closed, for longer than the token lives:
// the request in flight hangs until the client's timeout.
func TestFaultBlackholeWhileSupervising(t *testing.T) {
	t.Parallel()
	cutLongerThanTheToken(t, func(b *bed) { b.proxy.Blackhole() })
}

// faultWithoutLoss keeps a fault on for 8s (almost three token TTLs) and
// checks that prestart rides it out: renewals go on, none fails, the token
// is never lost (no new login, never degraded), the app keeps its value.
func faultWithoutLoss(t *testing.T, fault func(b *bed)) {
	b := newBed(t)
	s := b.supervise([]string{clientTimeout})
	renewals := s.metric("keyturn_token_renewals_total")
	relogins := s.metric("keyturn_relogins_total")
	failures := s.metric("keyturn_renewal_failures_total")
	fault(b)
	end := time.Now().Add(8 * time.Second)
	for time.Now().Before(end) {
		if d := s.metric("keyturn_degraded"); d != 0 {
			t.Fatalf("degraded %v during the fault, want the token kept alive", d)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := s.metric("keyturn_token_renewals_total") - renewals
	t.Logf("%v renewals during the fault, %v failed re-reads of %v", got,
		s.metric("keyturn_secret_read_failures_total"), s.metric("keyturn_secret_reads_total"))
	if got < 2 {
		t.Errorf("%v renewals in 8s of the fault, want the 3s token renewed throughout", got)
	}
	if n := s.metric("keyturn_relogins_total") - relogins; n != 0 {
		t.Errorf("%v new logins: the token was lost", n)
	}
	if n := s.metric("keyturn_renewal_failures_total") - failures; n != 0 {
		t.Errorf("%v renewal failures", n)
	}
	b.proxy.Pass()
	s.keptRunning()
	if code := s.stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want the app's 0", code)
	}
}

// 100ms on every chunk, either way: a request takes a third of a second.
// (The token's margin is about a quarter of its TTL: the renewal watcher
// schedules the next renewal from the answer's arrival, so answers slower
// than that let a short token expire between renewals; prestart then
// logs in again.)
func TestFaultLatencyWhileSupervising(t *testing.T) {
	t.Parallel()
	faultWithoutLoss(t, func(b *bed) { b.proxy.Delay(0, 100*time.Millisecond) })
}

// Answers trickle in, 256 bytes every 100ms.
func TestFaultSlowBodyWhileSupervising(t *testing.T) {
	t.Parallel()
	faultWithoutLoss(t, func(b *bed) { b.proxy.SlowBody(256, 100*time.Millisecond) })
}

// A burst of 503s (a standby without forwarding, a load balancer in
// trouble): the failed renewals and re-reads are retried, the token is
// never lost, and no restart reaches the app.
func TestFault5xxBurstWhileSupervising(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	s := b.supervise([]string{clientTimeout})
	failures := s.metric("keyturn_secret_read_failures_total") + s.metric("keyturn_renewal_failures_total")
	if err := b.proxy.FailNext(6, 503); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for b.proxy.FailPending() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the 503s still pending", b.proxy.FailPending())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := s.metric("keyturn_secret_read_failures_total") + s.metric("keyturn_renewal_failures_total"); got <= failures {
		t.Fatal("no failed re-read or renewal counted for the burst")
	}
	renewals := s.metric("keyturn_token_renewals_total")
	reads := s.metric("keyturn_secret_reads_total")
	s.waitMetric("keyturn_token_renewals_total", renewals+2, 10*time.Second)
	s.waitMetric("keyturn_secret_reads_total", reads+2, 10*time.Second)
	if d := s.metric("keyturn_degraded"); d != 0 {
		t.Errorf("degraded %v after the burst", d)
	}
	s.keptRunning()
	if code := s.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// Faults present when the container starts (exec mode): a fault that ends,
// or lets requests through slowly, within -timeout is invisible but for
// the time taken; one that lasts makes prestart give up after -timeout with
// exit 4, and nothing starts.
func TestFaultAtStart(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	for _, tc := range []struct {
		name    string
		fault   func(p *faultproxy.Proxy)
		timeout string
		code    int
		// max bounds the time taken: -timeout plus what one request in
		// flight may add (prestart bounds the whole start by -timeout+5s).
		min, max time.Duration
		// failed is how many requests the proxy answered itself.
		failed int64
	}{
		{name: "blackhole", fault: (*faultproxy.Proxy).Blackhole, timeout: "3s", code: cli.ExitUnavailable, min: 3 * time.Second, max: 10 * time.Second},
		{name: "reset", fault: (*faultproxy.Proxy).Reset, timeout: "3s", code: cli.ExitUnavailable, min: 3 * time.Second, max: 6 * time.Second},
		{name: "503 burst", fault: func(p *faultproxy.Proxy) { p.FailNext(3, 503) }, timeout: "10s", code: 0, max: 8 * time.Second, failed: 3},
		{name: "502 burst", fault: func(p *faultproxy.Proxy) { p.FailNext(2, 502) }, timeout: "10s", code: 0, max: 8 * time.Second, failed: 2},
		// Vault's 500 is an internal error, not an outage: not retried.
		{name: "500", fault: func(p *faultproxy.Proxy) { p.FailNext(2, 500) }, timeout: "10s", code: cli.ExitFailed, max: 2 * time.Second, failed: 1},
		{name: "latency", fault: func(p *faultproxy.Proxy) { p.Delay(100*time.Millisecond, 200*time.Millisecond) }, timeout: "10s", code: 0, min: 600 * time.Millisecond, max: 10 * time.Second},
		{name: "slow body", fault: func(p *faultproxy.Proxy) { p.SlowBody(64, 50*time.Millisecond) }, timeout: "10s", code: 0, min: 500 * time.Millisecond, max: 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A proxy of its own in front of the shared Vault.
			p, err := faultproxy.New(b.proxy.Target(), faultproxy.HTTP())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			bc := *b
			bc.t, bc.proxy, bc.addr = t, p, p.URL("http")
			tc.fault(p)
			env, _ := bc.env()
			code, took, stdout, stderr := bc.run(env, "-timeout", tc.timeout,
				"-secret", "P=vault://secret/app/db#password", "--", "sh", "-c", `echo "app $P"`)
			t.Logf("exit %d after %s", code, took.Round(time.Millisecond))
			if code != tc.code || took < tc.min || took > tc.max {
				t.Errorf("exit %d after %s, want %d within [%s, %s]; stderr:\n%s", code, took, tc.code, tc.min, tc.max, stderr)
			}
			wantOut := ""
			if tc.code == 0 {
				wantOut = "app " + b.secret + "\n"
			}
			if stdout != wantOut {
				t.Errorf("stdout %q, want %q", stdout, wantOut)
			}
			if tc.code == cli.ExitUnavailable && !strings.Contains(stderr, "prestart: hint: check VAULT_ADDR") {
				t.Errorf("no hint about Vault being unavailable:\n%s", stderr)
			}
			if got := p.Stats().Failed; got != tc.failed {
				t.Errorf("the proxy answered %d requests itself, want %d", got, tc.failed)
			}
			if strings.Contains(stderr, b.secret) {
				t.Error("the secret is in stderr")
			}
		})
	}
}
