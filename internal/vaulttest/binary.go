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
	mathrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
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

// quietPort returns a loopback port below the kernel's ephemeral range
// that is free now and not in picked (which it joins). A cluster node binds
// its cluster port only once it is unsealed, tens of seconds after the
// port was picked, and its API port again when restarted: a port of the
// ephemeral range may meanwhile become the source port of any outgoing
// connection or another test's listen on port 0, the two things that
// collided under load. Below the range only a start that picks the same
// port at random can.
func quietPort(t testing.TB, picked map[int]bool) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const base = 10000
	if low <= base+1000 {
		// No room below the range: the ephemeral one is all there is.
		for {
			if p := FreePort(t); !picked[p] {
				picked[p] = true
				return p
			}
		}
	}
	for range 200 {
		p := base + mathrand.IntN(low-base)
		if picked[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		picked[p] = true
		return p
	}
	t.Fatalf("vaulttest: no free port below %d", low)
	return 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
