package lifetime_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/lifetime"
	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/source/vaultsrc"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// setup starts Vault with a role whose tokens live 3s and at most 12s, logs
// in, reads the requests once, and returns a Config ready for a Keeper.
func setup(t *testing.T, numUses int, refs []string, opts ...vaulttest.DevOption) (*vaulttest.Server, lifetime.Config) {
	t.Helper()
	s := vaulttest.StartDev(t, opts...)
	root := s.RootClient(t)
	ctx := context.Background()
	if err := root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("app", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/approle/role/app", map[string]any{
		"token_policies": "app", "token_ttl": "3s", "token_max_ttl": "12s", "secret_id_num_uses": numUses,
	}); err != nil {
		t.Fatal(err)
	}
	rid, err := approle.RoleID(ctx, root, "approle", "app")
	if err != nil {
		t.Fatal(err)
	}
	m, err := approle.Mint(ctx, root, "approle", "app")
	if err != nil {
		t.Fatal(err)
	}
	c := s.Client(t, "")
	auth, err := approle.NewAuth("approle", rid, approle.Credential{WrappingToken: m.WrappingToken})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := auth.Login(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(sec.Auth.ClientToken)
	if len(refs) > 0 {
		if _, err := root.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": "one"}); err != nil {
			t.Fatal(err)
		}
	}
	var reqs []source.Request
	for _, r := range refs {
		req, err := source.ParseSecrets(r)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	readers := source.Readers{"vault": vaultsrc.New(c)}
	cfg := lifetime.Config{
		Client: c,
		Token:  sec,
		Relogin: func(ctx context.Context) (*api.Secret, error) {
			sec, err := auth.Login(ctx, c)
			if err != nil {
				return nil, err
			}
			c.SetToken(sec.Auth.ClientToken)
			return sec, nil
		},
		Refresh: func(ctx context.Context, prev []source.Loaded, force func(int) bool) ([]source.Loaded, map[string]string, error) {
			env, loaded, err := source.Refresh(ctx, readers, reqs, prev, false, force)
			if err != nil {
				return nil, nil, err
			}
			return loaded, env.Vars(), nil
		},
		Metrics:  &lifetime.Metrics{},
		OnChange: func(map[string]string) error { return nil },
	}
	if len(reqs) > 0 {
		env, loaded, err := source.Collect(ctx, readers, reqs, false)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Loaded, cfg.Vars = loaded, env.Vars()
	}
	return s, cfg
}

func TestTokenRenewedUntilMaxTTLThenRelogin(t *testing.T) {
	t.Parallel()
	_, cfg := setup(t, 0, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 17*time.Second)
	defer cancel()
	first := cfg.Client.Token()
	if err := lifetime.New(cfg).Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	m := cfg.Metrics
	if m.TokenRenewals.Load() < 3 || m.Relogins.Load() < 1 {
		t.Fatalf("renewals=%d relogins=%d, want renewals up to the 12s max TTL and then a new login", m.TokenRenewals.Load(), m.Relogins.Load())
	}
	if cfg.Client.Token() == first {
		t.Fatal("the client still holds the first token")
	}
	if _, err := cfg.Client.Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("the new token does not work: %v", err)
	}
}

func TestTokenLostWithoutRelogin(t *testing.T) {
	t.Parallel()
	_, cfg := setup(t, 1, nil)
	cfg.Relogin = nil
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := lifetime.New(cfg).Run(ctx)
	if !errors.Is(err, lifetime.ErrTokenLost) {
		t.Fatalf("Run: %v, want ErrTokenLost", err)
	}
	if el := time.Since(start); el < 8*time.Second || el > 13*time.Second {
		t.Fatalf("gave up after %s, want close to the 12s max TTL", el)
	}
	if cfg.Metrics.TokenRenewals.Load() < 2 {
		t.Fatalf("renewals %d", cfg.Metrics.TokenRenewals.Load())
	}
}

