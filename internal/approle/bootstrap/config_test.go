package bootstrap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/internal/approle"
)

func TestExampleConfig(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "..", "..", "examples", "approle.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mount != "approle" || len(cfg.Roles) != 1 || len(cfg.Launchers) != 1 || len(cfg.Policies) != 1 {
		t.Fatalf("unexpected config: %+v", cfg)
	}
	r := cfg.Roles[0]
	if r.SecretIDNumUses != 1 || r.SecretIDTTL != 10*time.Minute || r.TokenTTL != time.Hour || r.TokenMaxTTL != 24*time.Hour {
		t.Fatalf("role defaults not applied: %+v", r)
	}
	if !r.BindSecretID || r.TokenType != "default" {
		t.Fatalf("vault defaults not applied: %+v", r)
	}
	if !strings.Contains(cfg.Policies[0].Text, `path "secret/data/app/*"`) {
		t.Fatalf("policy text: %q", cfg.Policies[0].Text)
	}
}

func TestConfigDefaultsAndDurations(t *testing.T) {
	cfg, err := ParseConfig("t.hcl", []byte(`
role "a" {
  secret_id_ttl = "90"
  token_ttl = "30m"
  token_max_ttl = 7200
  secret_id_num_uses = 0
  token_bound_cidrs = ["10.0.0.0/8", "127.0.0.1/32"]
}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Roles[0]
	if cfg.Mount != approle.DefaultMount {
		t.Errorf("mount %q", cfg.Mount)
	}
	if r.SecretIDTTL != 90*time.Second || r.TokenTTL != 30*time.Minute || r.TokenMaxTTL != 2*time.Hour {
		t.Errorf("durations: %+v", r)
	}
	if r.SecretIDNumUses != 0 {
		t.Errorf("explicit 0 uses (unlimited) overridden: %d", r.SecretIDNumUses)
	}
	if got := strings.Join(r.TokenBoundCIDRs, ","); got != "10.0.0.0/8,127.0.0.1/32" {
		t.Errorf("cidrs %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"unknown attr", `role "a" { secret_id_ttll = "1m" }`, "Unsupported argument"},
		{"bad duration", `role "a" { token_ttl = "soon" }`, `token_ttl: "soon" is not a duration`},
		{"negative", `role "a" { token_ttl = "-1m" }`, "negative"},
		{"fraction", `role "a" { token_ttl = "1.5s" }`, "whole number of seconds"},
		{"ttl > max", `role "a" {
  token_ttl = "2h"
  token_max_ttl = "1h"
}`, "token_ttl is longer than token_max_ttl"},
		{"dup role", `role "a" {}
role "a" {}`, `role "a" is declared twice`},
		{"bad name", `role "a/b" {}`, `invalid role name "a/b"`},
		{"launcher unknown role", `launcher "ci" { roles = ["x"] }`, `names role "x", which the file does not declare`},
		{"launcher no roles", `role "a" {}
launcher "ci" { roles = [] }`, "names no roles"},
		{"policy both", `policy "p" {
 text = "x"
 file = "y"
}`, "sets both text and file"},
		{"policy none", `policy "p" {}`, "needs text or file"},
		{"token type", `role "a" { token_type = "weird" }`, "token_type"},
		{"unbound", `role "a" { bind_secret_id = false }`, "needs secret_id_bound_cidrs"},
		{"generated name clash", `policy "keyturn-launcher-ci" { text = "" }
role "a" {}
launcher "ci" { roles = ["a"] }`, "is generated for launcher"},
		{"bad mount", `mount = "a b"`, "invalid mount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("t.hcl", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestPolicyFileRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.hcl"), []byte(`path "x" { capabilities = ["read"] }`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "keyturn.hcl")
	if err := os.WriteFile(cfgPath, []byte(`policy "p" { file = "p.hcl" }`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policies[0].Text != `path "x" { capabilities = ["read"] }` {
		t.Fatalf("policy text %q", cfg.Policies[0].Text)
	}
}

func TestLauncherPolicyScope(t *testing.T) {
	p := LauncherPolicy("approle", Launcher{Name: "ci", Roles: []string{"app", "web"}})
	for _, want := range []string{
		`path "auth/approle/role/app/secret-id" {` + "\n" + `  capabilities = ["create", "update"]`,
		`path "auth/approle/role/web/role-id" {` + "\n" + `  capabilities = ["read"]`,
	} {
		if !strings.Contains(p, want) {
			t.Errorf("policy lacks %q:\n%s", want, p)
		}
	}
	if strings.Contains(p, "accessor") || strings.Contains(p, "list") {
		t.Errorf("revoke paths granted without revoke = true:\n%s", p)
	}
	if strings.Count(p, "path ") != 4 {
		t.Errorf("want exactly 4 paths:\n%s", p)
	}
	pr := LauncherPolicy("approle", Launcher{Name: "ci", Roles: []string{"app"}, Revoke: true})
	for _, want := range []string{`"create", "update", "list"`, "secret-id-accessor/lookup", "secret-id-accessor/destroy"} {
		if !strings.Contains(pr, want) {
			t.Errorf("revoke policy lacks %q:\n%s", want, pr)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`mount = "approle"
policy "p" { text = "path \"x\" {}" }
role "a" {
  token_policies = ["p"]
  token_ttl = "30m"
  secret_id_num_uses = 1
}
launcher "ci" { roles = ["a"] }`))
	f.Add([]byte(`role "a" { token_max_ttl = 7200 }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := ParseConfig("f.hcl", src)
		if err != nil {
			return
		}
		for _, r := range cfg.Roles {
			if r.SecretIDNumUses < 0 || r.TokenNumUses < 0 || r.TokenTTL < 0 || r.SecretIDTTL < 0 {
				t.Fatalf("accepted a negative value: %+v", r)
			}
			if r.TokenMaxTTL != 0 && r.TokenTTL > r.TokenMaxTTL {
				t.Fatalf("accepted token_ttl above token_max_ttl: %+v", r)
			}
		}
		for _, l := range cfg.Launchers {
			if len(l.Roles) == 0 {
				t.Fatalf("accepted a launcher without roles: %+v", l)
			}
		}
	})
}
