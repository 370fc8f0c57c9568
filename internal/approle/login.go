package approle

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/hashicorp/vault/api"
	authapprole "github.com/hashicorp/vault/api/auth/approle"

	"github.com/keyturn/keyturn/internal/vaulterr"
)

// Credential is the one-time half of a login: a secret ID, or a wrapping
// token that wraps one. Exactly one must be set.
type Credential struct {
	SecretID      string
	WrappingToken string
}

// Auth logs in with AppRole. It implements api.AuthMethod, so
// client.Auth().Login(ctx, auth) logs in and sets the client's token.
type Auth struct {
	mount    string
	roleID   string
	cred     Credential
	roleName string
	// Accessor is the secret ID's accessor, known after a wrapped login.
	Accessor string
	// unwrapped keeps the secret ID once the wrapping token is spent, so
	// a login retried after Vault went away does not need the token again.
	unwrapped string
}

var _ api.AuthMethod = (*Auth)(nil)

// LoginOption configures an Auth.
type LoginOption func(*Auth)

// WithRoleName pins the role whose secret-id endpoint must have created a
// wrapping token: creation_path must be exactly
// auth/MOUNT/role/NAME/secret-id. Without it any role on the mount is
// accepted, which still refuses tokens re-wrapped through cubbyhole or
// sys/wrapping/wrap.
func WithRoleName(name string) LoginOption { return func(a *Auth) { a.roleName = name } }

// NewAuth checks the inputs and returns an Auth for mount.
func NewAuth(mount, roleID string, cred Credential, opts ...LoginOption) (*Auth, error) {
	mount = strings.Trim(mount, "/")
	if mount == "" {
		mount = DefaultMount
	}
	if roleID == "" {
		return nil, errors.New("login: no role ID")
	}
	if (cred.SecretID == "") == (cred.WrappingToken == "") {
		return nil, errors.New("login: need exactly one of a secret ID and a wrapping token")
	}
	a := &Auth{mount: mount, roleID: roleID, cred: cred}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Login performs the login. For a wrapping token it looks the token up
// first and refuses it unless it was created by the role's secret-id
// endpoint (the check Vault's response-wrapping docs prescribe), then
// unwraps it, then logs in. The caller's client is not modified. Calling
// Login again after a failure that came after the unwrap (Vault sealed,
// unreachable) logs in with the secret ID already unwrapped.
func (a *Auth) Login(ctx context.Context, c *api.Client) (*api.Secret, error) {
	anon, err := c.CloneWithHeaders()
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	anon.ClearToken()
	anon.SetWrappingLookupFunc(func(string, string) string { return "" })

	secretID := a.cred.SecretID
	if a.cred.WrappingToken != "" {
		if a.unwrapped == "" {
			if a.unwrapped, err = a.unwrap(ctx, anon); err != nil {
				return nil, err
			}
		}
		secretID = a.unwrapped
	}
	m, err := authapprole.NewAppRoleAuth(a.roleID, &authapprole.SecretID{FromString: secretID}, authapprole.WithMountPath(a.mount))
	if err != nil {
		return nil, fmt.Errorf("login: %s", vaulterr.Redact(err.Error(), secretID, a.roleID))
	}
	sec, err := m.Login(ctx, anon)
	if err != nil {
		return nil, classifyLogin(err, secretID, a.roleID)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, errors.New("login: vault returned no token")
	}
	return sec, nil
}

func (a *Auth) wantPath() *regexp.Regexp {
	role := `[^/]+`
	if a.roleName != "" {
		role = regexp.QuoteMeta(a.roleName)
	}
	return regexp.MustCompile(`^auth/` + regexp.QuoteMeta(a.mount) + `/role/` + role + `/secret-id$`)
}

func (a *Auth) unwrap(ctx context.Context, anon *api.Client) (string, error) {
	wt := a.cred.WrappingToken
	look, err := anon.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": wt})
	if err != nil {
		return "", classifyWrapping("look up wrapping token", err, wt)
	}
	if look == nil {
		return "", &vaulterr.Error{Op: "look up wrapping token", Kind: ErrWrappingToken}
	}
	path, _ := look.Data["creation_path"].(string)
	if !a.wantPath().MatchString(path) {
		want := secretIDPath(a.mount, a.roleName)
		if a.roleName == "" {
			want = secretIDPath(a.mount, "ROLE")
		}
		return "", &ForeignWrapError{CreationPath: path, Want: want}
	}
	uc, err := anon.Clone()
	if err != nil {
		return "", fmt.Errorf("unwrap: %w", err)
	}
	uc.SetToken(wt)
	uc.SetWrappingLookupFunc(func(string, string) string { return "" })
	sec, err := uc.Logical().UnwrapWithContext(ctx, "")
	if err != nil {
		return "", classifyWrapping("unwrap secret ID", err, wt)
	}
	if sec == nil {
		return "", &vaulterr.Error{Op: "unwrap secret ID", Kind: ErrWrappingToken}
	}
	sid, _ := sec.Data["secret_id"].(string)
	if sid == "" {
		return "", errors.New("unwrap secret ID: the wrapped response holds no secret_id")
	}
	a.Accessor, _ = sec.Data["secret_id_accessor"].(string)
	return sid, nil
}

// classifyWrapping: Vault answers 400 for a used, expired or unknown
// wrapping token and does not tell them apart.
func classifyWrapping(op string, err error, token string) error {
	if vaulterr.StatusCode(err) == http.StatusBadRequest {
		return &vaulterr.Error{Op: op, Kind: ErrWrappingToken, Err: err}
	}
	return vaulterr.Classify(op, err, token)
}

// classifyLogin: on the login endpoint a 400 is a refused role ID or secret
// ID (Vault gives one message for used, expired, destroyed and unknown
// IDs, and says so for a CIDR mismatch), and a 403 is the user lockout,
// since the endpoint needs no token.
func classifyLogin(err error, secrets ...string) error {
	const op = "log in with AppRole"
	var re *api.ResponseError
	if errors.As(err, &re) {
		detail := vaulterr.Redact(vaulterr.Detail(re), secrets...)
		switch re.StatusCode {
		case http.StatusBadRequest:
			if detail == "invalid role or secret ID" {
				detail += " (the secret ID was already used, has expired, or the role ID is wrong)"
			}
			return &vaulterr.Error{Op: op, Kind: ErrSecretID, Detail: detail, Err: err}
		case http.StatusForbidden:
			return &vaulterr.Error{Op: op, Kind: ErrLockedOut, Detail: "vault answered permission denied; AppRole locks a role ID for 15 minutes after 5 failed logins", Err: err}
		}
	}
	return vaulterr.Classify(op, err, secrets...)
}

// Login is NewAuth followed by client.Auth().Login: on success the
// client holds the new token.
func Login(ctx context.Context, c *api.Client, mount, roleID string, cred Credential, opts ...LoginOption) (*api.Secret, error) {
	a, err := NewAuth(mount, roleID, cred, opts...)
	if err != nil {
		return nil, err
	}
	return c.Auth().Login(ctx, a)
}
