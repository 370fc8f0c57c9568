package approle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/vaulterr"
)

// DefaultWrapTTL is how long a minted wrapping token lives: long enough for
// a scheduler to start a container, short enough that a leaked token is
// soon worthless.
const DefaultWrapTTL = 2 * time.Minute

// Minted is the result of Mint. With wrapping (the default) SecretID is
// empty and only the wrapping token can reveal it, once.
type Minted struct {
	Role             string    `json:"role"`
	WrappingToken    string    `json:"wrapping_token,omitempty"`
	WrappingAccessor string    `json:"wrapping_accessor,omitempty"`
	WrapTTL          int       `json:"wrap_ttl_seconds,omitempty"`
	SecretID         string    `json:"secret_id,omitempty"`
	SecretIDAccessor string    `json:"secret_id_accessor"`
	SecretIDTTL      int       `json:"secret_id_ttl_seconds,omitempty"`
	SecretIDNumUses  int       `json:"secret_id_num_uses,omitempty"`
	Expires          time.Time `json:"expires,omitzero"`
}

type mintOptions struct {
	wrapTTL  time.Duration
	noWrap   bool
	metadata map[string]string
	cidrs    []string
	numUses  int
	ttl      time.Duration
}

// MintOption configures Mint.
type MintOption func(*mintOptions)

// WithWrapTTL sets the wrapping token's lifetime (default DefaultWrapTTL).
func WithWrapTTL(d time.Duration) MintOption { return func(o *mintOptions) { o.wrapTTL = d } }

// WithoutWrapping returns the secret ID itself. Use it only when the
// receiver cannot unwrap; the secret ID then travels in the clear.
func WithoutWrapping() MintOption { return func(o *mintOptions) { o.noWrap = true } }

// WithMetadata stores key/value pairs on the secret ID (launcher, job,
// image, ...). Vault returns them on lookup and in the token's metadata.
func WithMetadata(m map[string]string) MintOption {
	return func(o *mintOptions) {
		if o.metadata == nil {
			o.metadata = map[string]string{}
		}
		for k, v := range m {
			o.metadata[k] = v
		}
	}
}

// WithCIDRs binds the secret ID to source addresses.
func WithCIDRs(cidrs ...string) MintOption {
	return func(o *mintOptions) { o.cidrs = append(o.cidrs, cidrs...) }
}

// WithNumUses limits the secret ID's logins (at most the role's limit).
func WithNumUses(n int) MintOption { return func(o *mintOptions) { o.numUses = n } }

// WithTTL shortens the secret ID's life (at most the role's secret_id_ttl).
func WithTTL(d time.Duration) MintOption { return func(o *mintOptions) { o.ttl = d } }

// Mint creates a secret ID for role on the AppRole mount, response-wrapped
// unless WithoutWrapping is given.
func Mint(ctx context.Context, c *api.Client, mount, role string, opts ...MintOption) (*Minted, error) {
	o := mintOptions{wrapTTL: DefaultWrapTTL}
	for _, opt := range opts {
		opt(&o)
	}
	op := fmt.Sprintf("mint secret ID for role %q", role)
	if !o.noWrap && (o.wrapTTL < time.Second || o.wrapTTL%time.Second != 0) {
		return nil, fmt.Errorf("%s: wrap TTL %s must be a whole number of seconds, at least 1s", op, o.wrapTTL)
	}
	body := map[string]any{}
	if len(o.metadata) > 0 {
		// Vault takes metadata as a JSON string, not an object.
		b, err := json.Marshal(o.metadata)
		if err != nil {
			return nil, fmt.Errorf("%s: metadata: %w", op, err)
		}
		body["metadata"] = string(b)
	}
	if len(o.cidrs) > 0 {
		body["cidr_list"] = o.cidrs
	}
	if o.numUses > 0 {
		body["num_uses"] = o.numUses
	}
	if o.ttl > 0 {
		body["ttl"] = int64(o.ttl / time.Second)
	}
	path := secretIDPath(mount, role)
	wc, err := c.CloneWithHeaders()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	wc.SetToken(c.Token())
	// Wrap exactly this one request, whatever VAULT_WRAP_TTL says.
	wrap := ""
	if !o.noWrap {
		wrap = strconv.FormatInt(int64(o.wrapTTL/time.Second), 10) + "s"
	}
	wc.SetWrappingLookupFunc(func(operation, p string) string {
		if p == path && (operation == http.MethodPut || operation == http.MethodPost) {
			return wrap
		}
		return ""
	})
	sec, err := wc.Logical().WriteWithContext(ctx, path, body)
	if err != nil {
		return nil, vaulterr.Classify(op, err)
	}
	if sec == nil {
		return nil, &vaulterr.Error{Op: op, Kind: vaulterr.ErrNotFound, Detail: "no response (does the role exist?)"}
	}
	m := &Minted{Role: role}
	if o.noWrap {
		if sec.WrapInfo != nil {
			return nil, fmt.Errorf("%s: response was wrapped although wrapping was off", op)
		}
		m.SecretID, _ = sec.Data["secret_id"].(string)
		m.SecretIDAccessor, _ = sec.Data["secret_id_accessor"].(string)
		m.SecretIDTTL = intField(sec.Data["secret_id_ttl"])
		m.SecretIDNumUses = intField(sec.Data["secret_id_num_uses"])
		if m.SecretIDTTL > 0 {
			m.Expires = time.Now().Add(time.Duration(m.SecretIDTTL) * time.Second).UTC().Truncate(time.Second)
		}
		if m.SecretID == "" {
			return nil, fmt.Errorf("%s: response holds no secret ID", op)
		}
		return m, nil
	}
	wi := sec.WrapInfo
	if wi == nil || wi.Token == "" {
		return nil, errors.New(op + ": response was not wrapped")
	}
	if wi.CreationPath != path {
		return nil, fmt.Errorf("%s: wrapped response came from %q, want %q", op, wi.CreationPath, path)
	}
	m.WrappingToken = wi.Token
	m.WrappingAccessor = wi.Accessor
	m.WrapTTL = wi.TTL
	m.SecretIDAccessor = wi.WrappedAccessor
	m.Expires = wi.CreationTime.Add(time.Duration(wi.TTL) * time.Second).UTC()
	return m, nil
}

// RoleID reads a role's role ID (not a secret on its own, but not public:
// it is half of the login).
func RoleID(ctx context.Context, c *api.Client, mount, role string) (string, error) {
	op := fmt.Sprintf("read role ID of %q", role)
	sec, err := c.Logical().ReadWithContext(ctx, fmt.Sprintf("auth/%s/role/%s/role-id", mount, role))
	if err != nil {
		return "", vaulterr.Classify(op, err)
	}
	if sec == nil {
		return "", &vaulterr.Error{Op: op, Kind: vaulterr.ErrNotFound, Detail: "no such role"}
	}
	id, _ := sec.Data["role_id"].(string)
	if id == "" {
		return "", fmt.Errorf("%s: response holds no role_id", op)
	}
	return id, nil
}

func secretIDPath(mount, role string) string {
	return fmt.Sprintf("auth/%s/role/%s/secret-id", mount, role)
}

func intField(v any) int {
	switch x := v.(type) {
	case json.Number:
		n, _ := x.Int64()
		return int(n)
	case float64:
		return int(x)
	case int:
		return x
	}
	return 0
}
