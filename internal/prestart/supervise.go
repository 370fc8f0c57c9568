package prestart

import (
	"context"
	"errors"
	"strings"
	"syscall"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/audit"
	"github.com/keyturn/keyturn/internal/envfmt"
	"github.com/keyturn/keyturn/internal/launch"
	"github.com/keyturn/keyturn/internal/lifetime"
	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/secfile"
	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/supervise"
)

// supervision is one supervised run: the application as a child, and what
// keeps its secrets alive.
type supervision struct {
	*runner
	s       *Session
	sup     *supervise.Supervisor
	metrics *lifetime.Metrics
}

// supervise runs the app as a child and keeps its secrets alive until it
// exits; it returns an *ExitStatus with the app's status.
func (r *runner) supervise(ctx context.Context, s *Session, readers source.Readers, got *secrets, certs []*pkicert.Cert) error {
	opt := r.plan.Supervise
	stdio, err := openStdio(r.io)
	if err != nil {
		s.Revoke("opening the app's stdio failed")
		return err
	}
	defer stdio.close()
	v := &supervision{runner: r, s: s, metrics: &lifetime.Metrics{}}
	// From here on the app runs: an audit line that cannot be written is
	// logged and counted, and the app is left alone (docs/audit.md).
	r.audit.OnError(func(err error) {
		r.log.Error("writing the audit trail failed", "error", err)
		v.metrics.AuditFailures.Add(1)
	})
	v.sup = supervise.New(supervise.Spec{
		Args:   r.plan.Command,
		Env:    r.childEnv(got.vars, s),
		Stdin:  stdio.in,
		Stdout: stdio.out,
		Stderr: stdio.err,
	}, supervise.Options{Logger: r.log.Named("supervise"), StopSignal: opt.stopSig, StopTimeout: opt.Grace, ReapLock: &v.procs,
		OnForward: func(sig syscall.Signal, pgid int) {
			r.audit.Emit(audit.Signal{Signal: signalName(sig), PGID: pgid})
		}})
	if opt.MetricsAddr != "" {
		stop, err := serveMetrics(opt.MetricsAddr, v.metrics, r.log)
		if err != nil {
			s.Revoke("serving metrics failed")
			return err
		}
		defer stop()
	}

	supCtx, stopApp := context.WithCancelCause(ctx)
	keepCtx, stopKeeper := context.WithCancel(ctx)
	keeperDone := make(chan error, 1)
	go func() {
		err := lifetime.New(v.keeperConfig(readers, got)).Run(keepCtx)
		if err != nil {
			r.log.Error("stopping the app", "reason", err)
			stopApp(err)
		}
		keeperDone <- err
	}()
	for i, cert := range certs {
		go v.renewCert(keepCtx, r.plan.Certs[i], cert)
	}
	code, runErr := v.sup.Run(supCtx)
	stopKeeper()
	keepErr := <-keeperDone
	if !opt.NoRevoke {
		s.Revoke("the app exited")
	}
	var le *launch.Error
	switch {
	case errors.As(runErr, &le):
		return runErr
	case errors.Is(keepErr, lifetime.ErrTokenLost):
		return keepErr
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		return runErr
	case code != 0:
		return &ExitStatus{Code: code, Signal: v.sup.Status().Signal}
	}
	return nil
}

// keeperConfig wires the lifetime keeper to the session, the sources and
// the supervisor.
func (v *supervision) keeperConfig(readers source.Readers, got *secrets) lifetime.Config {
	cfg := lifetime.Config{
		Loaded: got.loaded, Vars: got.vars, Poll: v.plan.Supervise.Poll,
		Logger: v.log.Named("lifetime"), Metrics: v.metrics,
		Refresh: func(ctx context.Context, prev []source.Loaded, force func(int) bool) ([]source.Loaded, map[string]string, error) {
			// No lock here: the readers hold the reap lock around the
			// commands they run and nowhere else, so a stalled Vault or
			// S3 read never delays reaping or the app's exit.
			env, l, err := source.Refresh(ctx, readers, v.plan.Requests, prev, v.plan.Override, force, source.AllowNames(v.plan.AllowNames...))
			if err != nil {
				return nil, nil, err
			}
			v.auditRefresh(prev, l)
			return l, env.Vars(), nil
		},
		OnChange:           v.onChange,
		OnLogin:            v.onLogin,
		StopOnLoginRefused: v.plan.Supervise.OnLoginRefused == "stop",
		Audit:              v.audit,
	}
	v.s.keep(&cfg)
	return cfg
}

// onChange rewrites the env file, then signals or restarts the app.
func (v *supervision) onChange(vars map[string]string) error {
	if v.plan.EnvFile != "" {
		var b strings.Builder
		if err := envfmt.EnvFile(&b, vars); err != nil {
			return err
		}
		if err := secfile.Write(v.plan.EnvFile, []byte(b.String())); err != nil {
			return err
		}
	}
	return v.tellApp("secrets changed", vars)
}

// tellApp signals or restarts the app per -on-change, restarting it with
// vars and the session's current token.
func (v *supervision) tellApp(why string, vars map[string]string) error {
	v.metrics.Restarts.Add(1)
	if sig := v.plan.Supervise.changeSig; sig != 0 {
		v.log.Info(why+"; signalling the app", "signal", sig.String())
		return v.audited(why, v.sup.Signal(sig))
	}
	v.log.Info(why + "; restarting the app")
	var env []string
	if vars != nil {
		env = v.childEnv(vars, v.s)
	}
	return v.audited(why, v.sup.Restart(env))
}

// audited writes the restart line for an -on-change action and returns
// its error.
func (v *supervision) audited(why string, err error) error {
	ev := audit.Restart{Action: "restart", Reason: why, Result: audit.ResultOK}
	if sig := v.plan.Supervise.changeSig; sig != 0 {
		ev.Action, ev.Signal = "signal", signalName(sig)
	}
	if err != nil {
		ev.Result = audit.ResultFailed
	}
	v.audit.Emit(ev)
	return err
}

// auditRefresh writes a read line for every source a supervisor's
// refresh read again (the others kept their result), and notes the
// leases the token now holds.
func (v *supervision) auditRefresh(prev, loaded []source.Loaded) {
	leases := 0
	for i, l := range loaded {
		if l.Lease != nil {
			leases++
		}
		if i < len(prev) && prev[i].Result == l.Result {
			continue
		}
		v.audit.Emit(readEvent(v.plan.Requests[i].Ref, l, true))
	}
	v.s.setLeases(leases)
}

// onLogin hands a new token to whoever holds the old one, which died or
// is about to: the -token-sink file, and with -pass-token the app itself
// (signalled after the sink is rewritten, or restarted with the token in
// its environment).
func (v *supervision) onLogin(_ context.Context, _ *api.Secret, vars map[string]string) error {
	if v.plan.TokenSink != "" {
		if err := secfile.Write(v.plan.TokenSink, []byte(v.s.Token()+"\n")); err != nil {
			return err
		}
		v.log.Info("rewrote the token sink after logging in again", "path", v.plan.TokenSink)
	}
	if !v.plan.PassToken {
		return nil
	}
	return v.tellApp("new token", vars)
}
