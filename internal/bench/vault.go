package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/approle/bootstrap"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// vaultLab is one loopback dev Vault with everything the Vault cases need.
type vaultLab struct {
	bin, dir, addr string
	root           *api.Client
	roleID         string // role "app": one-time secret IDs, token TTL 1h
	renewRoleID    string // role "renew": token TTL 1s, for the renewal count
	// (its secret IDs have no use limit, so that a renewal made too late
	// on a loaded machine costs a new login, reported, not the run)
	launcherToken string // may only mint for "app", as a launcher's token
	auditPath     string
	stop          func()
}

// kv20 is the number of paths of the many-secrets case.
const kv20 = 20

func startVault(bin, dir string) (*vaultLab, error) {
	srv, err := vaulttest.RunDev(bin, dir)
	if err != nil {
		return nil, err
	}
	v := &vaultLab{bin: bin, dir: dir, auditPath: filepath.Join(dir, "audit.log"), addr: srv.Addr, stop: srv.Stop}
	if v.root, err = srv.NewClient(srv.RootToken); err != nil {
		v.stop()
		return nil, err
	}
	if err := v.setup(); err != nil {
		v.stop()
		return nil, fmt.Errorf("set up vault: %w", err)
	}
	return v, nil
}

// benchBootstrap configures Vault as keyturn's users do, with issuer
// bootstrap's defaults (among them tokens without Vault's default policy,
// which every contender's requests then cost Vault alike).
const benchBootstrap = `
policy "app" {
  text = <<-EOT
    path "secret/data/app/*" { capabilities = ["read"] }
  EOT
}
role "app" {
  token_policies = ["app"]
}
role "renew" {
  token_policies     = ["app"]
  secret_id_num_uses = 0
  secret_id_ttl      = "2h"
  token_ttl          = "1s"
}
launcher "bench" {
  roles = ["app"]
}
`

func (v *vaultLab) setup() error {
	c := v.root
	ctx := context.Background()
	cfg, err := bootstrap.ParseConfig("bench.hcl", []byte(benchBootstrap))
	if err != nil {
		return err
	}
	plan, err := bootstrap.MakePlan(ctx, c, cfg)
	if err != nil {
		return err
	}
	if err := bootstrap.Apply(ctx, c, plan); err != nil {
		return err
	}
	if _, err := c.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": "orange1"}); err != nil {
		return err
	}
	for i := 1; i <= kv20; i++ {
		if _, err := c.KVv2("secret").Put(ctx, fmt.Sprintf("app/s%02d", i), map[string]any{"value": fmt.Sprintf("v%02d", i)}); err != nil {
			return err
		}
	}
	for name, dst := range map[string]*string{"app": &v.roleID, "renew": &v.renewRoleID} {
		sec, err := c.Logical().Read("auth/approle/role/" + name + "/role-id")
		if err != nil {
			return err
		}
		*dst = sec.Data["role_id"].(string)
	}
	tok, err := c.Logical().WriteWithContext(ctx, "auth/token/create/"+bootstrap.LauncherPolicyName("bench"), nil)
	if err != nil {
		return err
	}
	v.launcherToken = tok.Auth.ClientToken
	return os.WriteFile(filepath.Join(v.dir, "role.id"), []byte(v.roleID), 0o600)
}

// mint returns a fresh one-time secret ID for role, wrapped or bare.
// Minting is the launcher's job and is never timed with a start.
func (v *vaultLab) mint(role string, wrapped bool) (string, error) {
	c, err := v.root.Clone()
	if err != nil {
		return "", err
	}
	c.SetToken(v.root.Token())
	c.SetWrappingLookupFunc(func(string, string) string {
		if wrapped {
			return "120s"
		}
		return ""
	})
	sec, err := c.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	if err != nil {
		return "", err
	}
	if wrapped {
		return sec.WrapInfo.Token, nil
	}
	return sec.Data["secret_id"].(string), nil
}

// The request counts come from Vault's own file audit device, enabled only
// while counting: it writes every request to disk before answering, which
// would slow down the timed rounds.
func (v *vaultLab) auditOn() error {
	return v.root.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": v.auditPath}})
}

func (v *vaultLab) auditOff() error { return v.root.Sys().DisableAudit("file") }

// auditOffset is the audit log's current size: the requests of a start
// are the entries written after it.
func (v *vaultLab) auditOffset() (int64, error) {
	fi, err := os.Stat(v.auditPath)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// auditSince returns a label per request logged after offset, in order.
func (v *vaultLab) auditSince(offset int64) ([]string, error) {
	f, err := os.Open(v.auditPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return nil, err
	}
	type entry struct {
		Type    string `json:"type"`
		Request struct {
			ID        string `json:"id"`
			Operation string `json:"operation"`
			Path      string `json:"path"`
		} `json:"request"`
		Auth struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"auth"`
	}
	var reqs []entry
	// The supervise measurement renews its token in the background all
	// along; its requests (and a login of its role, known by the
	// response) belong to no start.
	skip := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		if e.Auth.Metadata["role_name"] == "renew" {
			skip[e.Request.ID] = true
		}
		if e.Type == "request" {
			reqs = append(reqs, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var labels []string
	for _, e := range reqs {
		if !skip[e.Request.ID] {
			labels = append(labels, vaultLabel(e.Request.Operation, e.Request.Path))
		}
	}
	return labels, nil
}

// vaultLabel names a request for the report: short names for the steps of
// a start, the path for anything else.
func vaultLabel(op, path string) string {
	switch {
	case path == "sys/wrapping/lookup":
		return "wrapping lookup"
	case path == "sys/wrapping/unwrap":
		return "unwrap"
	case strings.HasPrefix(path, "auth/approle/login"):
		return "login"
	case strings.HasPrefix(path, "sys/internal/ui/mounts/"):
		return "mount lookup"
	case path == "auth/token/revoke-self":
		return "revoke-self"
	case path == "auth/token/renew-self":
		return "renew-self"
	case strings.HasSuffix(path, "/secret-id") && op == "update":
		return "secret-id"
	case op == "read" && strings.HasPrefix(path, "secret/data/"):
		return "kv read"
	}
	return op + " " + path
}
