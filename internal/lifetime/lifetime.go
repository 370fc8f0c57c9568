// Package lifetime keeps what prestart got from Vault alive while it stays
// as the application's supervisor: it renews the token and every lease
// (api.LifetimeWatcher), logs in again when the token reaches its max TTL
// and the role allows it, re-reads secrets that can change (KV, S3) every
// poll interval and when a lease can no longer be renewed, and reports a
// changed set of variables once it has been stable for the debounce period.
//
// It never logs a value, a token or a secret ID.
package lifetime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/audit"
	"github.com/keyturn/keyturn/internal/source"
)

// ErrTokenLost means the token can no longer be renewed and no new login
// was possible: the application must be stopped.
var ErrTokenLost = errors.New("the Vault token can no longer be renewed and a new login is not possible")

// Config wires a Keeper to its caller.
type Config struct {
	Client *api.Client
	// Token is the login response (Auth set). Nil when the token came from
	// outside (VAULT_TOKEN): it is then neither renewed nor replaced.
	Token *api.Secret
	// Relogin logs in again and returns the new login response; nil when
	// the credentials allow no second login.
	Relogin func(ctx context.Context) (*api.Secret, error)
	// Refresh re-reads the sources (see source.Refresh): force says which
	// non-watchable ones (leased) must be read again.
	Refresh func(ctx context.Context, prev []source.Loaded, force func(i int) bool) ([]source.Loaded, map[string]string, error)
	Loaded  []source.Loaded   // the first read
	Vars    map[string]string // its variables
	// Poll is how often changeable sources are re-read; 0 turns polling off.
	Poll time.Duration
	// Debounce is how long a change must hold still before OnChange
	// (default 2s, as Vault Agent).
	Debounce time.Duration
	// OnChange receives the new variables; it restarts or signals the app.
	// A failed OnChange is retried with backoff: the values become
	// current only once delivered.
	OnChange func(vars map[string]string) error
	// OnLogin is told about every new login, with the current variables,
	// so that a token sink and an app holding the token follow it. A
	// failure is logged; the token is in use already.
	OnLogin func(ctx context.Context, sec *api.Secret, vars map[string]string) error
	// LoginRefused reports a definitive refusal of Relogin (secret ID used
	// up or revoked): retrying cannot help. Other failures (Vault sealed,
	// unreachable, answering 5xx) are retried for as long as Run runs.
	LoginRefused func(error) bool
	// StopOnLoginRefused makes Run return ErrTokenLost on such a refusal;
	// otherwise the app keeps running on its values, degraded.
	StopOnLoginRefused bool
	// Timeout bounds every re-read and login (default 30s): a Vault that
	// hangs must not stall the keeper.
	Timeout time.Duration
	// RetryInitial and RetryMax shape the backoff of failed logins,
	// re-reads and OnChange calls (default 1s doubling to 30s).
	RetryInitial, RetryMax time.Duration
	Logger                 hclog.Logger
	Metrics                *Metrics
	// Audit receives renew, change, degraded and recovered lines; nil
	// writes none. New logins are the caller's to audit (in Relogin),
	// since only it knows how it logged in.
	Audit *audit.Auditor
}

// Keeper runs the renewals and re-reads.
type Keeper struct {
	cfg     Config
	log     hclog.Logger
	m       *Metrics
	audit   *audit.Auditor
	events  chan event
	loaded  []source.Loaded
	current map[string]string
	leases  map[int]func() // lease watchers by request index
}

type eventKind int

const (
	tokenDone eventKind = iota
	leaseDone
)

type event struct {
	kind  eventKind
	index int
	err   error
	gen   int
}

// New returns a Keeper; nothing runs before Run.
func New(cfg Config) *Keeper {
	if cfg.Debounce <= 0 {
		cfg.Debounce = 2 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = &Metrics{}
	}
	return &Keeper{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, audit: cfg.Audit, events: make(chan event, 16),
		loaded: cfg.Loaded, current: maps.Clone(cfg.Vars), leases: map[int]func(){}}
}

