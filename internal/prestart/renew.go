package prestart

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyturn/keyturn/internal/lifetime"
	"github.com/keyturn/keyturn/internal/pkicert"
)

// renewCert issues a new certificate at two thirds of the current one's
// life, writes it, and restarts or signals the app, like a secret change.
// Failures back off (1s doubling to 30s, jittered), also once the old
// certificate has expired: a Vault that is down must not be polled every
// second by every container.
func (v *supervision) renewCert(ctx context.Context, r pkicert.Request, cert *pkicert.Cert) {
	next := cert.RenewAt()
	bo := lifetime.Backoff{Initial: time.Second, Max: 30 * time.Second}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		c, err := pkicert.Issue(ictx, v.s.Client(), r)
		cancel()
		if err == nil {
			err = c.Write(r.Dir)
			c.Zero()
		}
		if err != nil {
			wait := bo.Next()
			if left := time.Until(cert.NotAfter); left > 0 {
				// Before expiry, try at least once more while the old
				// certificate still works.
				wait = min(wait, max(left/2, time.Second))
			}
			v.log.Warn("renewing a certificate failed; retrying", "dir", r.Dir, "wait", wait.Round(time.Millisecond), "error", err)
			v.metrics.RenewalFailures.Add(1)
			next = time.Now().Add(wait)
			continue
		}
		bo.Reset()
		v.log.Info("renewed a certificate", "dir", r.Dir, "serial", c.Serial, "not_after", c.NotAfter)
		v.audit.Emit(certEvent("renewed", r, c))
		cert, next = c, c.RenewAt()
		if err := v.tellApp("new certificate", nil); err != nil {
			v.log.Warn("could not tell the app about its new certificate", "error", err)
		}
	}
}

func serveMetrics(addr string, m *lifetime.Metrics, log hclog.Logger) (func(), error) {
	// ":9102" means loopback, not every interface: exposing metrics beyond
	// the container takes an explicit host.
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usage(fmt.Errorf("-metrics-addr: %w", err))
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", "error", err)
		}
	}()
	log.Info("serving metrics", "addr", l.Addr().String())
	return func() { srv.Close() }, nil
}
