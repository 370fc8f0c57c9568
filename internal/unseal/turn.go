package unseal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyturn/keyturn/internal/vaulterr"
)

// Outcome is what turning a key did for one node.
type Outcome string

const (
	// Unsealed: the node is unsealed (by this share, or already).
	Unsealed Outcome = "unsealed"
	// Accepted: the node holds this share and waits for more key holders.
	Accepted Outcome = "accepted"
	// Rejected: the node refused the share as wrong.
	Rejected Outcome = "rejected"
	// Unreachable: the node did not answer.
	Unreachable Outcome = "unreachable"
	// NotJoined: the node could not take shares before the wait ended: a
	// raft follower whose leader is still sealed, or a Vault never
	// initialised.
	NotJoined Outcome = "not-joined"
	// Failed: anything else; Err says what.
	Failed Outcome = "failed"
)

// TurnOptions tune Turn. Zero values take the defaults in brackets.
type TurnOptions struct {
	// Wait is how long to keep watching nodes that cannot take the share
	// yet (followers that have not joined). Zero: do not wait for them.
	Wait time.Duration
	// Poll is the interval between checks of a node [500ms].
	Poll time.Duration
	// Attempts is how many times an unreachable node is tried [3].
	Attempts int
	// Completion bounds how long a node that reached its threshold may
	// take to report itself unsealed: a raft follower first answers the
	// leader's join challenge [30s].
	Completion time.Duration
	// ResetGrace is how long a node that held this share may show no
	// progress before the share is sent again. Right after the threshold
	// is reached a follower shows progress 0 while it joins; a restart or a
	// reset also shows progress 0 and needs the share again [5s].
	ResetGrace time.Duration
	// MaxSubmits bounds submissions per node, against a progress that
	// keeps resetting [4].
	MaxSubmits int
	// Logger receives one line per step and node; never a share.
	Logger hclog.Logger
	// Event, if set, is called for every change worth telling the operator
	// about, from several goroutines at once.
	Event func(addr, msg string)
}

func (o *TurnOptions) defaults() {
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Completion <= 0 {
		o.Completion = 30 * time.Second
	}
	if o.ResetGrace <= 0 {
		o.ResetGrace = 5 * time.Second
	}
	if o.MaxSubmits <= 0 {
		o.MaxSubmits = 4
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
}

// NodeResult is the outcome for one node, with its last known status.
type NodeResult struct {
	Status  NodeStatus `json:"status"`
	Outcome Outcome    `json:"outcome"`
	// Submitted counts how often this run sent the share to the node.
	Submitted int `json:"submitted"`
	// Completed is true when this share was the one that reached the
	// threshold.
	Completed bool  `json:"completed,omitempty"`
	Err       error `json:"-"`
}

// Turn submits one share to every node that is sealed, all nodes at once,
// and returns one result per node in the order given.
//
// A node is done when it is unsealed, when it holds this share (its progress
// includes it), or when it rejects the share, cannot be reached, or fails.
// A node that cannot take shares yet (a raft follower that joins only once a
// leader is unsealed) is watched for up to opts.Wait and gets the share as
// soon as it has joined; while any node is still waiting, the nodes holding
// the share are watched too, and get it again if their progress was reset
// (restart, a wrong share from someone else, an explicit reset).
func Turn(ctx context.Context, nodes []*Node, share *Share, opts TurnOptions) []NodeResult {
	opts.defaults()
	t := &turn{opts: opts, share: share, deadline: time.Now().Add(opts.Wait), waiting: map[int]bool{}}
	results := make([]NodeResult, len(nodes))
	// Every node counts as waiting from the start, before any loop can
	// look: otherwise the first node to hold the share could see no one
	// waiting and stop watching.
	for i := range nodes {
		t.waiting[i] = true
	}
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = t.node(ctx, i, n)
			t.settle(i)
		}()
	}
	wg.Wait()
	// A node that held the share may since have been unsealed by another
	// key holder; show what is true now.
	for i, st := range StatusAll(ctx, nodes) {
		if !st.Reachable {
			continue
		}
		results[i].Status = st
		if results[i].Outcome == Accepted && !st.Sealed {
			results[i].Outcome = Unsealed
		}
	}
	return results
}

type turn struct {
	opts     TurnOptions
	share    *Share
	deadline time.Time

	mu      sync.Mutex
	waiting map[int]bool // nodes that are not done and do not hold the share
}

func (t *turn) settle(i int) {
	t.mu.Lock()
	delete(t.waiting, i)
	t.mu.Unlock()
}

func (t *turn) setWaiting(i int, w bool) {
	t.mu.Lock()
	if w {
		t.waiting[i] = true
	} else {
		delete(t.waiting, i)
	}
	t.mu.Unlock()
}

func (t *turn) anyWaiting() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.waiting) > 0
}