// Run works until ctx ends (nil), or until the token is lost for good
// (ErrTokenLost): it expired without a way to log in again, or, with
// StopOnLoginRefused, Vault refused the new login. An unavailable Vault
// never ends Run: the app keeps its values while logins and re-reads are
// retried with backoff.
func (k *Keeper) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tokenGen := 0
	accessor := "" // the current token's, for the audit trail
	if k.cfg.Token != nil && k.cfg.Token.Auth != nil {
		accessor = k.cfg.Token.Auth.Accessor
		k.watchToken(ctx, k.cfg.Token, tokenGen)
	}
	k.watchLeases(ctx, nil)

	var poll <-chan time.Time
	if k.cfg.Poll > 0 {
		t := time.NewTicker(k.cfg.Poll)
		defer t.Stop()
		poll = t.C
	}
	debounce := stoppedTimer()
	var pending map[string]string
	retry := stoppedTimer()
	relogin := stoppedTimer()
	newBackoff := func() Backoff { return Backoff{Initial: k.cfg.RetryInitial, Max: k.cfg.RetryMax} }
	readBO, changeBO, loginBO := newBackoff(), newBackoff(), newBackoff()
	forced := map[int]bool{}
	// refused is set once Vault refused a new login: re-reads with the
	// dead token would only fail.
	refused := false
	// degradedAt is when the app began to run on values that are no
	// longer renewed; zero while it is not.
	var degradedAt time.Time
	degrade := func(reason string) {
		if degradedAt.IsZero() {
			degradedAt = time.Now()
			k.audit.Emit(audit.Degraded{Reason: reason, TokenAccessor: accessor})
		}
	}
	// announced is set once the pending change has been audited, so a
	// retried OnChange does not log it twice.
	announced := false

	refresh := func() {
		if refused {
			return
		}
		rctx, rcancel := context.WithTimeout(ctx, k.cfg.Timeout)
		loaded, vars, err := k.cfg.Refresh(rctx, k.loaded, func(i int) bool { return forced[i] })
		rcancel()
		k.m.Reads.Add(1)
		if err != nil {
			k.m.ReadFailures.Add(1)
			wait := readBO.Next()
			k.log.Warn("re-reading secrets failed; keeping the current ones and retrying", "wait", wait.Round(time.Millisecond), "error", err)
			retry.Reset(wait)
			return
		}
		readBO.Reset()
		retry.Stop()
		forced = map[int]bool{}
		prev := k.loaded
		k.loaded = loaded
		k.watchLeases(ctx, prev)
		if maps.Equal(vars, k.current) {
			// Changed and changed back before it settled: nothing to do.
			if pending != nil {
				pending = nil
				debounce.Stop()
			}
			return
		}
		if !maps.Equal(vars, pending) {
			k.log.Info("secrets changed; waiting for them to settle", "debounce", k.cfg.Debounce)
			pending, announced = vars, false
			changeBO.Reset()
			debounce.Reset(k.cfg.Debounce)
		}
	}

	// login logs in again after the token was lost; it returns an error
	// only when Run must end.
	login := func() error {
		lctx, lcancel := context.WithTimeout(ctx, k.cfg.Timeout)
		sec, err := k.cfg.Relogin(lctx)
		lcancel()
		if err != nil {
			k.m.RenewalFailures.Add(1)
			k.m.Degraded.Store(1)
			if k.cfg.LoginRefused != nil && k.cfg.LoginRefused(err) {
				degrade("login_refused")
				if k.cfg.StopOnLoginRefused {
					return fmt.Errorf("%w: the token expired and Vault refused a new login: %w", ErrTokenLost, err)
				}
				refused = true
				k.stopLeases()
				retry.Stop()
				k.log.Error("the token expired and Vault refused a new login; the app keeps running, degraded, on the values it has, which are no longer renewed or re-read", "error", err)
				return nil
			}
			degrade("login_failed")
			wait := loginBO.Next()
			k.log.Warn("logging in again failed; the app keeps its values, retrying", "wait", wait.Round(time.Millisecond), "error", err)
			relogin.Reset(wait)
			return nil
		}
		loginBO.Reset()
		k.m.Degraded.Store(0)
		k.m.Relogins.Add(1)
		k.log.Info("logged in again", "token_accessor", sec.Auth.Accessor)
		accessor = sec.Auth.Accessor
		if !degradedAt.IsZero() {
			k.audit.Emit(audit.Recovered{TokenAccessor: accessor, DegradedSeconds: audit.Seconds(time.Since(degradedAt))})
			degradedAt = time.Time{}
		}
		tokenGen++
		k.watchToken(ctx, sec, tokenGen)
		if k.cfg.OnLogin != nil {
			if err := k.cfg.OnLogin(ctx, sec, maps.Clone(k.current)); err != nil {
				k.log.Error("handing the new token to the app failed", "error", err)
			}
		}
		// Leases die with the token that created them: read every
		// leased secret again under the new token.
		for i, l := range k.loaded {
			if l.Lease != nil {
				forced[i] = true
			}
		}
		refresh()
		return nil
	}

	for {
		select {
		case <-ctx.Done():
			k.stopLeases()
			return nil
		case <-poll:
			refresh()
		case <-retry.C:
			refresh()
		case <-relogin.C:
			if err := login(); err != nil {
				return err
			}
		case <-debounce.C:
			if pending == nil {
				continue
			}
			if !announced {
				k.audit.Emit(audit.ChangeOf(k.current, pending))
				announced = true
			}
			if err := k.cfg.OnChange(pending); err != nil {
				wait := changeBO.Next()
				k.log.Error("applying the changed secrets failed; retrying", "wait", wait.Round(time.Millisecond), "error", err)
				debounce.Reset(wait)
				continue
			}
			changeBO.Reset()
			k.current, pending = pending, nil
		case ev := <-k.events:
			switch ev.kind {
			case leaseDone:
				if _, ok := k.leases[ev.index]; !ok {
					continue
				}
				k.log.Info("a lease can no longer be renewed; reading the secret again", "source", k.loaded[ev.index].Ref, "error", ev.err)
				forced[ev.index] = true
				refresh()
			case tokenDone:
				if ev.gen != tokenGen {
					continue
				}
				if ev.err != nil {
					k.m.RenewalFailures.Add(1)
				}
				if k.cfg.Relogin == nil {
					return fmt.Errorf("%w (the token reached its max TTL or renewing failed: %v)", ErrTokenLost, ev.err)
				}
				if err := login(); err != nil {
					return err
				}
			}
		}
	}
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

