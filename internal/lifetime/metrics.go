package lifetime

import (
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"
)

// Metrics counts what the supervisor does, for Prometheus (text format,
// served by ServeHTTP). Values only, never names of secrets.
type Metrics struct {
	TokenRenewals   atomic.Int64
	LeaseRenewals   atomic.Int64
	RenewalFailures atomic.Int64
	Relogins        atomic.Int64
	Reads           atomic.Int64
	ReadFailures    atomic.Int64
	Restarts        atomic.Int64
	// AuditFailures counts audit lines that could not be written.
	AuditFailures atomic.Int64
	// Degraded is 1 while the app runs on values prestart can no longer
	// renew or re-read: the token expired and logging in again failed or
	// was refused.
	Degraded    atomic.Int64
	tokenExpiry atomic.Int64 // unix nanoseconds
}

func (m *Metrics) setExpiry(t time.Time) { m.tokenExpiry.Store(t.UnixNano()) }

// TokenTTL returns the time left until the token expires.
func (m *Metrics) TokenTTL() time.Duration {
	e := m.tokenExpiry.Load()
	if e == 0 {
		return 0
	}
	return time.Until(time.Unix(0, e))
}

// ServeHTTP writes the Prometheus text exposition format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	counter("keyturn_token_renewals_total", "Vault token renewals.", m.TokenRenewals.Load())
	counter("keyturn_lease_renewals_total", "Lease renewals.", m.LeaseRenewals.Load())
	counter("keyturn_renewal_failures_total", "Token renewals or logins that failed.", m.RenewalFailures.Load())
	counter("keyturn_relogins_total", "Logins after the token reached its max TTL.", m.Relogins.Load())
	counter("keyturn_secret_reads_total", "Re-reads of the secrets.", m.Reads.Load())
	counter("keyturn_secret_read_failures_total", "Re-reads that failed.", m.ReadFailures.Load())
	counter("keyturn_child_restarts_total", "Restarts or signals of the application after a change.", m.Restarts.Load())
	counter("keyturn_audit_write_failures_total", "Audit trail lines that could not be written.", m.AuditFailures.Load())
	// The standard name, so that dashboards and soak runs can watch for
	// a goroutine leak.
	fmt.Fprintf(w, "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(w, "# HELP keyturn_degraded 1 while the token is lost and the app runs on the values it has.\n# TYPE keyturn_degraded gauge\nkeyturn_degraded %d\n", m.Degraded.Load())
	ttl := m.TokenTTL().Seconds()
	if ttl < 0 {
		ttl = 0
	}
	fmt.Fprintf(w, "# HELP keyturn_token_expiry_seconds Seconds until the Vault token expires.\n# TYPE keyturn_token_expiry_seconds gauge\nkeyturn_token_expiry_seconds %.0f\n", ttl)
}
