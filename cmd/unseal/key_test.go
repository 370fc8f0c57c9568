package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyturn/keyturn/internal/scripttest"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// recorder is a TLS reverse proxy in front of one Vault node that keeps a
// copy of every sys/unseal request body: what `unseal key` really sends.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (rec *recorder) start(t *testing.T, node *vaulttest.Node) (addr, caFile string) {
	t.Helper()
	target, err := url.Parse(node.Addr)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(node.CACert)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("vault CA: %v", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/sys/unseal" && r.Method == http.MethodPut {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			rec.mu.Lock()
			rec.bodies = append(rec.bodies, body)
			rec.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "proxy-ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, caFile
}

func runUnseal(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// The share `unseal key` submits is exactly what Vault's documented
// `base64 -d < NAME.key | gpg -dq` prints, and Vault counts it.
func TestKeySubmitsWhatGPGDecrypts(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "VAULT_") {
			t.Setenv(name, "")
		}
	}
	node := vaulttest.StartNode(t)
	ops := []*scripttest.GnuPG{
		scripttest.NewGnuPG(t, "alice", "", "future-default"),
		scripttest.NewGnuPG(t, "bob", "", "rsa2048"),
		scripttest.NewGnuPG(t, "carol", "", "future-default"),
	}
	dir := t.TempDir()
	args := []string{"init", "-threshold", "2", "-out", filepath.Join(dir, "keys"), "-address", node.Addr, "-ca-cert", node.CACert}
	for _, g := range ops {
		pub, err := g.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, strings.ToLower(strings.Fields(g.UID)[0])+".asc")
		if err := os.WriteFile(p, pub, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-pgp-key", p)
	}
	if code, _, stderr := runUnseal(t, args...); code != 0 {
		t.Fatalf("init exited %d: %s", code, stderr)
	}

	var rec recorder
	proxyAddr, proxyCA := rec.start(t, node)
	for i, g := range ops[:2] {
		keyFile := filepath.Join(dir, "keys", strings.ToLower(strings.Fields(g.UID)[0])+".asc.key")
		want, err := g.DecryptFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != 66 || strings.Trim(string(want), "0123456789abcdef") != "" {
			t.Fatalf("gpg -dq of %s: not 66 lowercase hex digits (%d bytes)", keyFile, len(want))
		}
		t.Setenv("GNUPGHOME", g.Home)
		code, stdout, stderr := runUnseal(t, "key", "-key-file", keyFile, "-address", proxyAddr, "-ca-cert", proxyCA, "-log-level", "trace")
		if code != 0 {
			t.Fatalf("key %d exited %d: %s", i, code, stderr)
		}
		if strings.Contains(stdout+stderr, string(want)) {
			t.Fatal("the share shows in the output")
		}
		rec.mu.Lock()
		if len(rec.bodies) != i+1 {
			t.Fatalf("%d unseal requests recorded, want %d", len(rec.bodies), i+1)
		}
		var body struct {
			Key   string `json:"key"`
			Reset bool   `json:"reset"`
		}
		if err := json.Unmarshal(rec.bodies[i], &body); err != nil {
			t.Fatalf("unseal request body is not JSON: %v", err)
		}
		rec.mu.Unlock()
		if body.Key != string(want) {
			t.Fatalf("submitted share differs from `base64 -d | gpg -dq` (%d vs %d characters)", len(body.Key), len(want))
		}
	}
	st, err := node.Client(t, "").Sys().SealStatus()
	if err != nil || st.Sealed {
		t.Fatalf("after two shares: sealed=%v err=%v", st != nil && st.Sealed, err)
	}
}
