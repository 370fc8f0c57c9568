// Package bootstrap reads a bootstrap file (HCL: the AppRole mount,
// policies, roles and launchers) and brings Vault in line with it: MakePlan
// compares the file with what Vault has, Apply makes the changes. It is the
// issuer's side of package approle, kept apart so that prestart, which only
// logs in, does not link an HCL decoder it never uses.
package bootstrap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyturn/keyturn/internal/approle"
)

// Defaults for a role, chosen for one container start per secret ID: one
// use, short life, a renewable token that cannot outlive a day.
const (
	DefaultSecretIDNumUses = 1
	DefaultSecretIDTTL     = 10 * time.Minute
	DefaultTokenTTL        = time.Hour
	DefaultTokenMaxTTL     = 24 * time.Hour
)

// Config is a bootstrap file: the auth mount, policies, roles and launchers.
type Config struct {
	Mount     string
	Policies  []Policy
	Roles     []Role
	Launchers []Launcher
}

// Policy is an ACL policy, inline or from a file next to the config.
type Policy struct {
	Name string
	Text string
}

// Role holds every AppRole role parameter. Unset parameters take Vault's
// defaults (or keyturn's, for the four above), so the file is the whole
// truth about a role and removing a line resets the field.
type Role struct {
	Name                 string
	RoleID               string // custom role ID; empty keeps Vault's
	BindSecretID         bool
	SecretIDBoundCIDRs   []string
	SecretIDNumUses      int
	SecretIDTTL          time.Duration
	LocalSecretIDs       bool
	TokenPolicies        []string
	TokenTTL             time.Duration
	TokenMaxTTL          time.Duration
	TokenExplicitMaxTTL  time.Duration
	TokenPeriod          time.Duration
	TokenBoundCIDRs      []string
	TokenNumUses         int
	TokenNoDefaultPolicy bool
	TokenType            string
}

// Launcher is a CI job or scheduler that mints secret IDs. It gets a
// generated policy that allows exactly minting for its roles and reading
// their role IDs, and a token role to create its own tokens from.
type Launcher struct {
	Name   string
	Roles  []string
	Revoke bool // also list, look up and destroy secret IDs by accessor
	// TokenMaxTTL bounds tokens created from the launcher's token role
	// (auth/token/create/keyturn-launcher-NAME): their explicit max TTL.
	TokenMaxTTL time.Duration
}

// The file as written: pointers tell an unset field (a default) from a
// zero.
type fileSchema struct {
	Mount     *string
	Policies  []policySchema
	Roles     []roleSchema
	Launchers []launcherSchema
}

type policySchema struct {
	Name string
	Text *string
	File *string
}

type roleSchema struct {
	Name                 string
	RoleID               *string
	BindSecretID         *bool
	SecretIDBoundCIDRs   []string
	SecretIDNumUses      *int
	SecretIDTTL          *string
	LocalSecretIDs       *bool
	TokenPolicies        []string
	TokenTTL             *string
	TokenMaxTTL          *string
	TokenExplicitMaxTTL  *string
	TokenPeriod          *string
	TokenBoundCIDRs      []string
	TokenNumUses         *int
	TokenNoDefaultPolicy *bool
	TokenType            *string
}

type launcherSchema struct {
	Name        string
	Roles       []string
	Revoke      *bool
	TokenMaxTTL *string
}

// nameRE is compiled on first use, so that issuer mint does not pay for it.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`) })

// LoadConfig reads and validates a bootstrap file. Policy files are
// resolved relative to the config file's directory.
func LoadConfig(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(path, src)
}

