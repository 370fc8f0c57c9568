// Package clustertest runs keyturn's main story in real containers: a three-node Vault
// cluster with raft storage and TLS from its own CA, unsealed by operators
// with gpg keys, a launcher minting one-time IDs, apps started through
// prestart as PID 1, node loss, partitions, docker stop and restart, and
// the S3 + KMS variant. The images are the ones `make images` builds.
//
// Operators work from the host, as they would from their own machines: they
// run bin/unseal with their own gpg keyrings against each node's port,
// published on 127.0.0.1, and verify it with the cluster's CA (every node's
// certificate names 127.0.0.1 besides its DNS names on the network).
package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keyturn/keyturn/internal/dockertest"
	"github.com/keyturn/keyturn/internal/scripttest"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// VaultAlias is the DNS name every Vault node answers to, as a load
// balancer in front of the cluster would: apps use https://vault:8200.
const VaultAlias = "vault"

// Cluster is three Vault containers and the operators who unseal them.
// For a cluster that docker-compose started, only HostAddrs, CAFile and
// the directory are set (ExternalCluster).
type Cluster struct {
	Env   *dockertest.Env
	CA    *vaulttest.CA
	Nodes []*dockertest.Container
	// HostAddrs are the nodes' API addresses as the host sees them.
	HostAddrs []string
	// CAFile is the CA certificate on the host.
	CAFile string
	// KeysDir holds the PGP-encrypted shares and root token from init.
	KeysDir string
	// Operators hold one share each; Operators[0] also holds the root
	// token.
	Operators []*scripttest.GnuPG
	// Root is an API client with the root token (for set-up and checks).
	Root *api.Client

	dir string
	// owner is the top-level test: the operators' keyrings live as long
	// as it does, not only as long as the subtest that made them.
	owner testing.TB
}

// ExternalCluster is a cluster started by something else (docker-compose)
// whose nodes the host reaches at addrs, verified with the CA in caFile.
func ExternalCluster(t testing.TB, addrs []string, caFile string) *Cluster {
	return &Cluster{HostAddrs: addrs, CAFile: caFile, dir: t.TempDir(), owner: t}
}

// NodeName is the DNS name of node i (0-based) on the network.
func NodeName(i int) string { return fmt.Sprintf("vault-%d", i+1) }

func nodeConfig(i, n int) string {
	var joins strings.Builder
	for j := 0; j < n; j++ {
		if j != i {
			fmt.Fprintf(&joins, "  retry_join {\n    leader_api_addr     = \"https://%s:8200\"\n    leader_ca_cert_file = \"/vault/tls/ca.pem\"\n  }\n", NodeName(j))
		}
	}
	return fmt.Sprintf(`storage "raft" {
  path    = "/vault/data"
  node_id = %q
%s}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_cert_file   = "/vault/tls/server.pem"
  tls_key_file    = "/vault/tls/server-key.pem"
}

api_addr      = "https://%s:8200"
cluster_addr  = "https://%s:8201"
disable_mlock = true
ui            = false
`, NodeName(i), joins.String(), NodeName(i), NodeName(i))
}

// StartCluster starts n uninitialised Vault nodes on the env's network.
func StartCluster(ctx context.Context, t testing.TB, e *dockertest.Env, n int) *Cluster {
	t.Helper()
	c := &Cluster{Env: e, CA: vaulttest.NewCA(t), dir: t.TempDir(), owner: t}
	c.CAFile = filepath.Join(c.dir, "ca.pem")
	writeFile(t, c.CAFile, c.CA.PEM)
	var wg sync.WaitGroup
	c.Nodes = make([]*dockertest.Container, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		cert, key := c.CA.IssuePEM(t, NodeName(i), VaultAlias, "localhost")
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Nodes[i], errs[i] = e.TryStart(ctx, dockertest.Spec{
				Name:    NodeName(i),
				Aliases: []string{VaultAlias},
				Image:   dockertest.Image("vault"),
				Files: []dockertest.File{
					{Path: "/vault/config/vault.hcl", Data: []byte(nodeConfig(i, n)), Mode: 0o644},
					{Path: "/vault/tls/ca.pem", Data: c.CA.PEM, Mode: 0o644},
					{Path: "/vault/tls/server.pem", Data: cert, Mode: 0o644},
					{Path: "/vault/tls/server-key.pem", Data: key},
				},
				Ports: []string{"8200/tcp"},
				Wait:  wait.ForLog("Vault server started").WithStartupTimeout(time.Minute),
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start %s: %v", NodeName(i), err)
		}
	}
	for _, node := range c.Nodes {
		c.HostAddrs = append(c.HostAddrs, "https://"+node.HostAddr(ctx, t, "8200/tcp"))
	}
	return c
}

// Init runs `unseal init` with three operators' real gpg keys (threshold
// 2), then has the first two operators turn their keys at the same time
// against every node, and decrypts the root token with the first
// operator's key.
func (c *Cluster) Init(ctx context.Context, t testing.TB) {
	t.Helper()
	names := []string{"alice", "bob", "carol"}
	args := []string{"init", "-threshold", "2", "-out", filepath.Join(c.dir, "keys"), "-address", c.HostAddrs[0]}
	for _, name := range names {
		g := scripttest.NewGnuPG(c.owner, name, "", "future-default")
		pub, err := g.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(c.dir, name+".asc")
		if err := os.WriteFile(f, pub, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-pgp-key", f)
		c.Operators = append(c.Operators, g)
	}
	c.KeysDir = filepath.Join(c.dir, "keys")
	if out, err := c.Unseal(ctx, t, nil, args...); err != nil {
		t.Fatalf("unseal init: %v\n%s", err, out)
	}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = c.TurnKey(ctx, t, i)
		}()
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("unseal key (%s): %v\n%s", names[i], errs[i], outs[i])
		}
	}
	tok, err := c.Operators[0].DecryptFile(filepath.Join(c.KeysDir, "root-token.key"))
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSpace(string(tok))
	writeFile(t, filepath.Join(c.dir, "root.token"), []byte(root))
	c.Root = c.Client(t, 0, root)
}

