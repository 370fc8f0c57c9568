package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"
)

// Results of an action that can fail.
const (
	ResultOK     = "ok"
	ResultFailed = "failed"
)

// Seconds rounds d to whole seconds for a *_seconds field.
func Seconds(d time.Duration) int64 { return int64(d.Round(time.Second) / time.Second) }

// Start opens every run, before any credential is used.
type Start struct {
	// Mode is exec, env-file, print, supervise, dry-run or from-env-file.
	Mode    string   `json:"mode"`
	Version string   `json:"version"`
	Sources []string `json:"sources,omitempty"` // references, which hold no values
	Certs   []string `json:"certs,omitempty"`   // DIR=MOUNT/issue/ROLE?...
	Command string   `json:"command,omitempty"` // the application's argv[0]
}

func (Start) Name() string { return "start" }

// Login is a Vault login, or the use of a token given from outside
// (method token, which has no accessor here: prestart did not create it).
type Login struct {
	Method string `json:"method"` // approle or token
	Mount  string `json:"mount,omitempty"`
	Role   string `json:"role,omitempty"`
	// SecretIDAccessor is known when the secret ID came wrapped: the
	// unwrapped response carries it.
	SecretIDAccessor string   `json:"secret_id_accessor,omitempty"`
	TokenAccessor    string   `json:"token_accessor,omitempty"`
	TTLSeconds       int64    `json:"ttl_seconds"`
	Renewable        bool     `json:"renewable"`
	Policies         []string `json:"policies,omitempty"`
}

func (Login) Name() string { return "login" }

// Relogin is a login after the first, when the token reached its max TTL
// or expired while Vault was away.
type Relogin struct{ Login }

func (Relogin) Name() string { return "relogin" }

// Read is one source read, at the start or again while supervising.
type Read struct {
	Source  string   `json:"source"` // the scheme: vault, s3, exec
	Ref     string   `json:"ref"`
	Path    string   `json:"path"`
	Version string   `json:"version,omitempty"` // KV v2 version, S3 version ID
	Names   []string `json:"names,omitempty"`   // the variables it gave
	Reread  bool     `json:"reread,omitempty"`  // a supervisor's read after the first
	Lease
}

func (Read) Name() string { return "read" }

// Lease identifies a lease without its ID (see LeaseFields).
type Lease struct {
	LeasePath        string `json:"lease_path,omitempty"`
	LeaseFingerprint string `json:"lease_fingerprint,omitempty"`
	LeaseTTLSeconds  int64  `json:"lease_ttl_seconds,omitempty"`
	LeaseRenewable   bool   `json:"lease_renewable,omitempty"`
}

// LeaseFields identifies a lease without its ID. Vault has no lease
// accessor, and a lease ID is a handle to renew or revoke the secret
// with, so it is not written: the path without its unique last element
// (secret/app/db/Xy12... becomes secret/app/db) says what was leased, and
// a fingerprint, the first 16 hex digits of the ID's SHA-256, ties the
// read, its renewals and its revocation together. The unique element is
// random enough that the fingerprint cannot be turned back into the ID.
func LeaseFields(id string, ttl time.Duration, renewable bool) Lease {
	if id == "" {
		return Lease{}
	}
	path := id
	if i := strings.LastIndexByte(id, '/'); i > 0 {
		path = id[:i]
	}
	return Lease{LeasePath: path, LeaseFingerprint: Fingerprint(id), LeaseTTLSeconds: Seconds(ttl), LeaseRenewable: renewable}
}

// Fingerprint returns the first 16 hex digits of the SHA-256 of id.
func Fingerprint(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:8])
}

// Renew is a renewal of the token or of a lease.
type Renew struct {
	What          string `json:"what"` // token or lease
	TokenAccessor string `json:"token_accessor,omitempty"`
	Ref           string `json:"ref,omitempty"` // the source a lease came from
	TTLSeconds    int64  `json:"ttl_seconds"`
	Lease
}

func (Renew) Name() string { return "renew" }

// Change reports secrets that changed, by name: the values are the
// application's business.
type Change struct {
	Names   []string `json:"names"` // every name that differs
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

func (Change) Name() string { return "change" }

// ChangeOf names what differs between old and new.
func ChangeOf(old, new map[string]string) Change {
	c := Change{Names: []string{}}
	for _, n := range sortedKeys(new) {
		v, ok := old[n]
		switch {
		case !ok:
			c.Added = append(c.Added, n)
		case v == new[n]:
			continue
		}
		c.Names = append(c.Names, n)
	}
	for _, n := range sortedKeys(old) {
		if _, ok := new[n]; !ok {
			c.Removed = append(c.Removed, n)
			c.Names = append(c.Names, n)
		}
	}
	sort.Strings(c.Names)
	return c
}

// Restart is the application restarted or signalled so that it picks up
// changed secrets, a new token or a new certificate.
type Restart struct {
	Action string `json:"action"`           // restart or signal
	Signal string `json:"signal,omitempty"` // with action signal
	Reason string `json:"reason"`
	Result string `json:"result"`
}

func (Restart) Name() string { return "restart" }

// Signal is a signal prestart received and forwarded to the
// application's process group.
type Signal struct {
	Signal string `json:"signal"`
	PGID   int    `json:"pgid"`
}

func (Signal) Name() string { return "signal" }

// Revoke is the revocation of prestart's token, and with it every lease it
// created.
type Revoke struct {
	TokenAccessor string `json:"token_accessor,omitempty"`
	Leases        int    `json:"leases"`
	Reason        string `json:"reason"`
	Result        string `json:"result"`
}

func (Revoke) Name() string { return "revoke" }

// Cert is a certificate issued at the start or renewed while supervising.
type Cert struct {
	Action     string `json:"action"` // issued or renewed
	Dir        string `json:"dir"`
	Path       string `json:"path"`
	CommonName string `json:"common_name,omitempty"`
	Serial     string `json:"serial"`
	NotAfter   string `json:"not_after"`
}

func (Cert) Name() string { return "cert" }

// Degraded is the application running on values prestart can no longer
// renew or re-read: the token was lost and a new login failed or was
// refused.
type Degraded struct {
	Reason        string `json:"reason"` // login_refused or login_failed
	TokenAccessor string `json:"token_accessor,omitempty"`
}

func (Degraded) Name() string { return "degraded" }

// Recovered ends a Degraded: a new login succeeded.
type Recovered struct {
	TokenAccessor   string `json:"token_accessor"`
	DegradedSeconds int64  `json:"degraded_seconds"`
}

func (Recovered) Name() string { return "recovered" }

// Exec is the last line of an exec-mode start: prestart is about to be
// replaced by the application.
type Exec struct {
	Command string `json:"command"`
	Mode    string `json:"mode"`
}

func (Exec) Name() string { return "exec" }

// Exit is the last line of any other run.
type Exit struct {
	Mode      string `json:"mode"`
	Code      int    `json:"code"`
	AppSignal string `json:"app_signal,omitempty"` // what killed the supervised app
	Error     string `json:"error,omitempty"`
}

func (Exit) Name() string { return "exit" }