func (t *turn) event(addr, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	t.opts.Logger.Debug(msg, "node", addr)
	if t.opts.Event != nil {
		t.opts.Event(addr, msg)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// nodeState is what one node's loop remembers between checks.
type nodeState struct {
	held       string    // nonce of the unseal attempt that counts the share
	lostSince  time.Time // when a held share was first seen no longer counted
	completing time.Time // when this share reached the threshold
	failures   int       // consecutive answers without HTTP response
	told       map[string]bool
}

// once reports an event the first time its key comes up for a node.
func (t *turn) once(s *nodeState, addr, key, msg string) {
	if s.told == nil {
		s.told = map[string]bool{}
	}
	if !s.told[key] {
		s.told[key] = true
		t.event(addr, "%s", msg)
	}
}

// node runs the check-and-submit loop for one node until it is done.
func (t *turn) node(ctx context.Context, i int, n *Node) NodeResult {
	res := NodeResult{Status: NodeStatus{Address: n.Addr}}
	var s nodeState
	for {
		if err := ctx.Err(); err != nil {
			res.Outcome, res.Err = Failed, err
			return res
		}
		st, err := n.Status(ctx)
		if err != nil {
			res.Status = st
			if t.unreachable(&s, &res, n.Addr, err) {
				return res
			}
			if err := sleep(ctx, t.opts.Poll); err != nil {
				res.Outcome, res.Err = Failed, err
				return res
			}
			continue
		}
		s.failures = 0
		res.Status = st
		submit := false
		switch {
		case !st.Sealed:
			if res.Submitted == 0 {
				t.once(&s, n.Addr, "unsealed", "already unsealed")
			}
			res.Outcome = Unsealed
			return res
		case st.Initialized && st.SealType != "" && st.SealType != "shamir":
			res.Outcome = Failed
			res.Err = fmt.Errorf("seal type %q unseals itself; it takes no unseal key shares", st.SealType)
			return res
		case !st.Joined():
			if !time.Now().Before(t.deadline) {
				res.Outcome = NotJoined
				res.Err = errors.New("not initialised, or a raft follower that has not joined yet (it can take shares once a leader is unsealed)")
				return res
			}
			t.once(&s, n.Addr, "not-joined", fmt.Sprintf("cannot take shares yet (not joined); watching it for up to %s", time.Until(t.deadline).Round(time.Second)))
		case s.held != "" && st.Nonce == s.held && st.Progress > 0:
			s.lostSince = time.Time{}
			t.setWaiting(i, false)
			if !t.anyWaiting() {
				res.Outcome = Accepted
				return res
			}
		case !s.completing.IsZero():
			if time.Since(s.completing) > t.opts.Completion {
				res.Outcome = Failed
				res.Err = fmt.Errorf("reached its threshold but did not unseal within %s; see the node's log", t.opts.Completion)
				return res
			}
		case s.held != "":
			// Progress 0 right after someone else's share completed the
			// threshold looks like a reset; give the node a moment.
			if s.lostSince.IsZero() {
				s.lostSince = time.Now()
				t.setWaiting(i, true)
			}
			if time.Since(s.lostSince) >= t.opts.ResetGrace {
				t.event(n.Addr, "unseal progress was reset; submitting the share again")
				s.held, s.lostSince = "", time.Time{}
				submit = true
			}
		default:
			submit = true
		}
		if submit {
			if done := t.submit(ctx, n, &s, &res); done {
				return res
			}
			continue
		}
		if err := sleep(ctx, t.opts.Poll); err != nil {
			res.Outcome, res.Err = Failed, err
			return res
		}
	}
}

// submit sends the share once and interprets the answer; it returns true
// when the node is done.
func (t *turn) submit(ctx context.Context, n *Node, s *nodeState, res *NodeResult) bool {
	if res.Submitted >= t.opts.MaxSubmits {
		res.Outcome = Failed
		res.Err = fmt.Errorf("unseal progress was reset %d times; giving up", res.Submitted)
		return true
	}
	t.opts.Logger.Trace("submitting share", "node", n.Addr)
	resp, err := n.submitUnseal(ctx, t.share)
	res.Submitted++
	if err != nil {
		t.opts.Logger.Debug("submission refused", "node", n.Addr, "error", describe(err))
	}
	switch {
	case err == nil:
		res.Status.fromSeal(resp)
		switch {
		case !resp.Sealed:
			res.Completed = true
			res.Outcome = Unsealed
			t.event(n.Addr, "unsealed by this share")
			return true
		case resp.Progress > 0:
			s.held = resp.Nonce
			t.event(n.Addr, "share accepted: progress %d/%d", resp.Progress, resp.T)
		default:
			// Progress back to 0 while still sealed: the threshold was
			// reached and the node is finishing, as a raft follower does
			// while it answers the leader's join challenge.
			res.Completed = true
			s.completing = time.Now()
			t.event(n.Addr, "share accepted: threshold reached, the node is completing its unseal")
		}
		return false
	case rejected(err):
		res.Outcome = Rejected
		res.Err = fmt.Errorf("%w: %s", ErrRejected, describe(err))
		return true
	case vaulterr.Transport(err):
		if t.unreachable(s, res, n.Addr, err) {
			return true
		}
	default:
		_, msg := vaultErrors(err)
		if !containsFold(msg, "not initialized") && !containsFold(msg, "is unsealed") {
			res.Outcome = Failed
			res.Err = &vaultError{err}
			return true
		}
		// It changed state between the check and the submission; the
		// next check sees the new state.
	}
	if err := sleep(ctx, t.opts.Poll); err != nil {
		res.Outcome, res.Err = Failed, err
		return true
	}
	return false
}

func (t *turn) unreachable(s *nodeState, res *NodeResult, addr string, err error) bool {
	s.failures++
	t.opts.Logger.Debug("node did not answer", "node", addr, "attempt", s.failures, "error", describe(err))
	if vaulterr.Certificate(err) || s.failures >= t.opts.Attempts {
		res.Outcome = Unreachable
		res.Err = fmt.Errorf("%w: %s", ErrUnreachable, describe(err))
		res.Status.Error = describe(err)
		return true
	}
	return false
}
