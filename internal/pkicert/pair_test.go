package pkicert_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/secfile"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// readPair reads key and certificate as a reader of the directory should:
// through ..data resolved once. A generation removed between the readlink
// and the reads shows as "not exist", and the reader tries again.
func readPair(dir string) (cert, key []byte, err error) {
	gen, err := os.Readlink(filepath.Join(dir, secfile.DataLink))
	if err != nil {
		return nil, nil, err
	}
	if key, err = os.ReadFile(filepath.Join(dir, gen, "key.pem")); err != nil {
		return nil, nil, err
	}
	cert, err = os.ReadFile(filepath.Join(dir, gen, "cert.pem"))
	return cert, key, err
}

func TestPairStaysMatchedDuringRenewals(t *testing.T) {
	s := vaulttest.StartDev(t)
	c := s.RootClient(t)
	if err := c.Sys().Mount("pki", &api.MountInput{Type: "pki", Config: api.MountConfigInput{MaxLeaseTTL: "48h"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "keyturn test root", "ttl": "48h", "key_type": "ec"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("pki/roles/app", map[string]any{"allowed_domains": "example.com", "allow_subdomains": true, "max_ttl": "2h", "key_type": "ec"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r, err := pkicert.Parse(dir + "=pki/issue/app?common_name=app.example.com&ttl=1h")
	if err != nil {
		t.Fatal(err)
	}
	// An older version left plain files: they become links.
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	var certs []*pkicert.Cert
	for range 10 {
		cert, err := pkicert.Issue(context.Background(), c, r)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, cert)
	}
	if err := certs[0].Write(dir); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var reads, retries, mismatches atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				cert, key, err := readPair(dir)
				if errors.Is(err, fs.ErrNotExist) {
					retries.Add(1)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				reads.Add(1)
				if _, err := tls.X509KeyPair(cert, key); err != nil {
					mismatches.Add(1)
				}
			}
		}()
	}
	const renewals = 300
	for i := range renewals {
		if err := certs[i%len(certs)].Write(dir); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d renewals, %d pair reads, %d retries after a generation was removed", renewals, reads.Load(), retries.Load())
	if mismatches.Load() != 0 {
		t.Fatalf("%d of %d reads found a key with another key's certificate", mismatches.Load(), reads.Load())
	}
	if reads.Load() < renewals {
		t.Fatalf("only %d reads during %d renewals: the test did not race", reads.Load(), renewals)
	}
	// The stable names work for a reader that opens one file, and only
	// the current generation is left.
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names, gens []string
	for _, e := range ents {
		names = append(names, e.Name())
		if strings.HasPrefix(e.Name(), "..") && e.Name() != secfile.DataLink {
			gens = append(gens, e.Name())
		}
	}
	if len(gens) != 1 || len(names) != 5 || !slices.Contains(names, "ca.pem") {
		t.Fatalf("directory holds %v, want ..data, one generation, ca.pem, cert.pem, key.pem", names)
	}
}
