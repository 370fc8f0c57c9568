package prestart

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/audit"
	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/lifetime"
	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/vaultconn"
	"github.com/keyturn/keyturn/internal/vaulterr"
)

// Session is a Vault client holding a token. A nil *Session means no Vault
// is involved; its methods then do nothing.
type Session struct {
	client *api.Client
	auth   *api.Secret // the login response; nil when the token came from VAULT_TOKEN
	// own is true when prestart logged in itself, so the token is its own
	// to revoke.
	own bool
	// approle can log in again (it keeps the unwrapped secret ID).
	approle *approle.Auth
	log     hclog.Logger
	// revoked is set once the token is revoked, so that each failure path
	// may revoke without caring whether another did.
	revoked bool
	// audit, mount and role are for the audit trail; leases is how many
	// leases the last read holds, which the token's revocation ends.
	audit       *audit.Auditor
	mount, role string
	leases      atomic.Int64
}

// Login returns a session holding a token: from an AppRole login when a role
// ID is given, otherwise from VAULT_TOKEN or -token-file. A wrapping token
// is unwrapped only after it passed approle's checks; a login that finds
// Vault unavailable is retried until the plan's timeout.
func Login(ctx context.Context, p *Plan, env IO, log hclog.Logger) (*Session, error) {
	rid, err := p.Credentials.roleID(env.Environ)
	if err != nil {
		return nil, err
	}
	cred, err := p.Credentials.oneTimeCredential(env.Environ)
	if err != nil {
		return nil, err
	}
	c, err := vaultClient(p, rid != "", env, log)
	if err != nil {
		return nil, err
	}
	hasCred := cred.SecretID != "" || cred.WrappingToken != ""
	switch {
	case rid == "" && hasCred:
		return nil, usage(errors.New("a secret ID needs a role ID"), "set VAULT_ROLE_ID or -role-id-file")
	case rid == "" && c.Token() == "":
		return nil, usage(errors.New("no credentials"),
			"set VAULT_ROLE_ID and VAULT_WRAPPED_SECRET_ID (from 'issuer mint'), or VAULT_TOKEN")
	case rid == "":
		log.Debug("using the token from the environment; no login")
		env.Audit.Emit(audit.Login{Method: "token"})
		return &Session{client: c, log: log, audit: env.Audit}, nil
	case !hasCred:
		return nil, usage(errors.New("a role ID but no secret ID"),
			"set VAULT_WRAPPED_SECRET_ID (from 'issuer mint'), VAULT_SECRET_ID or -secret-id-file")
	}
	var aopts []approle.LoginOption
	if p.Credentials.Role != "" {
		aopts = append(aopts, approle.WithRoleName(p.Credentials.Role))
	}
	auth, err := approle.NewAuth(p.Credentials.Mount, rid, cred, aopts...)
	if err != nil {
		return nil, usage(err)
	}
	s := &Session{client: c, own: true, approle: auth, log: log, audit: env.Audit, mount: p.Credentials.Mount, role: p.Credentials.Role}
	err = retry.Do(ctx, retryPolicy(p, log), func(ctx context.Context) error {
		_, err := s.Relogin(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	log.Info("logged in", "mount", p.Credentials.Mount, "secret_id_accessor", auth.Accessor,
		"token_accessor", s.auth.Auth.Accessor, "ttl", time.Duration(s.auth.Auth.LeaseDuration)*time.Second, "renewable", s.auth.Auth.Renewable)
	s.audit.Emit(s.loginEvent())
	return s, nil
}

func vaultClient(p *Plan, approleLogin bool, env IO, log hclog.Logger) (*api.Client, error) {
	// A request lost in a network cut holds its turn until it times out:
	// with Vault's 60s default, a supervisor renewed again only a minute
	// after a 20s outage had ended. Every request prestart makes is small.
	opts := []vaultconn.Option{vaultconn.WithLogger(log), vaultconn.WithMaxRetries(0), vaultconn.WithDefaultTimeout(RequestTimeout), vaultconn.WithConcurrency(source.MaxConcurrentReads)}
	if approleLogin {
		opts = append(opts, vaultconn.WithoutToken())
	}
	c, insecure, err := p.Vault.Client(opts...)
	if err != nil {
		return nil, usage(err)
	}
	if insecure {
		ui := cli.UI{Name: "prestart", Stderr: env.Stderr}
		ui.Warnf("TLS verification of Vault's certificate is off (-tls-skip-verify or VAULT_SKIP_VERIFY)")
	}
	return c, nil
}

// Client returns the logged-in client.
func (s *Session) Client() *api.Client { return s.client }

// Token returns the current token, or "" without a session.
func (s *Session) Token() string {
	if s == nil {
		return ""
	}
	return s.client.Token()
}

// Relogin logs in with the AppRole credentials and makes the new token the
// client's. It fails when the token came from VAULT_TOKEN, or when the
// secret ID has no use left.
func (s *Session) Relogin(ctx context.Context) (*api.Secret, error) {
	if s.approle == nil {
		return nil, errors.New("no AppRole credentials to log in with")
	}
	sec, err := s.approle.Login(ctx, s.client)
	if err != nil {
		return nil, err
	}
	s.client.SetToken(sec.Auth.ClientToken)
	s.auth = sec
	return sec, nil
}

// keep fills in what a lifetime.Keeper needs to renew the token and log in
// again at its max TTL.
func (s *Session) keep(cfg *lifetime.Config) {
	if s == nil {
		// Leases need a client even without a login; there are none
		// then, since only Vault hands them out.
		cfg.Client, _ = api.NewClient(api.DefaultConfig())
		return
	}
	cfg.Client, cfg.Token = s.client, s.auth
	if s.approle != nil {
		cfg.Relogin = s.auditedRelogin
		cfg.LoginRefused = loginRefused
	}
}

// loginRefused tells a login Vault refused for good (400: the secret ID is
// used up, expired or revoked; 403: lockout or permission denied) from one
// that found Vault unavailable or failing, which is worth retrying.
func loginRefused(err error) bool {
	return errors.Is(err, approle.ErrSecretID) || errors.Is(err, approle.ErrLockedOut) ||
		errors.Is(err, approle.ErrWrappingToken) || errors.Is(err, approle.ErrForeignWrapping) ||
		errors.Is(err, vaulterr.ErrPermissionDenied)
}

// Revoke revokes the token if prestart logged in for it, and with it every
// lease it created. Failing to revoke is logged, not returned: the start
// has already succeeded or failed for another reason.
func (s *Session) Revoke(reason string) {
	if s == nil || !s.own || s.revoked {
		return
	}
	s.revoked = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev := audit.Revoke{TokenAccessor: s.accessor(), Leases: int(s.leases.Load()), Reason: reason, Result: audit.ResultOK}
	if err := s.client.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
		s.log.Warn("could not revoke the login token", "error", err)
		ev.Result = audit.ResultFailed
		s.audit.Emit(ev)
		return
	}
	s.log.Debug("revoked the login token", "reason", reason)
	s.audit.Emit(ev)
}
