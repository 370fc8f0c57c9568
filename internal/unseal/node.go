package unseal

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/pgp"
	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/vaulterr"
)

// RequestTimeout bounds every request to a node. A node that takes longer
// is treated as unreachable rather than holding up the others; a raft
// follower that has been given a wrong key while joining is known to hang.
const RequestTimeout = 10 * time.Second

// HA roles as NodeStatus reports them.
const (
	RoleActive      = "active"
	RoleStandby     = "standby"
	RolePerfStandby = "perf-standby"
)

// Node is one Vault server, addressed directly: seal state and unseal
// progress belong to each server, not to the cluster.
type Node struct {
	Addr   string
	client *api.Client
}

// NewNode wraps a client for one node. The client should not retry on its
// own (vaultconn.WithMaxRetries(0)): a retried unseal or rekey request can be
// counted again after the first attempt failed.
func NewNode(addr string, c *api.Client) *Node {
	c.ClearToken()
	// The client's own timeout is applied by a context that its raw write
	// methods cancel on return, before the caller has read the answer; a
	// body not yet buffered then reads as "context canceled". Timeouts are
	// set per request here instead (RequestTimeout).
	c.SetClientTimeout(0)
	return &Node{Addr: addr, client: c}
}

// Client is the node's API client.
func (n *Node) Client() *api.Client { return n.client }

// NodeStatus is what a node says about itself. Nothing in it is secret.
type NodeStatus struct {
	Address     string `json:"address"`
	Reachable   bool   `json:"reachable"`
	Error       string `json:"error,omitempty"`
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	Threshold   int    `json:"threshold"`
	Shares      int    `json:"shares"`
	Progress    int    `json:"progress"`
	Nonce       string `json:"nonce,omitempty"`
	Version     string `json:"version,omitempty"`
	SealType    string `json:"seal_type,omitempty"`
	StorageType string `json:"storage_type,omitempty"`
	ClusterName string `json:"cluster_name,omitempty"`
	HARole      string `json:"ha_role,omitempty"`
	Leader      string `json:"leader_address,omitempty"`
}

// Joined reports whether the node knows its seal configuration and so can
// take shares. A raft follower started with retry_join reports neither an
// initialised state nor a threshold until the leader it joins is unsealed.
func (s NodeStatus) Joined() bool { return s.Initialized && s.Threshold > 0 }

// Status asks the node for its seal status and, once unsealed, its HA role
// and leader. Only the seal status is required; the rest is best effort.
func (n *Node) Status(ctx context.Context) (NodeStatus, error) {
	st := NodeStatus{Address: n.Addr}
	c, cancel := context.WithTimeout(ctx, RequestTimeout)
	ss, err := n.client.Sys().SealStatusWithContext(c)
	cancel()
	if err != nil {
		st.Error = describe(err)
		return st, err
	}
	st.fromSeal(ss)
	if !st.Sealed {
		n.role(ctx, &st)
	}
	return st, nil
}

func (st *NodeStatus) fromSeal(ss *api.SealStatusResponse) {
	st.Reachable = true
	st.Initialized = ss.Initialized
	st.Sealed = ss.Sealed
	st.Threshold = ss.T
	st.Shares = ss.N
	st.Progress = ss.Progress
	st.Nonce = ss.Nonce
	st.Version = ss.Version
	st.SealType = ss.Type
	st.StorageType = ss.StorageType
	st.ClusterName = ss.ClusterName
}

func (n *Node) role(ctx context.Context, st *NodeStatus) {
	c, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	if h, err := n.client.Sys().HealthWithContext(c); err == nil {
		switch {
		case h.Sealed:
		case h.PerformanceStandby:
			st.HARole = RolePerfStandby
		case h.Standby:
			st.HARole = RoleStandby
		default:
			st.HARole = RoleActive
		}
	}
	if l, err := n.client.Sys().LeaderWithContext(c); err == nil && l.HAEnabled {
		st.Leader = l.LeaderAddress
	}
}

// StatusAll asks every node at once and returns the answers in order.
func StatusAll(ctx context.Context, nodes []*Node) []NodeStatus {
	out := make([]NodeStatus, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], _ = n.Status(ctx)
		}()
	}
	wg.Wait()
	return out
}

// submitUnseal sends the share to sys/unseal and returns the node's seal
// status afterwards.
func (n *Node) submitUnseal(ctx context.Context, s *Share) (*api.SealStatusResponse, error) {
	body, err := s.jsonBody("")
	if err != nil {
		return nil, err
	}
	defer pgp.ZeroBytes(body)
	c, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	resp, err := n.client.Logical().WriteRawWithContext(c, "sys/unseal", body)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	var out api.SealStatusResponse
	if err := resp.DecodeJSON(&out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Errors classifying what a node did with a request; test with errors.Is.
var (
	// ErrRejected: the node refused the share (wrong key, a share of another
	// Vault or of keys replaced by a rekey, not a key at all).
	ErrRejected = errors.New("the node rejected the share")
	// ErrUnreachable: no HTTP answer (connection refused, timeout, TLS).
	// It matches retry.ErrUnavailable.
	ErrUnreachable = vaulterr.NewKind("node unreachable", retry.ErrUnavailable)
)

// vaultErrors returns the HTTP status and Vault's error strings, or 0.
func vaultErrors(err error) (int, string) {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, strings.Join(re.Errors, "; ")
	}
	return 0, ""
}

// IsUnavailable reports an error that means the node could not serve the
// request: no HTTP answer at all, or 503 (sealed, or a standby without an
// active node).
func IsUnavailable(err error) bool {
	code, _ := vaultErrors(err)
	return vaulterr.Transport(err) || code == http.StatusServiceUnavailable
}

// vaultError gives a failed request a one-line message while keeping the
// client's error underneath for errors.As.
type vaultError struct{ err error }

func (e *vaultError) Error() string { return describe(e.err) }
func (e *vaultError) Unwrap() error { return e.err }

// rejected reports an answer that means the share itself is wrong for this
// node. Vault answers 400 for malformed or non-matching keys, and a 500
// when a combination of shares fails to decrypt the stored keys (rekey).
func rejected(err error) bool {
	code, msg := vaultErrors(err)
	switch {
	case code == http.StatusBadRequest:
		return !containsFold(msg, "not initialized") && !containsFold(msg, "is unsealed")
	case code >= 500:
		return strings.Contains(msg, "message authentication failed") || strings.Contains(msg, "invalid key")
	}
	return false
}

// describe turns a request error into one line without the multi-line
// framing of the Vault client ("Error making API request. URL: ...").
func describe(err error) string {
	if err == nil {
		return ""
	}
	if code, msg := vaultErrors(err); code != 0 {
		if msg == "" {
			msg = http.StatusText(code)
		}
		return msg
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": dial tcp"); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
