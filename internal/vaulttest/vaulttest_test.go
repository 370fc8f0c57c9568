package vaulttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

func TestDevServer(t *testing.T) {
	s := StartDev(t)
	c := s.RootClient(t)
	ctx := context.Background()
	if _, err := c.KVv2("secret").Put(ctx, "probe", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("write with the root token: %v", err)
	}
	got, err := c.KVv2("secret").Get(ctx, "probe")
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("read back: %v %v", got, err)
	}
	// The dev root token must be the random one, not Vault's default "root".
	if _, err := s.Client(t, "root").Auth().Token().LookupSelfWithContext(ctx); err == nil {
		t.Fatal("the token \"root\" works; the harness did not set a random root token")
	}
	s.Stop()
	if s.Running() {
		t.Fatal("server still running after Stop")
	}
}

func TestClusterInitUnsealJoin(t *testing.T) {
	c := StartCluster(t, 3)
	ctx := context.Background()
	leader := c.Nodes[0]
	init, err := leader.Client(t, "").Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	leader.RootToken = init.RootToken
	key := init.KeysB64[0]
	unseal := func(n *Node) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err := n.Client(t, "").Sys().UnsealWithContext(ctx, key)
			if err == nil && !st.Sealed {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("unseal %s: %v %+v", n.Name, err, st)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	unseal(leader)
	active := c.WaitActive(t, 30*time.Second)
	if active != leader {
		t.Fatalf("active node is %s, want node1", active.Name)
	}
	// Followers join the leader through retry_join, then take the same key.
	for _, n := range c.Nodes[1:] {
		unseal(n)
	}
	rc := leader.RootClient(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		sec, err := rc.Logical().ReadWithContext(ctx, "sys/storage/raft/configuration")
		if err == nil && sec != nil {
			cfg, _ := sec.Data["config"].(map[string]any)
			servers, _ := cfg["servers"].([]any)
			if len(servers) == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("raft peers did not reach 3: %v %v", sec, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// A killed node comes back sealed.
	c.Nodes[2].Restart(t)
	h, err := c.Nodes[2].Client(t, "").Sys().HealthWithContext(ctx)
	if err != nil || !h.Sealed {
		t.Fatalf("restarted node: sealed=%v err=%v", h != nil && h.Sealed, err)
	}
}

// Cluster ports come from below the ephemeral range, distinct, and free.
func TestQuietPorts(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	low, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil {
		t.Fatal(err)
	}
	picked := map[int]bool{}
	for range 50 {
		p := quietPort(t, picked)
		if low > 11000 && (p < 10000 || p >= low) {
			t.Fatalf("port %d outside [10000, %d)", p, low)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d not free: %v", p, err)
		}
		l.Close()
	}
	if len(picked) != 50 {
		t.Fatalf("%d distinct ports of 50", len(picked))
	}
}
