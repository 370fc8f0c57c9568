package vaultconn

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/internal/vaulttest"
)

func parseNodeFlags(t *testing.T, args ...string) (*NodeFlags, error) {
	t.Helper()
	var n NodeFlags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n.Register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return &n, nil
}

func TestNodeAddresses(t *testing.T) {
	clearVaultEnv(t)
	dir := t.TempDir()
	nodes := filepath.Join(dir, "nodes")
	content := "# the cluster\nhttps://10.0.0.2:8200\n\n  https://10.0.0.3:8200/  # third\nhttps://10.0.0.1:8200\n"
	if err := os.WriteFile(nodes, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := parseNodeFlags(t, "-address", "https://10.0.0.1:8200", "-address", "http://127.0.0.1:8200/", "-nodes", nodes)
	if err != nil {
		t.Fatal(err)
	}
	got, err := n.Addresses()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://10.0.0.1:8200", "http://127.0.0.1:8200", "https://10.0.0.2:8200", "https://10.0.0.3:8200"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("addresses %q, want %q", got, want)
	}

	// VAULT_ADDR is the single node when no flag names one.
	n, _ = parseNodeFlags(t)
	if _, err := n.Addresses(); err == nil || !strings.Contains(err.Error(), "no Vault node given") {
		t.Fatalf("no address: %v", err)
	}
	t.Setenv("VAULT_ADDR", "https://vault.example:8200")
	if got, err := n.Addresses(); err != nil || !reflect.DeepEqual(got, []string{"https://vault.example:8200"}) {
		t.Fatalf("VAULT_ADDR: %q %v", got, err)
	}

	for _, bad := range []string{"vault:8200", "ftp://x:1", "https://", "https://u:hunter2@x:1", "https://x:1?a=b"} {
		n, _ := parseNodeFlags(t, "-address", bad)
		_, err := n.Addresses()
		if err == nil {
			t.Errorf("address %q accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error repeats a password: %v", err)
		}
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# nothing\n\n"), 0o600)
	n, _ = parseNodeFlags(t, "-nodes", empty)
	if _, err := n.Addresses(); err == nil || !strings.Contains(err.Error(), "lists no address") {
		t.Fatalf("empty nodes file: %v", err)
	}
	two := filepath.Join(dir, "two")
	os.WriteFile(two, []byte("https://a:1 https://b:1\n"), 0o600)
	n, _ = parseNodeFlags(t, "-nodes", two)
	if _, err := n.Addresses(); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("two addresses on a line: %v", err)
	}
	n, _ = parseNodeFlags(t, "-nodes", filepath.Join(dir, "missing"))
	if _, err := n.Addresses(); err == nil {
		t.Fatal("missing nodes file accepted")
	}
}

// Every node client gets the TLS settings of the shared flags, and -address
// is repeatable while the other flags keep their single-value behaviour.
func TestClientForUsesSharedTLS(t *testing.T) {
	clearVaultEnv(t)
	c := vaulttest.StartCluster(t, 2)
	n, err := parseNodeFlags(t, "-address", c.Nodes[0].Addr, "-address", c.Nodes[1].Addr, "-ca-cert", c.CA.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := n.Addresses()
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range addrs {
		cl, insecure, err := n.ClientFor(a)
		if err != nil || insecure {
			t.Fatalf("node %d: insecure=%v err=%v", i, insecure, err)
		}
		if cl.Address() != c.Nodes[i].Addr {
			t.Fatalf("node %d: client address %s, want %s", i, cl.Address(), c.Nodes[i].Addr)
		}
		st, err := cl.Sys().SealStatusWithContext(context.Background())
		if err != nil || !st.Sealed {
			t.Fatalf("node %d: seal status %+v %v", i, st, err)
		}
	}
	// Without the CA, verification fails for each node.
	n, _ = parseNodeFlags(t, "-address", c.Nodes[0].Addr)
	cl, _, err := n.ClientFor(c.Nodes[1].Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Sys().SealStatusWithContext(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("no CA: %v, want a certificate error", err)
	}
	if _, _, err := n.ClientFor(""); err == nil {
		t.Fatal("empty address accepted")
	}
	// The flags ClientFor copies are not changed by it.
	if n.Flags.Address != "" {
		t.Fatalf("Flags.Address changed to %q", n.Flags.Address)
	}
	if _, err := parseNodeFlags(t, "-token-file", "x"); err == nil {
		t.Fatal("-token-file accepted by NodeFlags")
	}
}