func (k *Keeper) watchToken(ctx context.Context, sec *api.Secret, gen int) {
	k.m.setExpiry(time.Now().Add(time.Duration(sec.Auth.LeaseDuration) * time.Second))
	w, err := k.cfg.Client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: sec})
	if err != nil {
		k.events <- event{kind: tokenDone, err: err, gen: gen}
		return
	}
	go w.Start()
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case r := <-w.RenewCh():
				k.m.TokenRenewals.Add(1)
				if r != nil && r.Secret != nil && r.Secret.Auth != nil {
					ttl := time.Duration(r.Secret.Auth.LeaseDuration) * time.Second
					k.m.setExpiry(r.RenewedAt.Add(ttl))
					k.log.Debug("renewed the token", "ttl", ttl)
					k.audit.Emit(audit.Renew{What: "token", TokenAccessor: sec.Auth.Accessor, TTLSeconds: audit.Seconds(ttl)})
				}
			case err := <-w.DoneCh():
				select {
				case k.events <- event{kind: tokenDone, err: err, gen: gen}:
				case <-ctx.Done():
				}
				return
			}
		}
	}()
}

// watchLeases starts a watcher for every lease that is new since prev and
// stops those whose lease was replaced.
//
// Requests that share a read (two #FIELDs of one database/creds read)
// share its lease, which one watcher renews: the first request's, whose
// index a lease that ends reports, and which makes the whole read again.
func (k *Keeper) watchLeases(ctx context.Context, prev []source.Loaded) {
	watched := map[string]bool{}
	for i, l := range k.loaded {
		var old string
		if i < len(prev) && prev[i].Lease != nil {
			old = prev[i].Lease.ID
		}
		if l.Lease == nil || l.Lease.ID == "" {
			continue
		}
		if watched[l.Lease.ID] {
			if stop := k.leases[i]; stop != nil {
				stop()
				delete(k.leases, i)
			}
			continue
		}
		watched[l.Lease.ID] = true
		if l.Lease.ID == old && k.leases[i] != nil {
			continue
		}
		if stop := k.leases[i]; stop != nil {
			stop()
		}
		k.leases[i] = k.watchLease(ctx, i, l)
	}
}

func (k *Keeper) watchLease(ctx context.Context, i int, l source.Loaded) func() {
	lctx, cancel := context.WithCancel(ctx)
	sec := &api.Secret{LeaseID: l.Lease.ID, LeaseDuration: int(l.Lease.Duration / time.Second), Renewable: l.Lease.Renewable}
	w, err := k.cfg.Client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: sec})
	if err != nil {
		k.log.Warn("cannot watch a lease", "source", l.Ref, "error", err)
		return cancel
	}
	go w.Start()
	go func() {
		defer w.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case r := <-w.RenewCh():
				k.m.LeaseRenewals.Add(1)
				k.log.Debug("renewed a lease", "source", l.Ref)
				ev := audit.Renew{What: "lease", Ref: l.Ref, Lease: audit.LeaseFields(l.Lease.ID, 0, false)}
				if r != nil && r.Secret != nil {
					ev.TTLSeconds = int64(r.Secret.LeaseDuration)
				}
				k.audit.Emit(ev)
			case err := <-w.DoneCh():
				select {
				case k.events <- event{kind: leaseDone, index: i, err: err}:
				case <-lctx.Done():
				}
				return
			}
		}
	}()
	return cancel
}

func (k *Keeper) stopLeases() {
	for i, stop := range k.leases {
		stop()
		delete(k.leases, i)
	}
}
