package unseal

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

func testNode(t *testing.T, addr, caFile string) *Node {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: caFile}); err != nil {
		t.Fatal(err)
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return NewNode(addr, c)
}

func share(t *testing.T, hexKey string) *Share {
	t.Helper()
	s, err := NewShare([]byte(hexKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Wipe)
	return s
}

// Turn against real nodes: one initialised, one that never can take a
// share, one address where nothing listens. The share is sent again after
// a progress reset; a wrong combination is rejected; two shares unseal.
func TestTurn(t *testing.T) {
	a := vaulttest.StartNode(t)
	b := vaulttest.StartNode(t)
	init, err := a.Client(t, "").Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*Node{
		testNode(t, a.Addr, a.CACert),
		testNode(t, b.Addr, b.CACert),
		testNode(t, fmt.Sprintf("https://127.0.0.1:%d", vaulttest.FreePort(t)), a.CACert),
	}
	var mu sync.Mutex
	var events []string
	opts := TurnOptions{
		Wait:       4 * time.Second,
		Poll:       100 * time.Millisecond,
		ResetGrace: 300 * time.Millisecond,
	}
	opts.Event = func(addr, msg string) {
		mu.Lock()
		events = append(events, addr+": "+msg)
		mu.Unlock()
	}

	// While b keeps the turn waiting, a's progress is reset: the share is
	// submitted again.
	done := make(chan []NodeResult)
	go func() { done <- Turn(context.Background(), nodes, share(t, init.Keys[0]), opts) }()
	ac := a.Client(t, "")
	var before string
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := ac.Sys().SealStatus()
		if err == nil && st.Progress == 1 {
			before = st.Nonce
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the share did not arrive: %+v %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := ac.Sys().UnsealWithOptions(&api.UnsealOpts{Reset: true}); err != nil {
		t.Fatal(err)
	}
	rs := <-done
	if rs[0].Outcome != Accepted || rs[0].Submitted != 2 || rs[0].Status.Progress != 1 || rs[0].Status.Nonce == before {
		t.Fatalf("node a: %+v (want accepted twice, under a new nonce)", rs[0])
	}
	if rs[1].Outcome != NotJoined || rs[1].Submitted != 0 {
		t.Fatalf("node b: %+v", rs[1])
	}
	if rs[2].Outcome != Unreachable || !strings.Contains(rs[2].Err.Error(), "connection refused") ||
		!errors.Is(rs[2].Err, ErrUnreachable) || !errors.Is(rs[2].Err, retry.ErrUnavailable) {
		t.Fatalf("node c: %+v %v", rs[2], rs[2].Err)
	}
	mu.Lock()
	joined := strings.Join(events, "\n")
	mu.Unlock()
	if !strings.Contains(joined, "progress was reset; submitting the share again") {
		t.Fatalf("no reset event in:\n%s", joined)
	}

	// A share of another Vault completes a wrong combination.
	other := make([]byte, 33)
	other[32] = 7
	rs = Turn(context.Background(), nodes[:1], share(t, hex.EncodeToString(other)), TurnOptions{})
	if rs[0].Outcome != Rejected || rs[0].Err == nil {
		t.Fatalf("wrong share: %+v", rs[0])
	}
	st, _ := ac.Sys().SealStatus()
	if !st.Sealed || st.Progress != 0 {
		t.Fatalf("after the rejection: %+v", st)
	}

	// Two operators in turn.
	rs = Turn(context.Background(), nodes[:1], share(t, init.Keys[1]), TurnOptions{})
	if rs[0].Outcome != Accepted || rs[0].Status.Progress != 1 {
		t.Fatalf("first share: %+v", rs[0])
	}
	rs = Turn(context.Background(), nodes[:1], share(t, init.Keys[2]), TurnOptions{})
	if rs[0].Outcome != Unsealed || !rs[0].Completed || rs[0].Status.Sealed {
		t.Fatalf("second share: %+v", rs[0])
	}
	rs = Turn(context.Background(), nodes[:1], share(t, init.Keys[0]), TurnOptions{})
	if rs[0].Outcome != Unsealed || rs[0].Submitted != 0 {
		t.Fatalf("an unsealed node got the share: %+v", rs[0])
	}
}
