package vaulterr_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/vaulterr"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// client returns a Vault client for addr that does not retry on its own,
// so each test sees the first failure.
func client(t *testing.T, addr, caFile string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	if caFile != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: caFile}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func request(t *testing.T, c *api.Client, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := c.Sys().HealthWithContext(ctx)
	if err == nil {
		t.Fatal("request succeeded, want a failure")
	}
	return err
}

// tlsListener serves TLS handshakes with a certificate for 127.0.0.1 and
// localhost on host, and nothing after them.
func tlsListener(t *testing.T, ca *vaulttest.CA, host string) string {
	t.Helper()
	certFile, keyFile := ca.Issue(t, "server")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", net.JoinHostPort(host, "0"), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.(*tls.Conn).Handshake()
			}()
		}
	}()
	return "https://" + ln.Addr().String()
}

// mustUnavailable checks the whole contract of a transport failure.
func mustUnavailable(t *testing.T, err error) error {
	t.Helper()
	if !vaulterr.Transport(err) {
		t.Fatalf("Transport(%v) = false, want true", err)
	}
	cerr := vaulterr.Classify("read secret", err)
	if !errors.Is(cerr, vaulterr.ErrUnavailable) || !errors.Is(cerr, retry.ErrUnavailable) {
		t.Fatalf("Classify(%v) = %v, want an unavailable error matching retry.ErrUnavailable", err, cerr)
	}
	var ve *vaulterr.Error
	if !errors.As(cerr, &ve) || !strings.HasPrefix(ve.Error(), "read secret: vault is unavailable: ") {
		t.Fatalf("Classify text %q", cerr)
	}
	return cerr
}

func TestTransportFailures(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		err = request(t, client(t, "http://"+addr, ""), 5*time.Second)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("want connection refused, got %v", err)
		}
		cerr := mustUnavailable(t, err)
		if vaulterr.Certificate(cerr) {
			t.Fatal("a refused connection is no certificate problem")
		}
	})
	t.Run("dns failure", func(t *testing.T) {
		err := request(t, client(t, "http://vault.keyturn.invalid:8200", ""), 10*time.Second)
		var dns *net.DNSError
		if !errors.As(err, &dns) {
			t.Fatalf("want a DNS error, got %v", err)
		}
		mustUnavailable(t, err)
	})
	t.Run("unknown authority", func(t *testing.T) {
		ca := vaulttest.NewCA(t)
		addr := tlsListener(t, ca, "127.0.0.1")
		err := request(t, client(t, addr, ""), 5*time.Second)
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Fatalf("want x509.UnknownAuthorityError, got %v", err)
		}
		cerr := mustUnavailable(t, err)
		if !vaulterr.Certificate(cerr) {
			t.Fatalf("Certificate(%v) = false", cerr)
		}
	})
	t.Run("wrong host name", func(t *testing.T) {
		ca := vaulttest.NewCA(t)
		// The certificate names 127.0.0.1 and localhost; all of 127/8 is
		// loopback on Linux, so 127.0.0.2 reaches it under another name.
		addr := tlsListener(t, ca, "127.0.0.2")
		err := request(t, client(t, addr, ca.CertFile), 5*time.Second)
		var hn x509.HostnameError
		if !errors.As(err, &hn) {
			t.Fatalf("want x509.HostnameError, got %v", err)
		}
		if !vaulterr.Certificate(mustUnavailable(t, err)) {
			t.Fatal("a host name mismatch is a certificate problem")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		// A listener that accepts and never answers: the request ends at
		// the context's deadline.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		err = request(t, client(t, "http://"+ln.Addr().String(), ""), 200*time.Millisecond)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want the deadline, got %v", err)
		}
		mustUnavailable(t, err)
	})
}

func TestNotTransport(t *testing.T) {
	t.Run("missing local file", func(t *testing.T) {
		// syscall.Errno implements net.Error: a test for net.Error would
		// take a missing CA file for an unreachable Vault.
		_, err := os.ReadFile(filepath.Join(t.TempDir(), "token"))
		err = fmt.Errorf("read token file: %w", err)
		var ne net.Error
		if !errors.As(err, &ne) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("want a missing-file error that also passes as net.Error, got %T %v", err, err)
		}
		if vaulterr.Transport(err) {
			t.Fatalf("Transport(%v) = true for a local file", err)
		}
		if cerr := vaulterr.Classify("log in", err); errors.Is(cerr, retry.ErrUnavailable) {
			t.Fatalf("Classify(%v) is unavailable", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = client(t, "http://"+ln.Addr().String(), "").Sys().HealthWithContext(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want cancelled, got %v", err)
		}
		if vaulterr.Transport(err) || errors.Is(vaulterr.Classify("read", err), vaulterr.ErrUnavailable) {
			t.Fatalf("a cancelled request counts as unavailable: %v", err)
		}
	})
}

// TestVaultAnswers drives a real Vault to each answer the kinds stand for.
func TestVaultAnswers(t *testing.T) {
	s := vaulttest.StartDev(t)
	root := s.RootClient(t)
	ctx := context.Background()
	if err := root.Sys().PutPolicyWithContext(ctx, "reader", `path "secret/data/app/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	reader := s.Client(t, tok.Auth.ClientToken)

	_, err = reader.Logical().ReadWithContext(ctx, "secret/data/other/db")
	denied := vaulterr.Classify("read secret/other/db", err, tok.Auth.ClientToken)
	if !errors.Is(denied, vaulterr.ErrPermissionDenied) || errors.Is(denied, retry.ErrUnavailable) || vaulterr.Transport(err) {
		t.Fatalf("403: %v", denied)
	}
	if strings.Contains(denied.Error(), tok.Auth.ClientToken) {
		t.Fatal("the token is in the error text")
	}

	_, err = root.Logical().WriteWithContext(ctx, "no-such-mount/x", map[string]any{"a": "b"})
	if nf := vaulterr.Classify("write", err); !errors.Is(nf, vaulterr.ErrNotFound) || errors.Is(nf, retry.ErrUnavailable) {
		t.Fatalf("404: %v", nf)
	}

	if err := root.Sys().SealWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = reader.Logical().ReadWithContext(ctx, "secret/data/app/db")
	sealed := vaulterr.Classify("read", err)
	if vaulterr.StatusCode(err) != 503 || !errors.Is(sealed, vaulterr.ErrUnavailable) || !errors.Is(sealed, retry.ErrUnavailable) {
		t.Fatalf("sealed: %v", sealed)
	}
}
