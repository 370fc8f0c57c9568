package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/envfmt"
	"github.com/keyturn/keyturn/internal/launch"
	"github.com/keyturn/keyturn/internal/lifetime"
	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/secfile"
	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/supervise"
)

var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "WINCH": syscall.SIGWINCH, "KILL": syscall.SIGKILL,
}

func parseSignal(s string) (syscall.Signal, error) {
	if sig, ok := signals[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q (want HUP, INT, QUIT, TERM, USR1, USR2, WINCH or KILL)", s)
}

// parseOnChange returns 0 for restart, or the signal to send.
func parseOnChange(s string) (syscall.Signal, error) {
	if s == "restart" {
		return 0, nil
	}
	if name, ok := strings.CutPrefix(s, "signal:"); ok {
		return parseSignal(name)
	}
	return 0, fmt.Errorf("-on-change %q: want restart or signal:NAME", s)
}

// superviseApp runs the app as a child and keeps its secrets alive until it
// exits; prestart then exits with the app's status.
func superviseApp(ctx context.Context, o *options, s *session, readers source.Readers, loaded []source.Loaded, vars map[string]string, certs []*pkicert.Cert, log hclog.Logger) error {
	stopSig, _ := parseSignal(o.stopSignal)
	changeSig, _ := parseOnChange(o.onChange)
	envOpts := launch.EnvOptions{Pristine: o.pristine, Keep: o.keepEnv}
	if o.passToken && s != nil {
		envOpts.Token = s.client.Token()
	}
	var reapLock sync.RWMutex
	sup := supervise.New(supervise.Spec{
		Args:   o.command,
		Env:    launch.Env(os.Environ(), vars, envOpts),
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}, supervise.Options{Logger: log.Named("supervise"), StopSignal: stopSig, StopTimeout: o.grace, ReapLock: &reapLock})

	metrics := &lifetime.Metrics{}
	if o.metricsAddr != "" {
		stop, err := serveMetrics(o.metricsAddr, metrics, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	cfg := lifetime.Config{
		Loaded: loaded, Vars: vars, Poll: o.poll, Logger: log.Named("lifetime"), Metrics: metrics,
		Refresh: func(ctx context.Context, prev []source.Loaded, force func(int) bool) ([]source.Loaded, map[string]string, error) {
			// exec: sources run commands; the supervisor's reaper must
			// not take their exit status.
			reapLock.RLock()
			defer reapLock.RUnlock()
			env, l, err := source.Refresh(ctx, readers, o.requests, prev, o.override, force)
			if err != nil {
				return nil, nil, err
			}
			return l, env.Vars(), nil
		},
		OnChange: func(vars map[string]string) error {
			if o.envFile != "" {
				var b strings.Builder
				if err := envfmt.EnvFile(&b, vars); err != nil {
					return err
				}
				if err := secfile.Write(o.envFile, []byte(b.String())); err != nil {
					return err
				}
			}
			metrics.Restarts.Add(1)
			if changeSig != 0 {
				log.Info("secrets changed; signalling the app", "signal", changeSig.String())
				return sup.Signal(changeSig)
			}
			log.Info("secrets changed; restarting the app")
			if s != nil && o.passToken {
				envOpts.Token = s.client.Token()
			}
			return sup.Restart(launch.Env(os.Environ(), vars, envOpts))
		},
	}
	if s != nil {
		cfg.Client = s.client
		cfg.Token = s.auth
		if s.login != nil {
			cfg.Relogin = func(ctx context.Context) (*api.Secret, error) {
				sec, err := s.login.Login(ctx, s.client)
				if err != nil {
					return nil, err
				}
				s.client.SetToken(sec.Auth.ClientToken)
				s.auth = sec
				return sec, nil
			}
		}
	} else {
		cfg.Client, _ = api.NewClient(api.DefaultConfig())
	}

	supCtx, stopApp := context.WithCancelCause(ctx)
	keepCtx, stopKeeper := context.WithCancel(ctx)
	keeperDone := make(chan error, 1)
	go func() {
		err := lifetime.New(cfg).Run(keepCtx)
		if err != nil {
			log.Error("stopping the app", "reason", err)
			stopApp(err)
		}
		keeperDone <- err
	}()
	for i, cert := range certs {
		go renewCert(keepCtx, o.certs[i], cert, s, sup, changeSig, metrics, log)
	}
	code, runErr := sup.Run(supCtx)
	stopKeeper()
	keepErr := <-keeperDone
	if !o.noRevoke {
		s.revoke(log, "the app exited")
	}
	var se *launch.Error
	switch {
	case errors.As(runErr, &se):
		return cli.Fail(se.Code, runErr)
	case errors.Is(keepErr, lifetime.ErrTokenLost):
		return cli.Fail(cli.ExitDenied, keepErr, "give the role's secret IDs more than one use (secret_id_num_uses), or a periodic token, to keep apps running past token_max_ttl")
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		return runErr
	}
	return cli.ExitCode(code)
}

func serveMetrics(addr string, m *lifetime.Metrics, log hclog.Logger) (func(), error) {
	// ":9102" means loopback, not every interface: exposing metrics beyond
	// the container takes an explicit host.
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, cli.Fail(cli.ExitUsage, fmt.Errorf("-metrics-addr: %w", err))
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

// renewCert issues a new certificate at two thirds of the current one's
// life, writes it, and restarts or signals the app, like a secret change.
func renewCert(ctx context.Context, r pkicert.Request, cert *pkicert.Cert, s *session, sup *supervise.Supervisor, changeSig syscall.Signal, m *lifetime.Metrics, log hclog.Logger) {
	next := cert.RenewAt()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		c, err := pkicert.Issue(ctx, s.client, r)
		if err == nil {
			err = c.Write(r.Dir)
			c.Zero()
		}
		if err != nil {
			// Try again soon, but never after the old certificate expires.
			log.Warn("renewing a certificate failed", "dir", r.Dir, "error", err)
			m.RenewalFailures.Add(1)
			next = time.Now().Add(min(30*time.Second, max(time.Second, time.Until(cert.NotAfter)/4)))
			continue
		}
		log.Info("renewed a certificate", "dir", r.Dir, "serial", c.Serial, "not_after", c.NotAfter)
		cert, next = c, c.RenewAt()
		m.Restarts.Add(1)
		if changeSig != 0 {
			err = sup.Signal(changeSig)
		} else {
			err = sup.Restart(nil)
		}
		if err != nil {
			log.Warn("could not tell the app about its new certificate", "error", err)
		}
	}
}