// ParseConfig parses and validates a bootstrap file held in memory.
func ParseConfig(filename string, src []byte) (*Config, error) {
	f, err := decode(filename, src)
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	cfg := &Config{Mount: approle.DefaultMount}
	if f.Mount != nil {
		cfg.Mount = strings.Trim(*f.Mount, "/")
	}
	if !nameRE().MatchString(cfg.Mount) {
		return nil, fmt.Errorf("config: invalid mount %q", cfg.Mount)
	}
	seen := map[string]bool{}
	for _, p := range f.Policies {
		if err := uniqueName("policy", p.Name, seen); err != nil {
			return nil, err
		}
		pol, err := loadPolicy(filename, p)
		if err != nil {
			return nil, err
		}
		cfg.Policies = append(cfg.Policies, pol)
	}
	roles := map[string]bool{}
	for _, r := range f.Roles {
		if err := uniqueName("role", r.Name, roles); err != nil {
			return nil, err
		}
		role, err := r.role()
		if err != nil {
			return nil, fmt.Errorf("config: role %q: %w", r.Name, err)
		}
		cfg.Roles = append(cfg.Roles, role)
	}
	launchers := map[string]bool{}
	for _, l := range f.Launchers {
		if err := uniqueName("launcher", l.Name, launchers); err != nil {
			return nil, err
		}
		if seen[LauncherPolicyName(l.Name)] {
			return nil, fmt.Errorf("config: policy %q is generated for launcher %q; rename one of them", LauncherPolicyName(l.Name), l.Name)
		}
		if len(l.Roles) == 0 {
			return nil, fmt.Errorf("config: launcher %q names no roles", l.Name)
		}
		for _, r := range l.Roles {
			if !roles[r] {
				return nil, fmt.Errorf("config: launcher %q names role %q, which the file does not declare", l.Name, r)
			}
		}
		ln := Launcher{Name: l.Name, Roles: sortedCopy(l.Roles), TokenMaxTTL: 24 * time.Hour}
		if l.Revoke != nil {
			ln.Revoke = *l.Revoke
		}
		var err error
		if ln.TokenMaxTTL, err = durationOr(l.TokenMaxTTL, ln.TokenMaxTTL); err != nil {
			return nil, fmt.Errorf("config: launcher %q: token_max_ttl: %w", l.Name, err)
		}
		cfg.Launchers = append(cfg.Launchers, ln)
	}
	return cfg, nil
}

func uniqueName(kind, name string, seen map[string]bool) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("config: invalid %s name %q", kind, name)
	}
	if seen[name] {
		return fmt.Errorf("config: %s %q is declared twice", kind, name)
	}
	seen[name] = true
	return nil
}

func loadPolicy(cfgFile string, p policySchema) (Policy, error) {
	switch {
	case p.Text != nil && p.File != nil:
		return Policy{}, fmt.Errorf("config: policy %q sets both text and file", p.Name)
	case p.Text != nil:
		return Policy{Name: p.Name, Text: *p.Text}, nil
	case p.File != nil:
		path := *p.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(cfgFile), path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return Policy{}, fmt.Errorf("config: policy %q: %w", p.Name, err)
		}
		return Policy{Name: p.Name, Text: string(b)}, nil
	}
	return Policy{}, fmt.Errorf("config: policy %q needs text or file", p.Name)
}

