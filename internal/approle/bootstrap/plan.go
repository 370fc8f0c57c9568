package bootstrap

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/vaulterr"
)

// Action says what Apply will do to one object.
type Action string

const (
	Create   Action = "create"
	Update   Action = "update"
	NoChange Action = "unchanged"
)

// FieldChange is one field that differs. Hidden fields (a custom role_id)
// are named but their values are never shown.
type FieldChange struct {
	Field  string `json:"field"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	Hidden bool   `json:"hidden,omitempty"`
}

// Change is the plan for one Vault object.
type Change struct {
	Kind   string        `json:"kind"` // "auth mount", "policy", "role", "token role"
	Name   string        `json:"name"`
	Action Action        `json:"action"`
	Fields []FieldChange `json:"fields,omitempty"`

	path   string         // where Apply writes
	body   map[string]any // what Apply writes
	policy *string        // policy text, for policies
	roleID string         // custom role ID, written separately
}

// Plan is what bootstrap would change, in the order Apply changes it.
type Plan struct {
	Mount   string   `json:"mount"`
	Changes []Change `json:"changes"`
}

// Pending returns the changes that are not NoChange.
func (p *Plan) Pending() []Change {
	var out []Change
	for _, c := range p.Changes {
		if c.Action != NoChange {
			out = append(out, c)
		}
	}
	return out
}

// fieldKind decides how a field is compared and shown.
type fieldKind int

const (
	kString fieldKind = iota
	kInt
	kBool
	kDuration
	kList
)

type field struct {
	name string
	kind fieldKind
	want any
}

func roleFields(r Role) []field {
	return []field{
		{"bind_secret_id", kBool, r.BindSecretID},
		{"secret_id_bound_cidrs", kList, r.SecretIDBoundCIDRs},
		{"secret_id_num_uses", kInt, r.SecretIDNumUses},
		{"secret_id_ttl", kDuration, r.SecretIDTTL},
		{"local_secret_ids", kBool, r.LocalSecretIDs},
		{"token_policies", kList, r.TokenPolicies},
		{"token_ttl", kDuration, r.TokenTTL},
		{"token_max_ttl", kDuration, r.TokenMaxTTL},
		{"token_explicit_max_ttl", kDuration, r.TokenExplicitMaxTTL},
		{"token_period", kDuration, r.TokenPeriod},
		{"token_bound_cidrs", kList, r.TokenBoundCIDRs},
		{"token_num_uses", kInt, r.TokenNumUses},
		{"token_no_default_policy", kBool, r.TokenNoDefaultPolicy},
		{"token_type", kString, r.TokenType},
	}
}

// tokenRoleFields: token roles take no token_ttl, so a launcher token's
// life is bounded by an explicit max TTL instead.
func tokenRoleFields(l Launcher) []field {
	return []field{
		{"allowed_policies", kList, []string{LauncherPolicyName(l.Name), TokenPolicyName}},
		{"orphan", kBool, true},
		{"renewable", kBool, true},
		{"token_explicit_max_ttl", kDuration, l.TokenMaxTTL},
		{"token_no_default_policy", kBool, true},
	}
}

// MakePlan compares the config with what Vault holds. It only reads.
func MakePlan(ctx context.Context, c *api.Client, cfg *Config) (*Plan, error) {
	p := &Plan{Mount: cfg.Mount}
	mounts, err := c.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return nil, vaulterr.Classify("list auth mounts", err)
	}
	mountExists := false
	if m, ok := mounts[cfg.Mount+"/"]; ok {
		if m.Type != "approle" {
			return nil, fmt.Errorf("auth mount %q is of type %q, not approle", cfg.Mount, m.Type)
		}
		mountExists = true
	}
	mc := Change{Kind: "auth mount", Name: cfg.Mount + "/", Action: NoChange, path: "sys/auth/" + cfg.Mount}
	if !mountExists {
		mc.Action = Create
		mc.body = map[string]any{"type": "approle", "description": "managed by keyturn"}
		mc.Fields = []FieldChange{{Field: "type", New: "approle"}}
	}
	p.Changes = append(p.Changes, mc)

	policies := append([]Policy{}, cfg.Policies...)
	if cfg.needsTokenPolicy() {
		policies = append(policies, Policy{Name: TokenPolicyName, Text: TokenPolicy})
	}
	for _, l := range cfg.Launchers {
		policies = append(policies, Policy{Name: LauncherPolicyName(l.Name), Text: LauncherPolicy(cfg.Mount, l)})
	}
	for _, pol := range policies {
		ch, err := planPolicy(ctx, c, pol)
		if err != nil {
			return nil, err
		}
		p.Changes = append(p.Changes, ch)
	}
	for _, r := range cfg.Roles {
		path := fmt.Sprintf("auth/%s/role/%s", cfg.Mount, r.Name)
		var current map[string]any
		if mountExists {
			sec, err := c.Logical().ReadWithContext(ctx, path)
			if err != nil {
				return nil, vaulterr.Classify(fmt.Sprintf("read role %q", r.Name), err)
			}
			if sec != nil {
				current = sec.Data
			}
		}
		ch := planObject("role", r.Name, path, roleFields(r), current)
		if ch.Action == Update {
			for _, f := range ch.Fields {
				if f.Field == "local_secret_ids" {
					return nil, fmt.Errorf("role %q: local_secret_ids can only be set when a role is created (delete the role to change it)", r.Name)
				}
			}
		}
		if ch.Action == Update || ch.Action == NoChange {
			delete(ch.body, "local_secret_ids")
		}
		if r.RoleID != "" {
			if err := planRoleID(ctx, c, &ch, cfg.Mount, r, current != nil); err != nil {
				return nil, err
			}
		}
		p.Changes = append(p.Changes, ch)
	}
	for _, l := range cfg.Launchers {
		name := LauncherPolicyName(l.Name)
		path := "auth/token/roles/" + name
		sec, err := c.Logical().ReadWithContext(ctx, path)
		if err != nil {
			return nil, vaulterr.Classify(fmt.Sprintf("read token role %q", name), err)
		}
		var current map[string]any
		if sec != nil {
			current = sec.Data
		}
		p.Changes = append(p.Changes, planObject("token role", name, path, tokenRoleFields(l), current))
	}
	return p, nil
}

// needsTokenPolicy reports whether a role or a launcher's token role
// names TokenPolicyName.
func (cfg *Config) needsTokenPolicy() bool {
	if len(cfg.Launchers) > 0 {
		return true
	}
	for _, r := range cfg.Roles {
		if slices.Contains(r.TokenPolicies, TokenPolicyName) {
			return true
		}
	}
	return false
}

func planPolicy(ctx context.Context, c *api.Client, pol Policy) (Change, error) {
	ch := Change{Kind: "policy", Name: pol.Name, Action: NoChange, policy: &pol.Text}
	sec, err := c.Logical().ReadWithContext(ctx, "sys/policies/acl/"+pol.Name)
	if err != nil {
		return ch, vaulterr.Classify(fmt.Sprintf("read policy %q", pol.Name), err)
	}
	lines := func(s string) string {
		return fmt.Sprintf("%d lines", strings.Count(strings.TrimRight(s, "\n"), "\n")+1)
	}
	if sec == nil {
		ch.Action = Create
		ch.Fields = []FieldChange{{Field: "policy", New: lines(pol.Text)}}
		return ch, nil
	}
	old, _ := sec.Data["policy"].(string)
	if strings.TrimSpace(old) != strings.TrimSpace(pol.Text) {
		ch.Action = Update
		ch.Fields = []FieldChange{{Field: "policy", Old: lines(old), New: lines(pol.Text)}}
	}
	return ch, nil
}

// planRoleID compares a custom role ID without ever putting it in the plan.
func planRoleID(ctx context.Context, c *api.Client, ch *Change, mount string, r Role, exists bool) error {
	ch.roleID = r.RoleID
	if exists {
		sec, err := c.Logical().ReadWithContext(ctx, fmt.Sprintf("auth/%s/role/%s/role-id", mount, r.Name))
		if err != nil {
			return vaulterr.Classify(fmt.Sprintf("read role ID of %q", r.Name), err)
		}
		if sec != nil && sec.Data["role_id"] == r.RoleID {
			ch.roleID = ""
			return nil
		}
		if ch.Action == NoChange {
			ch.Action = Update
		}
	}
	ch.Fields = append(ch.Fields, FieldChange{Field: "role_id", Hidden: true})
	return nil
}

func planObject(kind, name, path string, fields []field, current map[string]any) Change {
	ch := Change{Kind: kind, Name: name, Action: NoChange, path: path, body: map[string]any{}}
	if current == nil {
		ch.Action = Create
	}
	for _, f := range fields {
		ch.body[f.name] = wireValue(f)
		want := display(f.kind, f.want)
		if current == nil {
			ch.Fields = append(ch.Fields, FieldChange{Field: f.name, New: want})
			continue
		}
		have := display(f.kind, current[f.name])
		if have != want {
			ch.Action = Update
			ch.Fields = append(ch.Fields, FieldChange{Field: f.name, Old: have, New: want})
		}
	}
	return ch
}

func wireValue(f field) any {
	switch f.kind {
	case kDuration:
		return int64(f.want.(time.Duration) / time.Second)
	case kList:
		l := f.want.([]string)
		if l == nil {
			l = []string{}
		}
		return l
	}
	return f.want
}

// display turns a wanted value or a value read from Vault into one
// canonical text, so that equal settings compare equal however Vault
// encodes them (seconds as numbers, lists in any order, null for empty).
func display(k fieldKind, v any) string {
	switch k {
	case kDuration:
		var secs int64
		switch x := v.(type) {
		case time.Duration:
			secs = int64(x / time.Second)
		case json.Number:
			secs, _ = x.Int64()
		case string:
			secs, _ = strconv.ParseInt(x, 10, 64)
		case float64:
			secs = int64(x)
		}
		return (time.Duration(secs) * time.Second).String()
	case kList:
		var items []string
		switch x := v.(type) {
		case []string:
			items = append(items, x...)
		case []any:
			for _, e := range x {
				items = append(items, fmt.Sprint(e))
			}
		case string:
			if x != "" {
				items = strings.Split(x, ",")
			}
		}
		sort.Strings(items)
		return "[" + strings.Join(items, ", ") + "]"
	case kInt:
		switch x := v.(type) {
		case json.Number:
			return x.String()
		case nil:
			return "0"
		}
		return fmt.Sprint(v)
	case kBool:
		if v == nil {
			return "false"
		}
		return fmt.Sprint(v)
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// Apply makes the planned changes, in plan order: the mount, policies,
// roles, then launcher token roles.
func Apply(ctx context.Context, c *api.Client, p *Plan) error {
	for _, ch := range p.Pending() {
		var err error
		switch {
		case ch.Kind == "auth mount":
			err = c.Sys().EnableAuthWithOptionsWithContext(ctx, p.Mount, &api.EnableAuthOptions{Type: "approle", Description: "managed by keyturn"})
		case ch.policy != nil:
			err = c.Sys().PutPolicyWithContext(ctx, ch.Name, *ch.policy)
		default:
			_, err = c.Logical().WriteWithContext(ctx, ch.path, ch.body)
			if err == nil && ch.roleID != "" {
				_, err = c.Logical().WriteWithContext(ctx, ch.path+"/role-id", map[string]any{"role_id": ch.roleID})
			}
		}
		if err != nil {
			return vaulterr.Classify(fmt.Sprintf("%s %s %q", ch.Action, ch.Kind, ch.Name), err)
		}
	}
	return nil
}
