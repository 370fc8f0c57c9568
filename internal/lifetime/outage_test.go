package lifetime_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/audit"
	"github.com/keyturn/keyturn/internal/lifetime"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// unsealKey finds the dev server's unseal key in its log; the banner that
// shows it may be written after the server already answers.
func unsealKey(t *testing.T, s *vaulttest.Server) string {
	t.Helper()
	re := regexp.MustCompile(`Unseal Key: (\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(s.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		if m := re.FindSubmatch(b); m != nil {
			return string(m[1])
		}
		if time.Now().After(deadline) {
			t.Fatal("no unseal key in the dev server's log")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func refusedLogin(err error) bool { return errors.Is(err, approle.ErrSecretID) }

// Vault sealed for three times the token's 3s TTL: the token expires
// meanwhile. The keeper must not give up; once Vault is back it logs in
// again and renews the new token.
func TestSealedVaultOutlastsTheToken(t *testing.T) {
	t.Parallel()
	s, cfg := setup(t, 0, []string{"vault://secret/app/db"})
	cfg.Poll = 500 * time.Millisecond
	cfg.RetryInitial, cfg.RetryMax = 200*time.Millisecond, 2*time.Second
	cfg.Timeout = 2 * time.Second
	cfg.LoginRefused = refusedLogin
	root := s.RootClient(t)
	key := unsealKey(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- lifetime.New(cfg).Run(ctx) }()

	time.Sleep(time.Second)
	if err := root.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	sealedAt := time.Now()
	select {
	case err := <-done:
		t.Fatalf("the keeper ended while Vault was sealed: %v", err)
	case <-time.After(9 * time.Second):
	}
	if cfg.Metrics.Degraded.Load() != 1 {
		t.Errorf("degraded %d while the token expired and Vault is sealed, want 1", cfg.Metrics.Degraded.Load())
	}
	if cfg.Metrics.ReadFailures.Load() == 0 {
		t.Error("no failed re-read while Vault was sealed")
	}
	if _, err := root.Sys().Unseal(key); err != nil {
		t.Fatal(err)
	}
	t.Logf("sealed for %s", time.Since(sealedAt).Round(time.Millisecond))
	relogins, renewals := cfg.Metrics.Relogins.Load(), cfg.Metrics.TokenRenewals.Load()
	deadline := time.Now().Add(15 * time.Second)
	for cfg.Metrics.Relogins.Load() == relogins || cfg.Metrics.TokenRenewals.Load() == renewals {
		if time.Now().After(deadline) {
			t.Fatalf("no login and renewal after the unseal: relogins %d renewals %d", cfg.Metrics.Relogins.Load(), cfg.Metrics.TokenRenewals.Load())
		}
		select {
		case err := <-done:
			t.Fatalf("the keeper ended after the unseal: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if cfg.Metrics.Degraded.Load() != 0 {
		t.Error("still degraded after logging in again")
	}
	if _, err := cfg.Client.Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("the new token does not work: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A secret ID with one use: the login at the max TTL is refused. By
// default the keeper keeps running, degraded, and says so in its metrics.
func TestLoginRefusedKeepsRunningDegraded(t *testing.T) {
	t.Parallel()
	_, cfg := setup(t, 1, nil)
	cfg.LoginRefused = refusedLogin
	var logins atomic.Int32
	relogin := cfg.Relogin
	cfg.Relogin = func(ctx context.Context) (*api.Secret, error) {
		logins.Add(1)
		return relogin(ctx)
	}
	var trail bytes.Buffer
	cfg.Audit = audit.New(&trail, audit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 17*time.Second)
	defer cancel()
	if err := lifetime.New(cfg).Run(ctx); err != nil {
		t.Fatalf("Run: %v, want it to keep running until cancelled", err)
	}
	if cfg.Metrics.Degraded.Load() != 1 {
		t.Fatal("not degraded after a refused login")
	}
	// The trail says so once, with the lost token's accessor, and the
	// token's renewals before it.
	if n := strings.Count(trail.String(), `"event":"degraded"`); n != 1 ||
		!regexp.MustCompile(`"event":"degraded"[^\n]*"reason":"login_refused","token_accessor":"[^"]+"`).MatchString(trail.String()) ||
		!strings.Contains(trail.String(), `"what":"token"`) {
		t.Fatalf("audit trail:\n%s", trail.String())
	}
	if n := logins.Load(); n != 1 {
		t.Fatalf("%d logins, want exactly one: a refusal is final, and retrying it could lock the role ID out", n)
	}
	rec := httptest.NewRecorder()
	cfg.Metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "\nkeyturn_degraded 1\n") {
		t.Fatalf("metrics do not show the degraded state:\n%s", rec.Body.String())
	}
}

// With StopOnLoginRefused the keeper ends with ErrTokenLost, and the error
// says that the login was refused, as approle classified it.
func TestLoginRefusedStops(t *testing.T) {
	t.Parallel()
	_, cfg := setup(t, 1, nil)
	cfg.LoginRefused = refusedLogin
	cfg.StopOnLoginRefused = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := lifetime.New(cfg).Run(ctx)
	if !errors.Is(err, lifetime.ErrTokenLost) || !errors.Is(err, approle.ErrSecretID) {
		t.Fatalf("Run: %v, want ErrTokenLost wrapping approle.ErrSecretID", err)
	}
}

// A failed on-change action is retried with the same values until it
// succeeds, and only then are they current.
func TestFailedOnChangeIsRetried(t *testing.T) {
	t.Parallel()
	s, cfg := setup(t, 0, []string{"vault://secret/app/db"})
	cfg.Poll = 200 * time.Millisecond
	cfg.Debounce = 200 * time.Millisecond
	cfg.RetryInitial, cfg.RetryMax = 100*time.Millisecond, 400*time.Millisecond
	calls := make(chan string, 100)
	var n atomic.Int32
	cfg.OnChange = func(v map[string]string) error {
		calls <- v["PASSWORD"]
		if n.Add(1) <= 2 {
			return errors.New("the app did not take the signal")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lifetime.New(cfg).Run(ctx) }()
	if _, err := s.RootClient(t).KVv2("secret").Put(context.Background(), "app/db", map[string]any{"password": "two"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		select {
		case got := <-calls:
			if got != "two" {
				t.Fatalf("call %d with %q, want two", i, got)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d on-change calls, want the failed ones retried", i)
		}
	}
	// Delivered: no further calls for the same values.
	time.Sleep(time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Fatalf("%d more on-change calls after a successful one", len(calls))
	}
}
