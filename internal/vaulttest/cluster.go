package vaulttest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Node is one non-dev Vault server with TLS and raft storage. It starts
// uninitialised (or sealed, after a restart), as a production node does.
type Node struct {
	*Server
	Name        string
	ClusterAddr string
	config      string
	bin         string
}

// Cluster is a set of raft nodes on loopback that join each other through
// retry_join once they are unsealed.
type Cluster struct {
	CA    *CA
	Nodes []*Node
}

// StartNode starts a single TLS node with raft storage. It answers
// sys/health with 501 (not initialised) when StartNode returns.
func StartNode(t testing.TB) *Node {
	t.Helper()
	c := StartCluster(t, 1)
	return c.Nodes[0]
}

// StartCluster starts n raft nodes sharing one CA. Every node lists every
// other node in retry_join, so after the first node is initialised and
// unsealed the others join as soon as they are unsealed themselves.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := Binary(t)
	ca := NewCA(t)
	dir := t.TempDir()
	type ports struct{ api, cluster int }
	ps := make([]ports, n)
	picked := map[int]bool{}
	for i := range ps {
		ps[i] = ports{quietPort(t, picked), quietPort(t, picked)}
	}
	c := &Cluster{CA: ca}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("node%d", i+1)
		certFile, keyFile := ca.Issue(t, name)
		ndir := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(ndir, "raft"), 0o700); err != nil {
			t.Fatal(err)
		}
		var joins strings.Builder
		for j := 0; j < n; j++ {
			if j == i {
				continue
			}
			fmt.Fprintf(&joins, "  retry_join {\n    leader_api_addr = \"https://127.0.0.1:%d\"\n    leader_ca_cert_file = %q\n  }\n", ps[j].api, ca.CertFile)
		}
		cfg := fmt.Sprintf(`storage "raft" {
  path    = %q
  node_id = %q
%s}

listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_cert_file   = %q
  tls_key_file    = %q
}

api_addr      = "https://127.0.0.1:%d"
cluster_addr  = "https://127.0.0.1:%d"
disable_mlock = true
ui            = false
`, filepath.Join(ndir, "raft"), name, joins.String(), ps[i].api, ps[i].cluster, certFile, keyFile, ps[i].api, ps[i].cluster)
		cfgPath := filepath.Join(ndir, "vault.hcl")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		node := &Node{
			Server: &Server{
				Addr:    fmt.Sprintf("https://127.0.0.1:%d", ps[i].api),
				CACert:  ca.CertFile,
				LogPath: filepath.Join(ndir, "vault.log"),
				t:       t,
				args:    []string{"server", "-config=" + cfgPath, "-log-level=debug"},
			},
			Name:        name,
			ClusterAddr: fmt.Sprintf("https://127.0.0.1:%d", ps[i].cluster),
			config:      cfgPath,
			bin:         bin,
		}
		if err := node.start(bin); err != nil {
			t.Fatalf("vaulttest: %s: %v", name, err)
		}
		c.Nodes = append(c.Nodes, node)
	}
	for _, node := range c.Nodes {
		if err := node.waitHealthy(30*time.Second, http.StatusNotImplemented, http.StatusServiceUnavailable); err != nil {
			t.Fatalf("vaulttest: %s: %v", node.Name, err)
		}
	}
	return c
}

// Restart kills the node (as a crash would) and starts it again on the same
// address and storage; it comes back sealed.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	n.Kill()
	if err := n.start(n.bin); err != nil {
		t.Fatalf("vaulttest: restart %s: %v", n.Name, err)
	}
	if err := n.waitHealthy(30*time.Second, http.StatusServiceUnavailable, http.StatusNotImplemented); err != nil {
		t.Fatalf("vaulttest: restart %s: %v", n.Name, err)
	}
}

// Addrs returns the API address of every node.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr)
	}
	return out
}

// WaitActive waits until some node reports itself active and returns it.
func (c *Cluster) WaitActive(t testing.TB, timeout time.Duration) *Node {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			cl := n.Client(t, "")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			h, err := cl.Sys().HealthWithContext(ctx)
			cancel()
			if err == nil && h.Initialized && !h.Sealed && !h.Standby {
				return n
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("vaulttest: no active node after %s", timeout)
	return nil
}
