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
	OnChange func(vars map[string]string) error
	Logger   hclog.Logger
	Metrics  *Metrics
}

// Keeper runs the renewals and re-reads.
type Keeper struct {
	cfg     Config
	log     hclog.Logger
	m       *Metrics
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
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = &Metrics{}
	}
	return &Keeper{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, events: make(chan event, 16),
		loaded: cfg.Loaded, current: maps.Clone(cfg.Vars), leases: map[int]func(){}}
}

// Run works until ctx ends (nil) or the token is lost (ErrTokenLost).
func (k *Keeper) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tokenGen := 0
	if k.cfg.Token != nil && k.cfg.Token.Auth != nil {
		k.watchToken(ctx, k.cfg.Token, tokenGen)
	}
	k.watchLeases(ctx, nil)

	var poll <-chan time.Time
	if k.cfg.Poll > 0 {
		t := time.NewTicker(k.cfg.Poll)
		defer t.Stop()
		poll = t.C
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	var pending map[string]string
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	forced := map[int]bool{}

	refresh := func() {
		loaded, vars, err := k.cfg.Refresh(ctx, k.loaded, func(i int) bool { return forced[i] })
		k.m.Reads.Add(1)
		if err != nil {
			k.m.ReadFailures.Add(1)
			k.log.Warn("re-reading secrets failed; keeping the current ones", "error", err)
			if len(forced) > 0 {
				retry.Reset(10 * time.Second)
			}
			return
		}
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
			pending = vars
			debounce.Reset(k.cfg.Debounce)
		}
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
		case <-debounce.C:
			if pending == nil {
				continue
			}
			if err := k.cfg.OnChange(pending); err != nil {
				k.log.Error("applying the changed secrets failed", "error", err)
			}
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
				sec, err := k.cfg.Relogin(ctx)
				if err != nil {
					k.m.RenewalFailures.Add(1)
					return fmt.Errorf("%w: log in again: %v", ErrTokenLost, err)
				}
				k.m.Relogins.Add(1)
				k.log.Info("logged in again", "token_accessor", sec.Auth.Accessor)
				tokenGen++
				k.watchToken(ctx, sec, tokenGen)
				// Leases die with the token that created them: read
				// every leased secret again under the new token.
				for i, l := range k.loaded {
					if l.Lease != nil {
						forced[i] = true
					}
				}
				refresh()
			}
		}
	}
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
					k.m.setExpiry(r.RenewedAt.Add(time.Duration(r.Secret.Auth.LeaseDuration) * time.Second))
					k.log.Debug("renewed the token", "ttl", time.Duration(r.Secret.Auth.LeaseDuration)*time.Second)
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
func (k *Keeper) watchLeases(ctx context.Context, prev []source.Loaded) {
	for i, l := range k.loaded {
		var old string
		if i < len(prev) && prev[i].Lease != nil {
			old = prev[i].Lease.ID
		}
		if l.Lease == nil || l.Lease.ID == "" {
			continue
		}
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
			case <-w.RenewCh():
				k.m.LeaseRenewals.Add(1)
				k.log.Debug("renewed a lease", "source", l.Ref)
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
