package vaultconn

import (
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyturn/keyturn/internal/vaulttest"
)

func clientFor(t *testing.T, args ...string) (insecure bool, err error) {
	t.Helper()
	var f Flags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f.Register(fs, true)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, insecure, err := f.Client()
	if err != nil {
		return insecure, err
	}
	_, err = c.Sys().HealthWithContext(context.Background())
	return insecure, err
}

func clearVaultEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "VAULT_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// TLS verification stays on unless the user turns it off, and a flag beats
// the environment.
func TestTLSVerification(t *testing.T) {
	clearVaultEnv(t)
	node := vaulttest.StartNode(t)
	t.Setenv("VAULT_ADDR", node.Addr)

	if _, err := clientFor(t); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("no CA configured: %v, want a certificate verification error", err)
	}
	insecure, err := clientFor(t, "-ca-cert", node.CACert)
	if err != nil || insecure {
		t.Fatalf("-ca-cert: insecure=%v err=%v", insecure, err)
	}
	t.Setenv("VAULT_CACERT", node.CACert)
	if insecure, err := clientFor(t); err != nil || insecure {
		t.Fatalf("VAULT_CACERT: insecure=%v err=%v", insecure, err)
	}
	// A wrong CA from the flag beats the right one from the environment.
	other := vaulttest.NewCA(t)
	if _, err := clientFor(t, "-ca-cert", other.CertFile); err == nil {
		t.Fatal("-ca-cert with another CA was accepted")
	}
	t.Setenv("VAULT_CACERT", "")
	t.Setenv("VAULT_SKIP_VERIFY", "true")
	insecure, err = clientFor(t)
	if err != nil || !insecure {
		t.Fatalf("VAULT_SKIP_VERIFY=true: insecure=%v err=%v, want a connection reported as insecure", insecure, err)
	}
	if _, err := clientFor(t, "-tls-skip-verify=false"); err == nil {
		t.Fatal("-tls-skip-verify=false did not beat VAULT_SKIP_VERIFY=true")
	}
	t.Setenv("VAULT_SKIP_VERIFY", "")
	if insecure, err := clientFor(t, "-tls-skip-verify"); err != nil || !insecure {
		t.Fatalf("-tls-skip-verify: insecure=%v err=%v", insecure, err)
	}
}

func TestAddressFlagBeatsEnv(t *testing.T) {
	clearVaultEnv(t)
	s := vaulttest.StartDev(t)
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	if _, err := clientFor(t); err == nil {
		t.Fatal("VAULT_ADDR pointing nowhere worked")
	}
	if _, err := clientFor(t, "-address", s.Addr); err != nil {
		t.Fatalf("-address: %v", err)
	}
}

func TestTokenFile(t *testing.T) {
	clearVaultEnv(t)
	t.Setenv("VAULT_TOKEN", "from-env")
	dir := t.TempDir()
	p := filepath.Join(dir, "tok")
	if err := os.WriteFile(p, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var f Flags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f.Register(fs, true)
	if err := fs.Parse([]string{"-token-file", p}); err != nil {
		t.Fatal(err)
	}
	c, _, err := f.Client()
	if err != nil || c.Token() != "from-file" {
		t.Fatalf("token %q err %v, want the file's token", c.Token(), err)
	}
	c, _, err = (&Flags{}).Client()
	if err != nil || c.Token() != "from-env" {
		t.Fatalf("token %q err %v, want VAULT_TOKEN", c.Token(), err)
	}
	c, _, err = (&Flags{}).Client(WithoutToken())
	if err != nil || c.Token() != "" {
		t.Fatalf("WithoutToken kept %q", c.Token())
	}
	if err := os.WriteFile(p, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTokenFile(p); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty token file: %v", err)
	}
	if err := os.WriteFile(p, make([]byte, 5000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTokenFile(p); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Fatalf("huge token file: %v", err)
	}
}

func TestWrappingLookupDisabled(t *testing.T) {
	clearVaultEnv(t)
	s := vaulttest.StartDev(t)
	t.Setenv("VAULT_ADDR", s.Addr)
	t.Setenv("VAULT_TOKEN", s.RootToken)
	// With the library default, VAULT_WRAP_TTL would wrap every response.
	t.Setenv("VAULT_WRAP_TTL", "60s")
	c, _, err := (&Flags{}).Client()
	if err != nil {
		t.Fatal(err)
	}
	sec, err := c.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	if sec.WrapInfo != nil || sec.Data["id"] == nil {
		t.Fatalf("response was wrapped because of VAULT_WRAP_TTL: %+v", sec.WrapInfo)
	}
}

// A request to a Vault that accepts but never answers gives up after the
// caller's default timeout, and VAULT_CLIENT_TIMEOUT, when set, wins.
func TestDefaultTimeout(t *testing.T) {
	clearVaultEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	call := func() time.Duration {
		t.Helper()
		f := Flags{Address: "http://" + ln.Addr().String()}
		c, _, err := f.Client(WithDefaultTimeout(300*time.Millisecond), WithMaxRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.Sys().HealthWithContext(context.Background()); err == nil {
			t.Fatal("a Vault that never answers answered")
		}
		return time.Since(start)
	}
	if d := call(); d > 3*time.Second {
		t.Fatalf("gave up after %v, want about 300ms", d)
	}
	t.Setenv("VAULT_CLIENT_TIMEOUT", "1500ms")
	if d := call(); d < time.Second {
		t.Fatalf("gave up after %v although VAULT_CLIENT_TIMEOUT is 1.5s", d)
	}
}

// TestConcurrencyKeepsConnections: with WithConcurrency(n), n requests at
// once, twice over, dial n connections in all; without it the pooled
// transport keeps GOMAXPROCS+1 and dials again for the rest.
func TestConcurrencyKeepsConnections(t *testing.T) {
	clearVaultEnv(t)
	var dials atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // so that the requests overlap
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"k":"v"}}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	const n = 8
	rounds := func(opts ...Option) int64 {
		t.Helper()
		dials.Store(0)
		f := Flags{Address: srv.URL}
		c, _, err := f.Client(opts...)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := c.Logical().ReadWithContext(context.Background(), "secret/x"); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		return dials.Load()
	}
	if got := rounds(WithConcurrency(n)); got != n {
		t.Errorf("with WithConcurrency(%d): %d connections for 2 rounds of %d requests, want %d", n, got, n, n)
	}
	if got := rounds(); got <= n {
		t.Errorf("without it: %d connections; the check above proves nothing if the default pool already keeps %d", got, n)
	}
}