func TestKVChangeIsReportedOnceSettled(t *testing.T) {
	t.Parallel()
	s, cfg := setup(t, 0, []string{"vault://secret/app/db"})
	cfg.Poll = 200 * time.Millisecond
	cfg.Debounce = 500 * time.Millisecond
	// seen receives every password a re-read finds, changes every
	// reported change: the test waits on them, not on the clock.
	seen := make(chan string, 100)
	changes := make(chan map[string]string, 10)
	refresh := cfg.Refresh
	cfg.Refresh = func(ctx context.Context, prev []source.Loaded, force func(int) bool) ([]source.Loaded, map[string]string, error) {
		l, vars, err := refresh(ctx, prev, force)
		if err == nil {
			select {
			case seen <- vars["PASSWORD"]:
			default: // nobody waits any more
			}
		}
		return l, vars, err
	}
	cfg.OnChange = func(v map[string]string) error {
		changes <- v
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lifetime.New(cfg).Run(ctx) }()
	root := s.RootClient(t)
	put := func(v string) {
		if _, err := root.KVv2("secret").Put(context.Background(), "app/db", map[string]any{"password": v}); err != nil {
			t.Fatal(err)
		}
	}
	// "two" is seen by a poll, then replaced well within the debounce
	// period: only "three" may be reported.
	put("two")
	waitFor(t, seen, "two")
	put("three")
	var first map[string]string
	select {
	case first = <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if first["PASSWORD"] != "three" || len(changes) != 0 {
		t.Fatalf("first change %q and %d more, want one debounced change to three", first["PASSWORD"], len(changes))
	}
}

// waitFor receives from ch until want arrives.
func waitFor(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("never saw %q", want)
		}
	}
}

func TestLeaseRenewedAndMetricsServed(t *testing.T) {
	t.Parallel()
	s, cfg := setup(t, 0, nil, vaulttest.WithArgs("-dev-leased-kv"))
	root := s.RootClient(t)
	if _, err := root.Logical().Write("secret/app/lease", map[string]any{"password": "p", "ttl": "2s"}); err != nil {
		t.Fatal(err)
	}
	req, _ := source.ParseSecrets("vault://secret/app/lease")
	env, loaded, err := source.Collect(context.Background(), source.Readers{"vault": vaultsrc.New(cfg.Client)}, []source.Request{req}, false)
	if err != nil {
		t.Fatal(err)
	}
	if loaded[0].Lease == nil {
		t.Fatal("no lease")
	}
	cfg.Loaded, cfg.Vars = loaded, env.Vars()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := lifetime.New(cfg).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.LeaseRenewals.Load() < 2 {
		t.Fatalf("lease renewals %d in 4s of a 2s lease", cfg.Metrics.LeaseRenewals.Load())
	}
	rec := httptest.NewRecorder()
	cfg.Metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"keyturn_lease_renewals_total ", "# TYPE keyturn_token_expiry_seconds gauge", "keyturn_token_renewals_total ", "\ngo_goroutines "} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// Two variables from one leased read share its lease, and one watcher
// renews it: two would renew the same lease twice as often.
func TestSharedLeaseRenewedOnce(t *testing.T) {
	t.Parallel()
	s, cfg := setup(t, 0, nil, vaulttest.WithArgs("-dev-leased-kv"))
	root := s.RootClient(t)
	if _, err := root.Logical().Write("secret/app/creds", map[string]any{"username": "u", "password": "p", "ttl": "2s"}); err != nil {
		t.Fatal(err)
	}
	var reqs []source.Request
	for _, r := range []string{"DB_USER=vault://secret/app/creds#username", "DB_PASS=vault://secret/app/creds#password"} {
		req, err := source.ParseSecret(r)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	env, loaded, err := source.Collect(context.Background(), source.Readers{"vault": vaultsrc.New(cfg.Client)}, reqs, false)
	if err != nil {
		t.Fatal(err)
	}
	if loaded[0].Lease == nil || loaded[1].Lease == nil || loaded[0].Lease.ID != loaded[1].Lease.ID {
		t.Fatalf("the two requests do not share one lease: %+v %+v", loaded[0].Lease, loaded[1].Lease)
	}
	cfg.Loaded, cfg.Vars = loaded, env.Vars()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := lifetime.New(cfg).Run(ctx); err != nil {
		t.Fatal(err)
	}
	// One watcher renews a 2s lease about every 1.3s: 3 times in 4s (4
	// with jitter); two would make about 6.
	if n := cfg.Metrics.LeaseRenewals.Load(); n < 2 || n > 4 {
		t.Fatalf("%d lease renewals in 4s of one 2s lease, want 2 to 4", n)
	}
}
