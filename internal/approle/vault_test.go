package approle_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/approle/bootstrap"
	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/vaulterr"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

const testConfig = `
policy "app-read" {
  text = <<-EOT
    path "secret/data/app/*" { capabilities = ["read"] }
  EOT
}
role "app" {
  token_policies = ["app-read"]
}
role "other" {
  token_policies = ["app-read"]
  secret_id_num_uses = 3
}
role "unlaunched" {}
launcher "ci" {
  roles  = ["app", "other"]
  revoke = true
}
`

// planFor parses the bootstrap file src and plans it against root's Vault.
func planFor(t *testing.T, root *api.Client, src string) (*bootstrap.Config, *bootstrap.Plan) {
	t.Helper()
	cfg, err := bootstrap.ParseConfig("test.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := bootstrap.MakePlan(context.Background(), root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, plan
}

func apply(t *testing.T, root *api.Client, plan *bootstrap.Plan) {
	t.Helper()
	if err := bootstrap.Apply(context.Background(), root, plan); err != nil {
		t.Fatal(err)
	}
}

// setup starts a dev Vault, applies testConfig, writes a secret and returns
// a root client and a client holding a launcher token (not root).
func setup(t *testing.T, opts ...vaulttest.DevOption) (*vaulttest.Server, *api.Client, *api.Client) {
	t.Helper()
	s := vaulttest.StartDev(t, opts...)
	root := s.RootClient(t)
	ctx := context.Background()
	_, plan := planFor(t, root, testConfig)
	apply(t, root, plan)
	if _, err := root.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": "orange1"}); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Logical().WriteWithContext(ctx, "auth/token/create/"+bootstrap.LauncherPolicyName("ci"), nil)
	if err != nil {
		t.Fatalf("create launcher token: %v", err)
	}
	return s, root, s.Client(t, tok.Auth.ClientToken)
}

func roleID(t *testing.T, c *api.Client, role string) string {
	t.Helper()
	id, err := approle.RoleID(context.Background(), c, "approle", role)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestBootstrapIdempotentAndUpdates(t *testing.T) {
	s := vaulttest.StartDev(t)
	root := s.RootClient(t)
	ctx := context.Background()
	cfg, plan := planFor(t, root, testConfig)
	// mount + 3 policies (app-read, keyturn-token, the launcher's) + 3 roles
	// + 1 token role
	if n := len(plan.Pending()); n != 8 {
		t.Fatalf("first plan has %d changes, want 8: %+v", n, plan.Changes)
	}
	for _, ch := range plan.Pending() {
		if ch.Action != bootstrap.Create {
			t.Errorf("%s %s: %s, want create", ch.Kind, ch.Name, ch.Action)
		}
	}
	apply(t, root, plan)
	again, err := bootstrap.MakePlan(ctx, root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p := again.Pending(); len(p) != 0 {
		t.Fatalf("second plan is not empty: %+v", p)
	}

	// A changed field shows in the plan with old and new values, and only it.
	changed := strings.Replace(testConfig, `role "app" {`, `role "app" {
  token_ttl = "2h"
  secret_id_bound_cidrs = ["127.0.0.0/8"]`, 1)
	changed = strings.Replace(changed, `capabilities = ["read"]`, `capabilities = ["read", "list"]`, 1)
	cfg2, plan2 := planFor(t, root, changed)
	pending := plan2.Pending()
	if len(pending) != 2 {
		t.Fatalf("want 2 changes (policy, role), got %+v", pending)
	}
	var role bootstrap.Change
	for _, ch := range pending {
		if ch.Kind == "role" {
			role = ch
		}
	}
	if role.Name != "app" || role.Action != bootstrap.Update || len(role.Fields) != 2 {
		t.Fatalf("role change: %+v", role)
	}
	got := map[string]bootstrap.FieldChange{}
	for _, f := range role.Fields {
		got[f.Field] = f
	}
	if f := got["token_ttl"]; f.Old != "1h0m0s" || f.New != "2h0m0s" {
		t.Errorf("token_ttl change: %+v", f)
	}
	if f := got["secret_id_bound_cidrs"]; f.Old != "[]" || f.New != "[127.0.0.0/8]" {
		t.Errorf("cidr change: %+v", f)
	}
	if err := bootstrap.Apply(ctx, root, plan2); err != nil {
		t.Fatal(err)
	}
	sec, err := root.Logical().Read("auth/approle/role/app")
	if err != nil {
		t.Fatal(err)
	}
	if ttl, _ := sec.Data["token_ttl"].(interface{ String() string }); ttl == nil || ttl.String() != "7200" {
		t.Errorf("token_ttl after apply: %v", sec.Data["token_ttl"])
	}
	plan3, err := bootstrap.MakePlan(ctx, root, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if p := plan3.Pending(); len(p) != 0 {
		t.Fatalf("plan after applying the change is not empty: %+v", p)
	}
	// Going back to the original file resets the removed lines.
	plan4, err := bootstrap.MakePlan(ctx, root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p := plan4.Pending(); len(p) != 2 {
		t.Fatalf("removing lines should plan 2 changes back, got %+v", p)
	}
}

func TestCustomRoleIDIsHidden(t *testing.T) {
	s := vaulttest.StartDev(t)
	root := s.RootClient(t)
	ctx := context.Background()
	const custom = "role-id-that-is-not-for-display"
	cfg, plan := planFor(t, root, `role "r" { role_id = "`+custom+`" }`)
	for _, ch := range plan.Changes {
		for _, f := range ch.Fields {
			if strings.Contains(f.Old+f.New, custom) {
				t.Fatalf("plan shows the role ID: %+v", f)
			}
		}
	}
	apply(t, root, plan)
	if got := roleID(t, root, "r"); got != custom {
		t.Fatalf("role ID %q, want the custom one", got)
	}
	plan2, err := bootstrap.MakePlan(ctx, root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p := plan2.Pending(); len(p) != 0 {
		t.Fatalf("second plan not empty: %+v", p)
	}
}

func TestLauncherScope(t *testing.T) {
	_, _, launcher := setup(t)
	ctx := context.Background()
	for _, role := range []string{"app", "other"} {
		if _, err := approle.Mint(ctx, launcher, "approle", role); err != nil {
			t.Errorf("launcher cannot mint for its role %q: %v", role, err)
		}
		if _, err := approle.RoleID(ctx, launcher, "approle", role); err != nil {
			t.Errorf("launcher cannot read the role ID of %q: %v", role, err)
		}
	}
	_, err := approle.Mint(ctx, launcher, "approle", "unlaunched")
	if !errors.Is(err, vaulterr.ErrPermissionDenied) {
		t.Errorf("mint for a foreign role: %v, want permission denied", err)
	}
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Errorf("the Vault response error is not reachable with errors.As: %v", err)
	}
	if _, err := launcher.KVv2("secret").Get(ctx, "app/db"); err == nil {
		t.Error("launcher token can read a secret")
	}
	if _, err := launcher.Logical().Write("auth/approle/role/app", map[string]any{"token_ttl": 1}); err == nil {
		t.Error("launcher token can change a role")
	}
}

func TestMintLoginOnce(t *testing.T) {
	s, root, launcher := setup(t)
	ctx := context.Background()
	rid := roleID(t, root, "app")
	m, err := approle.Mint(ctx, launcher, "approle", "app", approle.WithMetadata(map[string]string{"job": "build-7", "image": "app:1"}))
	if err != nil {
		t.Fatal(err)
	}
	if m.WrappingToken == "" || m.WrappingAccessor == "" || m.SecretIDAccessor == "" || m.SecretID != "" {
		t.Fatalf("minted: wrapping token, both accessors and no bare secret ID expected: %+v", m)
	}
	if d := time.Until(m.Expires); d < time.Minute || d > 2*time.Minute+5*time.Second {
		t.Errorf("wrap expiry %s from now, want about 2m", d)
	}
	app := s.Client(t, "")
	auth, err := approle.NewAuth("approle", rid, approle.Credential{WrappingToken: m.WrappingToken}, approle.WithRoleName("app"))
	if err != nil {
		t.Fatal(err)
	}
	sec, err := app.Auth().Login(ctx, auth)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if auth.Accessor != m.SecretIDAccessor {
		t.Errorf("unwrapped accessor %q, minted %q", auth.Accessor, m.SecretIDAccessor)
	}
	if !sec.Auth.Renewable || sec.Auth.LeaseDuration != 3600 {
		t.Errorf("token: renewable=%v ttl=%d, want renewable 1h", sec.Auth.Renewable, sec.Auth.LeaseDuration)
	}
	kv, err := app.KVv2("secret").Get(ctx, "app/db")
	if err != nil || kv.Data["password"] != "orange1" {
		t.Fatalf("read with the login token: %v %v", kv, err)
	}

	_, err = approle.Login(ctx, s.Client(t, ""), "approle", rid, approle.Credential{WrappingToken: m.WrappingToken})
	if !errors.Is(err, approle.ErrWrappingToken) {
		t.Fatalf("second login with the same wrapping token: %v, want ErrWrappingToken", err)
	}
	if !strings.Contains(err.Error(), "already used") || strings.Contains(err.Error(), m.WrappingToken) {
		t.Errorf("message should say already used and not hold the token: %q", err)
	}

	// The same with a bare one-time secret ID.
	bare, err := approle.Mint(ctx, launcher, "approle", "app", approle.WithoutWrapping())
	if err != nil {
		t.Fatal(err)
	}
	if bare.SecretID == "" || bare.SecretIDNumUses != 1 {
		t.Fatalf("bare mint: %+v", bare)
	}
	if _, err := approle.Login(ctx, s.Client(t, ""), "approle", rid, approle.Credential{SecretID: bare.SecretID}); err != nil {
		t.Fatalf("first login with a bare secret ID: %v", err)
	}
	_, err = approle.Login(ctx, s.Client(t, ""), "approle", rid, approle.Credential{SecretID: bare.SecretID})
	if !errors.Is(err, approle.ErrSecretID) {
		t.Fatalf("second login with the same secret ID: %v, want ErrSecretID", err)
	}
	if !strings.Contains(err.Error(), "already used") || strings.Contains(err.Error(), bare.SecretID) {
		t.Errorf("message: %q", err)
	}
}

func TestForeignWrappingTokenRefusedBeforeUnwrap(t *testing.T) {
	s, root, launcher := setup(t)
	ctx := context.Background()
	rid := roleID(t, root, "app")
	bare, err := approle.Mint(ctx, launcher, "approle", "app", approle.WithoutWrapping())
	if err != nil {
		t.Fatal(err)
	}
	// Someone who intercepted the secret ID re-wraps it so it looks alike.
	root.SetWrappingLookupFunc(func(_, path string) string {
		if path == "sys/wrapping/wrap" {
			return "60s"
		}
		return ""
	})
	rewrapped, err := root.Logical().Write("sys/wrapping/wrap", map[string]any{"secret_id": bare.SecretID})
	if err != nil || rewrapped.WrapInfo == nil {
		t.Fatalf("wrap: %v", err)
	}
	_, err = approle.Login(ctx, s.Client(t, ""), "approle", rid, approle.Credential{WrappingToken: rewrapped.WrapInfo.Token})
	var fw *approle.ForeignWrapError
	if !errors.As(err, &fw) || !errors.Is(err, approle.ErrForeignWrapping) || fw.CreationPath != "sys/wrapping/wrap" {
		t.Fatalf("got %v, want a ForeignWrapError for sys/wrapping/wrap", err)
	}
	// Refused before unwrapping: the token is still valid for inspection.
	if _, err := root.Logical().Write("sys/wrapping/lookup", map[string]any{"token": rewrapped.WrapInfo.Token}); err != nil {
		t.Fatalf("the refused token was consumed: %v", err)
	}
	// A genuine token of another role is refused when the role is pinned.
	other, err := approle.Mint(ctx, launcher, "approle", "other")
	if err != nil {
		t.Fatal(err)
	}
	_, err = approle.Login(ctx, s.Client(t, ""), "approle", rid, approle.Credential{WrappingToken: other.WrappingToken}, approle.WithRoleName("app"))
	if !errors.As(err, &fw) || fw.CreationPath != "auth/approle/role/other/secret-id" {
		t.Fatalf("got %v, want a ForeignWrapError for role other", err)
	}
}

func TestExpiredWrapRefused(t *testing.T) {
	s, root, launcher := setup(t)
	ctx := context.Background()
	m, err := approle.Mint(ctx, launcher, "approle", "app", approle.WithWrapTTL(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Real time must pass for the TTL; wait until Vault itself refuses
	// to look the token up (a lookup does not use it up).
	anon := s.Client(t, "")
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := anon.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": m.WrappingToken})
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the wrapping token did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err = approle.Login(ctx, s.Client(t, ""), "approle", roleID(t, root, "app"), approle.Credential{WrappingToken: m.WrappingToken})
	if !errors.Is(err, approle.ErrWrappingToken) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("got %v, want ErrWrappingToken saying expired", err)
	}
}

// clientFrom returns an unauthenticated client whose connections leave from
// the given loopback source address.
func clientFrom(t *testing.T, s *vaulttest.Server, src string) *api.Client {
	t.Helper()
	c := s.Client(t, "")
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := c.CloneConfig().HttpClient.Transport.(*http.Transport)
	tr.DialContext = d.DialContext
	return c
}

func TestCIDRBoundSecretID(t *testing.T) {
	s, root, launcher := setup(t, vaulttest.WithEnv("VAULT_DISABLE_USER_LOCKOUT=true"))
	ctx := context.Background()
	rid := roleID(t, root, "other")
	// A login refused for its source address still uses up one use of the
	// secret ID (Vault counts the use before it checks the CIDR), so this
	// ID gets two.
	m, err := approle.Mint(ctx, launcher, "approle", "other", approle.WithCIDRs("127.0.0.1/32"), approle.WithoutWrapping(), approle.WithNumUses(2))
	if err != nil {
		t.Fatal(err)
	}
	_, err = approle.Login(ctx, clientFrom(t, s, "127.0.0.2"), "approle", rid, approle.Credential{SecretID: m.SecretID})
	if !errors.Is(err, approle.ErrSecretID) || !strings.Contains(err.Error(), "127.0.0.2") || !strings.Contains(err.Error(), "CIDR") {
		t.Fatalf("login from 127.0.0.2: %v, want a CIDR refusal", err)
	}
	if _, err := approle.Login(ctx, clientFrom(t, s, "127.0.0.1"), "approle", rid, approle.Credential{SecretID: m.SecretID}); err != nil {
		t.Fatalf("login from 127.0.0.1 (inside the bound CIDR): %v", err)
	}
}

func TestLockoutIsTyped(t *testing.T) {
	// User lockout stays on here: this test is about it.
	s, root, launcher := setup(t)
	ctx := context.Background()
	rid := roleID(t, root, "other")
	for i := 0; i < 5; i++ {
		_, err := approle.Login(ctx, s.Client(t, ""), "approle", rid, approle.Credential{SecretID: "00000000-0000-0000-0000-00000000000" + string(rune('0'+i))})
		if !errors.Is(err, approle.ErrSecretID) {
			t.Fatalf("bad login %d: %v", i, err)
		}
	}
	m, err := approle.Mint(ctx, launcher, "approle", "other", approle.WithoutWrapping())
	if err != nil {
		t.Fatal(err)
	}
	_, err = approle.Login(ctx, s.Client(t, ""), "approle", rid, approle.Credential{SecretID: m.SecretID})
	if !errors.Is(err, approle.ErrLockedOut) {
		t.Fatalf("valid login after 5 failures: %v, want ErrLockedOut", err)
	}
}

func TestListAndRevoke(t *testing.T) {
	s, root, launcher := setup(t, vaulttest.WithEnv("VAULT_DISABLE_USER_LOCKOUT=true"))
	ctx := context.Background()
	a, err := approle.Mint(ctx, launcher, "approle", "other", approle.WithoutWrapping(), approle.WithMetadata(map[string]string{"job": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := approle.Mint(ctx, launcher, "approle", "other", approle.WithMetadata(map[string]string{"job": "b"}), approle.WithNumUses(2))
	if err != nil {
		t.Fatal(err)
	}
	list, err := approle.ListSecretIDs(ctx, launcher, "approle", "other")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Accessor != a.SecretIDAccessor || list[1].Accessor != b.SecretIDAccessor {
		t.Fatalf("list: %+v", list)
	}
	if list[0].Metadata["job"] != "a" || list[0].UsesLeft != 3 || list[1].UsesLeft != 2 || list[0].ExpirationTime.IsZero() {
		t.Errorf("list details: %+v", list)
	}
	if err := approle.RevokeAccessor(ctx, launcher, "approle", "other", a.SecretIDAccessor); err != nil {
		t.Fatal(err)
	}
	_, err = approle.Login(ctx, s.Client(t, ""), "approle", roleID(t, root, "other"), approle.Credential{SecretID: a.SecretID})
	if !errors.Is(err, approle.ErrSecretID) {
		t.Fatalf("login with a revoked secret ID: %v", err)
	}
	list, err = approle.ListSecretIDs(ctx, launcher, "approle", "other")
	if err != nil || len(list) != 1 {
		t.Fatalf("list after revoke: %+v %v", list, err)
	}
	err = approle.RevokeAccessor(ctx, launcher, "approle", "other", a.SecretIDAccessor)
	if !errors.Is(err, vaulterr.ErrNotFound) {
		t.Fatalf("revoke an unknown accessor: %v, want ErrNotFound", err)
	}
}

func TestUnavailable(t *testing.T) {
	s, root, launcher := setup(t)
	ctx := context.Background()
	rid := roleID(t, root, "app")
	m, err := approle.Mint(ctx, launcher, "approle", "app")
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	_, err = approle.Login(ctx, s.Client(t, ""), "approle", rid, approle.Credential{WrappingToken: m.WrappingToken})
	if !errors.Is(err, vaulterr.ErrUnavailable) || !errors.Is(err, retry.ErrUnavailable) {
		t.Fatalf("login against a sealed Vault: %v, want ErrUnavailable, matching the retry marker", err)
	}
	s.Stop()
	_, err = approle.Mint(ctx, launcher, "approle", "app")
	if !errors.Is(err, vaulterr.ErrUnavailable) || !errors.Is(err, retry.ErrUnavailable) || strings.Contains(err.Error(), launcher.Token()) {
		t.Fatalf("mint against a stopped Vault: %v, want ErrUnavailable", err)
	}
}

// TestRoleTokensWithoutDefaultPolicy checks keyturn's default against a
// real Vault: a role's token carries keyturn-token instead of Vault's
// default policy, and can still do what prestart does with it.
func TestRoleTokensWithoutDefaultPolicy(t *testing.T) {
	s, root, launcher := setup(t)
	ctx := context.Background()
	m, err := approle.Mint(ctx, launcher, "approle", "app", approle.WithoutWrapping())
	if err != nil {
		t.Fatal(err)
	}
	sec, err := approle.Login(ctx, s.Client(t, ""), "approle", roleID(t, root, "app"), approle.Credential{SecretID: m.SecretID})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sec.Auth.TokenPolicies, ","); got != "app-read,keyturn-token" {
		t.Fatalf("token policies %q, want app-read,keyturn-token and no default", got)
	}
	app := s.Client(t, sec.Auth.ClientToken)
	if _, err := app.KVv2("secret").Get(ctx, "app/db"); err != nil {
		t.Fatalf("read: %v", err)
	}
	if _, err := app.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		t.Fatalf("lookup-self: %v", err)
	}
	if _, err := app.Auth().Token().RenewSelfWithContext(ctx, 60); err != nil {
		t.Fatalf("renew-self: %v", err)
	}
	// What only the default policy grants is gone.
	_, err = app.Logical().WriteWithContext(ctx, "cubbyhole/x", map[string]any{"a": "b"})
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Fatalf("cubbyhole write without the default policy: %v, want 403", err)
	}
	if err := app.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
		t.Fatalf("revoke-self: %v", err)
	}
	if _, err := root.Auth().Token().LookupWithContext(ctx, sec.Auth.ClientToken); err == nil {
		t.Fatal("token still valid after revoke-self")
	}

	// The launcher's token has the same two-policy shape.
	self, err := launcher.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		t.Fatalf("launcher lookup-self: %v", err)
	}
	pols, _ := self.TokenPolicies()
	if got := strings.Join(pols, ","); got != "keyturn-launcher-ci,keyturn-token" {
		t.Fatalf("launcher token policies %q", got)
	}
}

// TestDefaultPolicyKeptOnRequest: token_no_default_policy = false keeps
// Vault's default policy and adds nothing.
func TestDefaultPolicyKeptOnRequest(t *testing.T) {
	s := vaulttest.StartDev(t)
	root := s.RootClient(t)
	ctx := context.Background()
	_, plan := planFor(t, root, `role "legacy" {
  token_no_default_policy = false
  secret_id_num_uses = 0
}`)
	for _, ch := range plan.Changes {
		if ch.Name == bootstrap.TokenPolicyName {
			t.Fatalf("keyturn-token planned although no role names it: %+v", ch)
		}
	}
	apply(t, root, plan)
	sid, err := root.Logical().WriteWithContext(ctx, "auth/approle/role/legacy/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := approle.Login(ctx, s.Client(t, ""), "approle", roleID(t, root, "legacy"), approle.Credential{SecretID: sid.Data["secret_id"].(string)})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sec.Auth.TokenPolicies, ","); got != "default" {
		t.Fatalf("token policies %q, want default", got)
	}
}
