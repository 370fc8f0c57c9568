package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/faultproxy"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// A leader change in a three-node raft cluster (TLS, own CA) while
// prestart supervises an app through node1, the active node: node1 steps
// down, another node takes over, node1 forwards prestart's requests to it
// as a standby. The token and the app live on; renewals and re-reads go on.
func TestFaultLeaderChangeWhileSupervising(t *testing.T) {
	t.Parallel()
	c := vaulttest.StartCluster(t, 3)
	root := initCluster(t, c)
	node1 := c.Nodes[0]
	p, err := faultproxy.New(strings.TrimPrefix(node1.Addr, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	b := bedOn(t, root, p, "https", c.CA.CertFile)
	s := b.supervise([]string{clientTimeout})
	relogins := s.metric("keyturn_relogins_total")
	renewals := s.metric("keyturn_token_renewals_total")
	reads := s.metric("keyturn_secret_reads_total")
	if err := root.Sys().StepDown(); err != nil {
		t.Fatalf("step-down: %v", err)
	}
	stepped := time.Now()
	deadline := stepped.Add(30 * time.Second)
	for {
		if n := activeNode(t, c); n != nil && n != node1 {
			t.Logf("%s is active %s after the step-down", n.Name, time.Since(stepped).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no other node became active after node1 stepped down")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Three more renewals of the 3s token: at least one was answered by
	// the new leader through node1.
	s.waitMetric("keyturn_token_renewals_total", renewals+3, 20*time.Second)
	s.waitMetric("keyturn_secret_reads_total", reads+3, 10*time.Second)
	t.Logf("after the step-down: %v renewal failures, %v failed re-reads, %v logins",
		s.metric("keyturn_renewal_failures_total"), s.metric("keyturn_secret_read_failures_total"), s.metric("keyturn_relogins_total")-relogins)
	if d := s.metric("keyturn_degraded"); d != 0 {
		t.Errorf("degraded %v after the leader change", d)
	}
	if n := s.metric("keyturn_relogins_total") - relogins; n != 0 {
		t.Errorf("%v new logins: the token did not survive the leader change", n)
	}
	s.keptRunning()
	if code := s.stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want the app's 0", code)
	}
}

// initCluster initialises node1 with one key share, unseals every node,
// waits for three raft voters, mounts KV v2 at secret/, and returns a
// root client on node1.
func initCluster(t *testing.T, c *vaulttest.Cluster) *api.Client {
	t.Helper()
	ctx := context.Background()
	leader := c.Nodes[0]
	init, err := leader.Client(t, "").Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	leader.RootToken = init.RootToken
	unseal := func(n *vaulttest.Node) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err := n.Client(t, "").Sys().UnsealWithContext(ctx, init.KeysB64[0])
			if err == nil && !st.Sealed {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("unseal %s: %v", n.Name, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	unseal(leader)
	c.WaitActive(t, 30*time.Second)
	for _, n := range c.Nodes[1:] {
		unseal(n)
	}
	root := leader.RootClient(t)
	// A step-down needs another voter; autopilot promotes a joined node
	// once it has been healthy for a while.
	deadline := time.Now().Add(60 * time.Second)
	for {
		sec, err := root.Logical().ReadWithContext(ctx, "sys/storage/raft/configuration")
		voters := 0
		if err == nil && sec != nil {
			cfg, _ := sec.Data["config"].(map[string]any)
			servers, _ := cfg["servers"].([]any)
			for _, s := range servers {
				if m, _ := s.(map[string]any); m["voter"] == true {
					voters++
				}
			}
		}
		if voters == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d raft voters after 60s, want 3 (%v)", voters, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := root.Sys().MountWithContext(ctx, "secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	// KV v2 upgrades its new mount in the background: wait until it takes
	// writes.
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, err := root.KVv2("secret").Put(ctx, "probe", map[string]any{"ready": "yes"})
		if err == nil {
			return root
		}
		if time.Now().After(deadline) {
			t.Fatalf("KV v2 at secret/ does not take writes: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// activeNode returns the node that reports itself active, or nil.
func activeNode(t *testing.T, c *vaulttest.Cluster) *vaulttest.Node {
	for _, n := range c.Nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		h, err := n.Client(t, "").Sys().HealthWithContext(ctx)
		cancel()
		if err == nil && h.Initialized && !h.Sealed && !h.Standby {
			return n
		}
	}
	return nil
}
