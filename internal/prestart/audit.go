package prestart

import (
	"context"
	"strconv"
	"syscall"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sys/unix"

	"github.com/keyturn/keyturn/internal/audit"
	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/source"
)

// The audit trail's lines are built here from what each step has at hand;
// package audit documents the fields. Nothing here reads a value: events
// carry references, names, versions, accessors and lease fingerprints.

// Mode names what a run does, for the audit trail: exec, supervise,
// env-file, print, dry-run, from-env-file or token-sink.
func (p *Plan) Mode() string {
	switch {
	case p.FromEnvFile != "":
		return "from-env-file"
	case p.DryRun:
		return "dry-run"
	case p.Supervise.Enabled:
		return "supervise"
	case len(p.Command) > 0:
		return "exec"
	case p.Print != "":
		return "print"
	case p.EnvFile != "":
		return "env-file"
	}
	return "token-sink"
}

func (r *runner) startEvent() audit.Start {
	p := r.plan
	ev := audit.Start{Mode: p.Mode(), Version: cli.Version()}
	for _, req := range p.Requests {
		ev.Sources = append(ev.Sources, req.Ref.Raw)
	}
	for _, c := range p.Certs {
		ev.Certs = append(ev.Certs, c.Raw)
	}
	if len(p.Command) > 0 {
		ev.Command = p.Command[0]
	}
	return ev
}

// auditExec writes the exec line, the last before the process is replaced,
// and fails the start if the trail is incomplete. The line needs no flush
// (package audit keeps no buffer) and the file no close: it is
// close-on-exec, so the application never holds it.
func (r *runner) auditExec() error {
	r.audit.Emit(audit.Exec{Command: r.plan.Command[0], Mode: r.plan.Mode()})
	return r.audit.Err()
}

func readEvent(ref source.Ref, l source.Loaded, reread bool) audit.Read {
	ev := audit.Read{Source: ref.Scheme, Ref: l.Ref, Path: ref.Path, Version: l.Version, Names: l.Names, Reread: reread}
	if l.Lease != nil {
		ev.Lease = audit.LeaseFields(l.Lease.ID, l.Lease.Duration, l.Lease.Renewable)
	}
	return ev
}

func certEvent(action string, req pkicert.Request, c *pkicert.Cert) audit.Cert {
	return audit.Cert{Action: action, Dir: req.Dir, Path: req.Path, CommonName: req.Params.Get("common_name"),
		Serial: c.Serial, NotAfter: c.NotAfter.UTC().Format("2006-01-02T15:04:05Z")}
}

// loginEvent describes the session's current login.
func (s *Session) loginEvent() audit.Login {
	ev := audit.Login{Method: "approle", Mount: s.mount, Role: s.role}
	if s.approle != nil {
		ev.SecretIDAccessor = s.approle.Accessor
	}
	if s.auth == nil || s.auth.Auth == nil {
		return ev
	}
	a := s.auth.Auth
	// Vault's AppRole login names the role in the token's metadata;
	// -role is only a check the user may have left out.
	if name := a.Metadata["role_name"]; name != "" {
		ev.Role = name
	}
	ev.TokenAccessor = a.Accessor
	ev.TTLSeconds = int64(a.LeaseDuration)
	ev.Renewable = a.Renewable
	ev.Policies = a.Policies
	return ev
}

// accessor returns the current token's accessor, or "" for a token that
// came from outside.
func (s *Session) accessor() string {
	if s == nil || s.auth == nil || s.auth.Auth == nil {
		return ""
	}
	return s.auth.Auth.Accessor
}

// setLeases records how many leases the token holds, for the revoke line.
func (s *Session) setLeases(n int) {
	if s != nil {
		s.leases.Store(int64(n))
	}
}

// auditedRelogin is Relogin for the keeper: a new login is a line of its
// own.
func (s *Session) auditedRelogin(ctx context.Context) (*api.Secret, error) {
	sec, err := s.Relogin(ctx)
	if err == nil {
		s.audit.Emit(audit.Relogin{Login: s.loginEvent()})
	}
	return sec, err
}

// signalName is SIGTERM rather than Go's "terminated": the name operators
// search for.
func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return strconv.Itoa(int(sig))
}