func (r roleSchema) role() (Role, error) {
	role := Role{
		Name:               r.Name,
		BindSecretID:       true,
		SecretIDBoundCIDRs: sortedCopy(r.SecretIDBoundCIDRs),
		SecretIDNumUses:    DefaultSecretIDNumUses,
		TokenPolicies:      sortedCopy(r.TokenPolicies),
		TokenBoundCIDRs:    sortedCopy(r.TokenBoundCIDRs),
		TokenType:          "default",
	}
	if r.RoleID != nil {
		role.RoleID = *r.RoleID
	}
	if r.BindSecretID != nil {
		role.BindSecretID = *r.BindSecretID
	}
	if r.SecretIDNumUses != nil {
		if *r.SecretIDNumUses < 0 {
			return role, errors.New("secret_id_num_uses cannot be negative")
		}
		role.SecretIDNumUses = *r.SecretIDNumUses
	}
	if r.LocalSecretIDs != nil {
		role.LocalSecretIDs = *r.LocalSecretIDs
	}
	if r.TokenNumUses != nil {
		if *r.TokenNumUses < 0 {
			return role, errors.New("token_num_uses cannot be negative")
		}
		role.TokenNumUses = *r.TokenNumUses
	}
	if r.TokenNoDefaultPolicy != nil {
		role.TokenNoDefaultPolicy = *r.TokenNoDefaultPolicy
	}
	if r.TokenType != nil {
		switch *r.TokenType {
		case "default", "service", "batch", "default-service", "default-batch":
			role.TokenType = *r.TokenType
		default:
			return role, fmt.Errorf("token_type %q is not one of service, batch, default, default-service, default-batch", *r.TokenType)
		}
	}
	var err error
	durs := []struct {
		name string
		in   *string
		def  time.Duration
		out  *time.Duration
	}{
		{"secret_id_ttl", r.SecretIDTTL, DefaultSecretIDTTL, &role.SecretIDTTL},
		{"token_ttl", r.TokenTTL, DefaultTokenTTL, &role.TokenTTL},
		{"token_max_ttl", r.TokenMaxTTL, DefaultTokenMaxTTL, &role.TokenMaxTTL},
		{"token_explicit_max_ttl", r.TokenExplicitMaxTTL, 0, &role.TokenExplicitMaxTTL},
		{"token_period", r.TokenPeriod, 0, &role.TokenPeriod},
	}
	for _, d := range durs {
		if *d.out, err = durationOr(d.in, d.def); err != nil {
			return role, fmt.Errorf("%s: %w", d.name, err)
		}
	}
	if role.TokenMaxTTL != 0 && role.TokenTTL > role.TokenMaxTTL {
		return role, errors.New("token_ttl is longer than token_max_ttl")
	}
	if !role.BindSecretID && len(role.SecretIDBoundCIDRs) == 0 && len(role.TokenBoundCIDRs) == 0 {
		return role, errors.New("bind_secret_id = false needs secret_id_bound_cidrs or token_bound_cidrs (Vault requires a constraint)")
	}
	return role, nil
}

// durationOr parses "90s", "10m", "1h" or a number of seconds.
func durationOr(s *string, def time.Duration) (time.Duration, error) {
	if s == nil {
		return def, nil
	}
	v := strings.TrimSpace(*s)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%q is negative", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 90s, 10m or 1h", v)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", v)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("%q is not a whole number of seconds", v)
	}
	return d, nil
}

func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

// LauncherPolicyName is the name of the policy generated for a launcher.
func LauncherPolicyName(launcher string) string { return "keyturn-launcher-" + launcher }

// LauncherPolicy renders the policy that lets a launcher mint secret IDs for
// its roles and read their role IDs, and nothing else: no secret reads, no
// role changes, no other role.
func LauncherPolicy(mount string, l Launcher) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by keyturn for launcher %q. Changes here are overwritten by `issuer bootstrap`.\n", l.Name)
	for _, r := range l.Roles {
		base := fmt.Sprintf("auth/%s/role/%s", mount, r)
		mint := `"create", "update"`
		if l.Revoke {
			// LIST on secret-id enumerates accessors, never secret IDs.
			mint += `, "list"`
		}
		fmt.Fprintf(&b, "\npath %q {\n  capabilities = [%s]\n}\n", base+"/secret-id", mint)
		fmt.Fprintf(&b, "\npath %q {\n  capabilities = [\"read\"]\n}\n", base+"/role-id")
		if l.Revoke {
			fmt.Fprintf(&b, "\npath %q {\n  capabilities = [\"update\"]\n}\n", base+"/secret-id-accessor/lookup")
			fmt.Fprintf(&b, "\npath %q {\n  capabilities = [\"update\"]\n}\n", base+"/secret-id-accessor/destroy")
		}
	}
	return b.String()
}
