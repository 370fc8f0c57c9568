package vaultsrc_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/source/vaultsrc"
	"github.com/keyturn/keyturn/internal/vaulterr"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

func read(t *testing.T, r *vaultsrc.Reader, ref string) (*source.Result, error) {
	t.Helper()
	parsed, err := source.ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r.Read(context.Background(), parsed)
}

func TestKVv1AndV2Detected(t *testing.T) {
	s := vaulttest.StartDev(t)
	c := s.RootClient(t)
	ctx := context.Background()
	if err := c.Sys().MountWithContext(ctx, "kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("kv1/app/db", map[string]any{"password": "v1pass"}); err != nil {
		t.Fatal(err)
	}
	kv := c.KVv2("secret")
	if _, err := kv.Put(ctx, "app/db", map[string]any{"password": "first"}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "app/db", map[string]any{"password": "second", "nested": map[string]any{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	r := vaultsrc.New(c)

	res, err := read(t, r, "vault://kv1/app/db")
	if err != nil || res.Data["password"] != "v1pass" || res.Version != "" || res.Lease != nil {
		t.Fatalf("kv v1: %+v %v", res, err)
	}
	res, err = read(t, r, "vault://secret/app/db")
	if err != nil || res.Data["password"] != "second" || res.Version != "2" || !res.Watchable {
		t.Fatalf("kv v2: %+v %v", res, err)
	}
	res, err = read(t, r, "vault://secret/app/db?version=1")
	if err != nil || res.Data["password"] != "first" || res.Version != "1" {
		t.Fatalf("kv v2 pinned: %+v %v", res, err)
	}
	if _, err := read(t, r, "vault://kv1/app/db?version=1"); err == nil || !strings.Contains(err.Error(), "needs a KV v2 mount") {
		t.Fatalf("version on kv v1: %v", err)
	}
	if _, err := read(t, r, "vault://secret/app/db?version=x"); err == nil {
		t.Fatal("version=x accepted")
	}
	if _, err := read(t, r, "vault://secret/app/db?versoin=1"); err == nil || !strings.Contains(err.Error(), "unknown option") {
		t.Fatalf("typo option: %v", err)
	}
	if err := kv.DeleteVersions(ctx, "app/db", []int{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t, r, "vault://secret/app/db?version=1"); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("deleted version: %v", err)
	}
	if _, err := read(t, r, "vault://secret/app/none"); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := read(t, r, "vault://kv1/none"); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("missing v1: %v", err)
	}
}

func TestLimitedTokenAndPermissionDenied(t *testing.T) {
	s := vaulttest.StartDev(t)
	root := s.RootClient(t)
	ctx := context.Background()
	if _, err := root.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": "p"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("app", `path "secret/data/app/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	r := vaultsrc.New(s.Client(t, tok.Auth.ClientToken))
	// The mount preflight works for a token that can read below the mount.
	if res, err := read(t, r, "vault://secret/app/db"); err != nil || res.Data["password"] != "p" || res.Version != "1" {
		t.Fatalf("limited token: %+v %v", res, err)
	}
	if _, err := read(t, r, "vault://secret/other/db"); !errors.Is(err, vaulterr.ErrPermissionDenied) {
		t.Fatalf("outside the policy: %v, want permission denied", err)
	}
}

func TestLeasedSecretKeepsItsLease(t *testing.T) {
	// -dev-leased-kv mounts secret/ as a KV that returns renewable leases.
	s := vaulttest.StartDev(t, vaulttest.WithArgs("-dev-leased-kv"))
	c := s.RootClient(t)
	if _, err := c.Logical().Write("secret/app/lease", map[string]any{"password": "leased", "ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	res, err := read(t, vaultsrc.New(c), "vault://secret/app/lease")
	if err != nil {
		t.Fatal(err)
	}
	if res.Lease == nil || res.Lease.ID == "" || !res.Lease.Renewable || res.Lease.Duration.Hours() != 1 {
		t.Fatalf("lease: %+v", res.Lease)
	}
	if res.Data["password"] != "leased" {
		t.Fatalf("data: %v", res.Data)
	}
}

func TestSealedIsUnavailable(t *testing.T) {
	s := vaulttest.StartDev(t)
	c := s.RootClient(t)
	r := vaultsrc.New(c)
	if err := c.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t, r, "vault://secret/app/db"); !errors.Is(err, vaulterr.ErrUnavailable) || !errors.Is(err, retry.ErrUnavailable) {
		t.Fatalf("sealed: %v, want ErrUnavailable, matching the retry marker", err)
	}
}