// TurnKey runs `unseal key` as operator i against every node.
func (c *Cluster) TurnKey(ctx context.Context, t testing.TB, i int) (string, error) {
	args := []string{"key", "-key-file", filepath.Join(c.KeysDir, fmt.Sprintf("%s.asc.key", []string{"alice", "bob", "carol"}[i])), "-wait", "90s"}
	for _, a := range c.HostAddrs {
		args = append(args, "-address", a)
	}
	return c.Unseal(ctx, t, []string{"GNUPGHOME=" + c.Operators[i].Home}, args...)
}

// Unseal runs bin/unseal on the host with the cluster's CA.
func (c *Cluster) Unseal(ctx context.Context, t testing.TB, env []string, args ...string) (string, error) {
	return runTool(ctx, t, "unseal", append(env, "VAULT_CACERT="+c.CAFile), args...)
}

// Issuer runs bin/issuer on the host against node 0 with the root token
// (the operator's bootstrap).
func (c *Cluster) Issuer(ctx context.Context, t testing.TB, args ...string) (string, error) {
	env := []string{"VAULT_CACERT=" + c.CAFile, "VAULT_ADDR=" + c.HostAddrs[0]}
	return runTool(ctx, t, "issuer", env, append(args, "-token-file", filepath.Join(c.dir, "root.token"))...)
}

// Client is an API client for node i as the host sees it.
func (c *Cluster) Client(t testing.TB, i int, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = c.HostAddrs[i]
	if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: c.CAFile}); err != nil {
		t.Fatal(err)
	}
	cfg.MaxRetries = 0
	cl, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(token)
	cl.SetWrappingLookupFunc(func(string, string) string { return "" })
	return cl
}

// RootOn is a root client for node i.
func (c *Cluster) RootOn(t testing.TB, i int) *api.Client {
	return c.Client(t, i, c.Root.Token())
}

// Active returns the index of the active node, waiting up to timeout for
// one, and skipping the nodes in except.
func (c *Cluster) Active(ctx context.Context, t testing.TB, timeout time.Duration, except ...int) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
	nodes:
		for i := range c.HostAddrs {
			for _, x := range except {
				if x == i {
					continue nodes
				}
			}
			h, err := c.Client(t, i, "").Sys().HealthWithContext(ctx)
			if err == nil && h.Initialized && !h.Sealed && !h.Standby {
				return i
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("no active Vault node within %s", timeout)
	return -1
}

// Voters counts the raft peers that vote, and all peers.
func (c *Cluster) Voters(ctx context.Context, t testing.TB) (voters, total int) {
	t.Helper()
	sec, err := c.Root.Logical().ReadWithContext(ctx, "sys/storage/raft/configuration")
	if err != nil || sec == nil {
		t.Fatalf("raft configuration: %v", err)
	}
	cfg, _ := sec.Data["config"].(map[string]any)
	servers, _ := cfg["servers"].([]any)
	for _, s := range servers {
		if m, _ := s.(map[string]any); m != nil {
			total++
			if v, _ := m["voter"].(bool); v {
				voters++
			}
		}
	}
	return voters, total
}

// binDir is the module's bin/, where make build puts the tools.
func binDir(t testing.TB) string {
	root, err := vaulttest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "bin")
}

// runTool runs a keyturn binary from bin/ with a clean Vault environment.
func runTool(ctx context.Context, t testing.TB, name string, env []string, args ...string) (string, error) {
	bin := filepath.Join(binDir(t), name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run make build", bin)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") && !strings.HasPrefix(kv, "GNUPGHOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
