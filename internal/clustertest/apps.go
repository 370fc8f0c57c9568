package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keyturn/keyturn/internal/dockertest"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// VaultAddr is what containers on the network use: the name every node
// shares.
const VaultAddr = "https://" + VaultAlias + ":8200"

// CAPath is where containers find the cluster's CA.
const CAPath = "/etc/keyturn/ca.pem"

// Prepare mounts KV v2 at secret/ and a PKI at pki/ (role "web"), stores
// the app's secrets, and applies examples/approle.hcl and
// testdata/extra.hcl with issuer bootstrap, as an operator would.
func (c *Cluster) Prepare(ctx context.Context, t testing.TB) {
	t.Helper()
	sys := c.Root.Sys()
	must(t, sys.MountWithContext(ctx, "secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	must(t, sys.MountWithContext(ctx, "pki", &api.MountInput{Type: "pki", Config: api.MountConfigInput{MaxLeaseTTL: "87600h"}}))
	write(ctx, t, c.Root, "pki/root/generate/internal", map[string]any{"common_name": "keyturn apps CA", "ttl": "8760h"})
	write(ctx, t, c.Root, "pki/roles/web", map[string]any{"allowed_domains": "web-1,web-2", "allow_bare_domains": true, "max_ttl": "1h"})
	c.KVPut(ctx, t, "app/db", map[string]any{"password": "orange1"})
	c.KVPut(ctx, t, "app/config", map[string]any{"greeting": "hello"})

	root, err := vaulttest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(root, "examples", "approle.hcl"), filepath.Join("testdata", "extra.hcl")} {
		if out, err := c.Issuer(ctx, t, "bootstrap", "-config", f); err != nil {
			t.Fatalf("issuer bootstrap -config %s: %v\n%s", f, err, out)
		}
	}
}

// KVPut writes a KV v2 secret under secret/, retrying while a fresh mount
// is still being set up.
func (c *Cluster) KVPut(ctx context.Context, t testing.TB, path string, data map[string]any) {
	t.Helper()
	var err error
	for i := 0; i < 50; i++ {
		if _, err = c.Root.KVv2("secret").Put(ctx, path, data); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("kv put %s: %v", path, err)
}

// Launcher starts the CI launcher's container: the operator image with
// nothing but a launcher token (for the given token role) in a file.
func (c *Cluster) Launcher(ctx context.Context, t testing.TB, name, tokenRole string) *dockertest.Container {
	t.Helper()
	sec, err := c.Root.Auth().Token().CreateWithRoleWithContext(ctx, &api.TokenCreateRequest{}, tokenRole)
	if err != nil {
		t.Fatalf("launcher token: %v", err)
	}
	return c.Env.Start(ctx, t, dockertest.Spec{
		Name:  name,
		Image: dockertest.Image("operator"),
		Env:   map[string]string{"VAULT_ADDR": VaultAddr, "VAULT_CACERT": CAPath},
		Files: []dockertest.File{
			{Path: CAPath, Data: c.CA.PEM, Mode: 0o644},
			{Path: "/run/keyturn/launcher.token", Data: []byte(sec.Auth.ClientToken)},
		},
		Entrypoint: []string{"/bin/sh", "-c", "exec sleep 3600"},
	})
}

// Mint has the launcher mint a wrapped one-time ID for role and returns
// the role ID and the wrapping token, as a CI job hands them to docker run.
func Mint(ctx context.Context, t testing.TB, launcher *dockertest.Container, role, job string) (roleID, wrapped string) {
	t.Helper()
	roleID = strings.TrimSpace(launcher.MustExec(ctx, t, "issuer", "role-id", "-role", role, "-token-file", "/run/keyturn/launcher.token"))
	wrapped = strings.TrimSpace(launcher.MustExec(ctx, t, "issuer", "mint", "-role", role, "-token-file", "/run/keyturn/launcher.token", "-meta", "job="+job))
	if roleID == "" || wrapped == "" || strings.ContainsAny(wrapped, " \n") {
		t.Fatalf("launcher printed role ID %q and wrapping token %q", roleID, wrapped)
	}
	return roleID, wrapped
}

// AppSpec is an app container that gets its one-time ID in the
// environment and runs the image's entrypoint (prestart -supervise) unless
// entrypoint is given.
func AppSpec(c *Cluster, name, roleID, wrapped string, entrypoint ...string) dockertest.Spec {
	return dockertest.Spec{
		Name:  name,
		Image: dockertest.Image("app"),
		Env: map[string]string{
			"VAULT_ADDR":              VaultAddr,
			"VAULT_CACERT":            CAPath,
			"VAULT_ROLE_ID":           roleID,
			"VAULT_WRAPPED_SECRET_ID": wrapped,
		},
		Files:      []dockertest.File{{Path: CAPath, Data: c.CA.PEM, Mode: 0o644}},
		Entrypoint: entrypoint,
		Wait:       wait.ForLog("app: ready").WithStartupTimeout(90 * time.Second),
	}
}

// AppAccessors returns the accessors of live tokens that logged in
// through AppRole role.
func (c *Cluster) AppAccessors(ctx context.Context, t testing.TB, role string) map[string]bool {
	t.Helper()
	list, err := c.Root.Logical().ListWithContext(ctx, "auth/token/accessors")
	if err != nil {
		t.Fatalf("list accessors: %v", err)
	}
	got := map[string]bool{}
	if list == nil {
		return got
	}
	keys, _ := list.Data["keys"].([]any)
	for _, k := range keys {
		acc, _ := k.(string)
		sec, err := c.Root.Auth().Token().LookupAccessorWithContext(ctx, acc)
		if err != nil || sec == nil {
			continue
		}
		if path, _ := sec.Data["path"].(string); path != "auth/approle/login" {
			continue
		}
		if meta, _ := sec.Data["meta"].(map[string]any); meta != nil && meta["role_name"] == role {
			got[acc] = true
		}
	}
	return got
}

// ChildPID returns the PID of PID 1's child in the container: the app
// under prestart -supervise.
func ChildPID(ctx context.Context, t testing.TB, app *dockertest.Container) string {
	t.Helper()
	// busybox has no pgrep: the fourth field of /proc/PID/stat is the
	// parent's PID (docker exec's processes have parent 0).
	out := strings.Fields(app.MustExec(ctx, t, "sh", "-c", `for s in /proc/[0-9]*/stat; do read -r pid comm state ppid rest < "$s" && [ "$ppid" = 1 ] && echo "$pid"; done; true`))
	if len(out) != 1 {
		t.Fatalf("PID 1 of %s has children %v, want one", app.Name, out)
	}
	return out[0]
}

// Metric reads one of prestart's Prometheus counters inside the container.
func Metric(ctx context.Context, t testing.TB, app *dockertest.Container, name string) float64 {
	t.Helper()
	out := app.MustExec(ctx, t, "wget", "-qO-", "http://127.0.0.1:9102/metrics")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			var v float64
			if _, err := fmt.Sscan(f[1], &v); err == nil {
				return v
			}
		}
	}
	t.Fatalf("metric %s not in\n%s", name, out)
	return 0
}

func write(ctx context.Context, t testing.TB, c *api.Client, path string, data map[string]any) *api.Secret {
	t.Helper()
	sec, err := c.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return sec
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
