// Package vaulttest starts real Vault servers for tests: a dev server, a
// TLS server with file or raft storage that still needs init and unseal, and
// a three-node raft cluster, all on loopback with random ports.
//
// The binary is the one `make tools` builds from the pinned module in
// tools/vault. A test that cannot find or start it fails: keyturn's tests
// never fall back to a fake Vault and never skip.
package vaulttest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Binary returns the path of the vault binary: $KEYTURN_VAULT, else bin/vault
// at the root of the keyturn module that holds the working directory.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := findBinary("KEYTURN_VAULT", "vault")
	if err != nil {
		t.Fatalf("vaulttest: %v (hint: run `make tools`, or set KEYTURN_VAULT)", err)
	}
	return p
}

// findBinary is shared with the other harnesses through ModuleRoot.
func findBinary(envName, name string) (string, error) {
	if p := os.Getenv(envName); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", envName, p, err)
		}
		return p, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no %s binary at %s", name, p)
	}
	return p, nil
}

// ModuleRoot walks up from the working directory to the keyturn module root.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/keyturn/keyturn\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the keyturn module")
		}
		dir = parent
	}
}

// FreePort returns a loopback TCP port that was free a moment ago. The
// small race with other processes is accepted: starts are retried.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("vaulttest: free port: %v", err)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
