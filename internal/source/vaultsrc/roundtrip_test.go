package vaultsrc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/source/vaultsrc"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// counter is a reverse proxy in front of the real Vault that counts requests
// per path, records the most requests it held at once, and delays requests
// so that reads that could overlap do.
type counter struct {
	delay func(path string) time.Duration
	mu    sync.Mutex
	paths map[string]int
	now   int
	peak  int
}

func (c *counter) count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for p, k := range c.paths {
		if strings.HasPrefix(p, prefix) {
			n += k
		}
	}
	return n
}

func proxied(t *testing.T, s *vaulttest.Server, delay func(string) time.Duration) (*api.Client, *counter) {
	t.Helper()
	target, err := url.Parse(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{delay: delay, paths: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/v1/")
		c.mu.Lock()
		c.paths[p]++
		c.now++
		c.peak = max(c.peak, c.now)
		c.mu.Unlock()
		time.Sleep(c.delay(p))
		rp.ServeHTTP(w, r)
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	cl := s.RootClient(t)
	if err := cl.SetAddress(srv.URL); err != nil {
		t.Fatal(err)
	}
	return cl, c
}

func requests(t *testing.T, refs ...string) []source.Request {
	t.Helper()
	var reqs []source.Request
	for _, r := range refs {
		var req source.Request
		var err error
		if name, ref, ok := strings.Cut(r, "="); ok {
			req, err = source.ParseSecret(name + "=" + ref)
		} else {
			req, err = source.ParseSecrets(r)
		}
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	return reqs
}

func TestMountLookedUpOncePerMountAndReadsOverlap(t *testing.T) {
	s := vaulttest.StartDev(t)
	root := s.RootClient(t)
	ctx := context.Background()
	if err := root.Sys().MountWithContext(ctx, "kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	var refs []string
	for i := range 10 {
		if _, err := root.KVv2("secret").Put(ctx, fmt.Sprintf("app/s%d", i), map[string]any{fmt.Sprintf("k%d", i): "v"}); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, fmt.Sprintf("vault://secret/app/s%d", i))
	}
	if _, err := root.Logical().Write("kv1/app/a", map[string]any{"ka": "v"}); err != nil {
		t.Fatal(err)
	}
	refs = append(refs, "vault://kv1/app/a")

	c, n := proxied(t, s, func(string) time.Duration { return 50 * time.Millisecond })
	env, _, err := source.Collect(ctx, source.Readers{"vault": vaultsrc.New(c)}, requests(t, refs...), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Vars()) != 11 {
		t.Fatalf("variables: %v", env.Vars())
	}
	if got := n.count("sys/internal/ui/mounts/secret/"); got != 1 {
		t.Errorf("mount lookups for secret/: %d, want 1 for ten paths", got)
	}
	if got := n.count("sys/internal/ui/mounts/kv1/"); got != 1 {
		t.Errorf("mount lookups for kv1/: %d, want 1", got)
	}
	if got := n.count("secret/data/") + n.count("kv1/app/"); got != 11 {
		t.Errorf("reads: %d, want 11", got)
	}
	// The two mounts are looked up at once, then the eleven reads overlap,
	// at most MaxConcurrentReads at a time.
	if n.peak < 2 || n.peak > source.MaxConcurrentReads {
		t.Errorf("requests in flight at most %d, want 2..%d", n.peak, source.MaxConcurrentReads)
	}
}

func TestSameSourceReadOnce(t *testing.T) {
	s := vaulttest.StartDev(t)
	ctx := context.Background()
	if _, err := s.RootClient(t).KVv2("secret").Put(ctx, "app/db", map[string]any{"username": "u", "password": "p"}); err != nil {
		t.Fatal(err)
	}
	c, n := proxied(t, s, func(string) time.Duration { return 0 })
	reqs := requests(t, "DB_USER=vault://secret/app/db#username", "DB_PASSWORD=vault://secret/app/db#password")
	env, loaded, err := source.Collect(ctx, source.Readers{"vault": vaultsrc.New(c)}, reqs, false)
	if err != nil {
		t.Fatal(err)
	}
	if v := env.Vars(); v["DB_USER"] != "u" || v["DB_PASSWORD"] != "p" || len(loaded) != 2 {
		t.Fatalf("vars %v, loaded %d", v, len(loaded))
	}
	if got := n.count("secret/data/app/db"); got != 1 {
		t.Fatalf("reads of secret/app/db: %d, want 1 for two fields", got)
	}
}

func TestFirstFailureInRequestOrder(t *testing.T) {
	s := vaulttest.StartDev(t)
	// The first request's read answers last: the error must still be its.
	c, _ := proxied(t, s, func(p string) time.Duration {
		if strings.HasSuffix(p, "/slow") {
			return 300 * time.Millisecond
		}
		return 0
	})
	reqs := requests(t, "vault://secret/app/slow", "vault://secret/app/fast")
	for range 3 {
		_, _, err := source.Collect(context.Background(), source.Readers{"vault": vaultsrc.New(c)}, reqs, false)
		if !errors.Is(err, source.ErrNotFound) || !strings.Contains(err.Error(), "secret/app/slow") {
			t.Fatalf("error %v, want the first request's not found", err)
		}
	}
}
