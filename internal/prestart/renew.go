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
func (v *supervision) renewCert(ctx context.Context, r pkicert.Request, cert *pkicert.Cert) {
	next := cert.RenewAt()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		c, err := pkicert.Issue(ctx, v.s.Client(), r)
		if err == nil {
			err = c.Write(r.Dir)
			c.Zero()
		}
		if err != nil {
			// Try again soon, but never after the old certificate expires.
			v.log.Warn("renewing a certificate failed", "dir", r.Dir, "error", err)
			v.metrics.RenewalFailures.Add(1)
			next = time.Now().Add(min(30*time.Second, max(time.Second, time.Until(cert.NotAfter)/4)))
			continue
		}
		v.log.Info("renewed a certificate", "dir", r.Dir, "serial", c.Serial, "not_after", c.NotAfter)
		cert, next = c, c.RenewAt()
		v.metrics.Restarts.Add(1)
		if sig := v.plan.Supervise.changeSig; sig != 0 {
			err = v.sup.Signal(sig)
		} else {
			err = v.sup.Restart(nil)
		}
		if err != nil {
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
