package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/vaulttest"
)

// vault is a dev server started for the run; its secret/ mount hands out
// renewable leases (-dev-leased-kv).
type vault struct {
	addr   string
	root   *api.Client
	roleID string
	stop   func()
}

func startVault(bin, dir string) (*vault, error) {
	srv, err := vaulttest.RunDev(bin, dir, vaulttest.WithArgs("-dev-leased-kv"))
	if err != nil {
		return nil, err
	}
	v := &vault{addr: srv.Addr, stop: srv.Stop}
	if v.root, err = srv.NewClient(srv.RootToken); err != nil {
		v.stop()
		return nil, err
	}
	return v, nil
}

// policy lets the app read its two secrets and issue its certificate.
const policy = `
path "secret/app/*" { capabilities = ["read"] }
path "pki/issue/app" { capabilities = ["update"] }
`

// setup creates the role (3s tokens, 10s max TTL, reusable secret IDs),
// a leased secret with a 10s TTL (every kv mount of a -dev-leased-kv
// server hands out leases, so there is no KV v2 to poll), and a PKI role,
// and returns the values prestart will read and the role ID.
func (v *vault) setup(ctx context.Context) (values []string, err error) {
	c := v.root
	steps := []func() error{
		func() error {
			return c.Sys().EnableAuthWithOptionsWithContext(ctx, "approle", &api.EnableAuthOptions{Type: "approle"})
		},
		func() error { return c.Sys().PutPolicyWithContext(ctx, "app", policy) },
		func() error {
			_, err := c.Logical().WriteWithContext(ctx, "auth/approle/role/app", map[string]any{
				"token_policies": "app", "token_ttl": "3s", "token_max_ttl": "10s", "secret_id_num_uses": 0,
			})
			return err
		},
		func() error {
			return c.Sys().MountWithContext(ctx, "pki", &api.MountInput{Type: "pki", Config: api.MountConfigInput{MaxLeaseTTL: "1h"}})
		},
		func() error {
			_, err := c.Logical().WriteWithContext(ctx, "pki/root/generate/internal", map[string]any{"common_name": "soak CA", "ttl": "1h"})
			return err
		},
		func() error {
			_, err := c.Logical().WriteWithContext(ctx, "pki/roles/app", map[string]any{
				"allowed_domains": "example.internal", "allow_subdomains": true, "max_ttl": "1m",
			})
			return err
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	leased, user := "lease-"+randHex(12), "user-"+randHex(6)
	if _, err := c.Logical().WriteWithContext(ctx, "secret/app/lease", map[string]any{"password": leased, "user": user, "ttl": "10s"}); err != nil {
		return nil, err
	}
	sec, err := c.Logical().ReadWithContext(ctx, "auth/approle/role/app/role-id")
	if err != nil {
		return nil, err
	}
	v.roleID, _ = sec.Data["role_id"].(string)
	return []string{leased, user, v.roleID}, nil
}

// mint returns a wrapped secret ID for the role, as a launcher would.
func (v *vault) mint(ctx context.Context) (string, error) {
	c, err := v.root.Clone()
	if err != nil {
		return "", err
	}
	c.SetToken(v.root.Token())
	c.SetWrappingLookupFunc(func(string, string) string { return "120s" })
	sec, err := c.Logical().WriteWithContext(ctx, "auth/approle/role/app/secret-id", nil)
	if err != nil {
		return "", err
	}
	if sec == nil || sec.WrapInfo == nil {
		return "", errors.New("no wrapped secret ID in the answer")
	}
	return sec.WrapInfo.Token, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
