package pkicert_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

func TestParse(t *testing.T) {
	r, err := pkicert.Parse("/run/tls=pki/issue/app?common_name=app.example.com&ttl=1h&alt_names=a.example.com")
	if err != nil || r.Dir != "/run/tls" || r.Path != "pki/issue/app" || r.Params.Get("ttl") != "1h" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"pki/issue/app?common_name=x", "/d=pki/sign/app?common_name=x", "/d=pki/issue/app", "/d=pki/issue/app?%zz"} {
		if _, err := pkicert.Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestIssueIntoFiles(t *testing.T) {
	s := vaulttest.StartDev(t)
	c := s.RootClient(t)
	if err := c.Sys().Mount("pki", &api.MountInput{Type: "pki", Config: api.MountConfigInput{MaxLeaseTTL: "48h"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "keyturn test root", "ttl": "48h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("pki/roles/app", map[string]any{"allowed_domains": "example.com", "allow_subdomains": true, "max_ttl": "2h"}); err != nil {
		t.Fatal(err)
	}
	r, err := pkicert.Parse(t.TempDir() + "=pki/issue/app?common_name=app.example.com&ttl=1h")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pkicert.Issue(context.Background(), c, r)
	if err != nil {
		t.Fatal(err)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d < 59*time.Minute || d > 61*time.Minute+time.Minute {
		t.Errorf("validity %s, want about 1h", d)
	}
	if ra := time.Until(cert.RenewAt()); ra < 35*time.Minute || ra > 45*time.Minute {
		t.Errorf("renew in %s, want about 40m", ra)
	}
	// A short certificate: Vault backdates NotBefore by 30s, which must not
	// put the renewal in the past.
	short, err := pkicert.Parse(t.TempDir() + "=pki/issue/app?common_name=app.example.com&ttl=6s")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := pkicert.Issue(context.Background(), c, short)
	if err != nil {
		t.Fatal(err)
	}
	if ra := time.Until(sc.RenewAt()); ra < 2*time.Second || ra > 5*time.Second {
		t.Errorf("6s certificate (not before %s, not after %s): renew in %s, want about 4s", sc.NotBefore, sc.NotAfter, ra)
	}
	if err := cert.Write(r.Dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cert.pem", "key.pem", "ca.pem"} {
		fi, err := os.Stat(filepath.Join(r.Dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(r.Dir, "cert.pem"), filepath.Join(r.Dir, "key.pem"))
	if err != nil {
		t.Fatalf("cert.pem and key.pem do not match: %v", err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(r.Dir, "ca.pem"))
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "app.example.com"}); err != nil {
		t.Fatalf("the certificate does not verify against ca.pem: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(r.Dir, "cert.pem"))
	if strings.Count(string(b), "BEGIN CERTIFICATE") != 1 {
		t.Errorf("cert.pem should hold the leaf only under a root CA:\n%s", b)
	}
	// A name outside the role: refused, nothing written.
	bad, _ := pkicert.Parse(t.TempDir() + "=pki/issue/app?common_name=evil.org")
	if _, err := pkicert.Issue(context.Background(), c, bad); err == nil || !strings.Contains(err.Error(), "evil.org") {
		t.Fatalf("foreign name: %v", err)
	}
}
