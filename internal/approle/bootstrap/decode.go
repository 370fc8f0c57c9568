package bootstrap

import "github.com/keyturn/keyturn/internal/hclschema"

// The schema is spelled out for hclschema (see there why HCL 1).
var (
	topSchema = &hclschema.Schema{
		Attributes: []hclschema.AttributeSchema{{Name: "mount"}},
		Blocks: []hclschema.BlockSchema{
			{Type: "policy", LabelNames: []string{"name"}},
			{Type: "role", LabelNames: []string{"name"}},
			{Type: "launcher", LabelNames: []string{"name"}},
		},
	}
	policyBlockSchema = &hclschema.Schema{Attributes: []hclschema.AttributeSchema{{Name: "text"}, {Name: "file"}}}
	roleBlockSchema   = &hclschema.Schema{Attributes: []hclschema.AttributeSchema{
		{Name: "role_id"},
		{Name: "bind_secret_id"},
		{Name: "secret_id_bound_cidrs"},
		{Name: "secret_id_num_uses"},
		{Name: "secret_id_ttl"},
		{Name: "local_secret_ids"},
		{Name: "token_policies"},
		{Name: "token_ttl"},
		{Name: "token_max_ttl"},
		{Name: "token_explicit_max_ttl"},
		{Name: "token_period"},
		{Name: "token_bound_cidrs"},
		{Name: "token_num_uses"},
		{Name: "token_no_default_policy"},
		{Name: "token_type"},
	}}
	launcherBlockSchema = &hclschema.Schema{Attributes: []hclschema.AttributeSchema{
		{Name: "roles", Required: true},
		{Name: "revoke"},
		{Name: "token_max_ttl"},
	}}
)

// decode reads src, in HCL's native syntax, into the file as written.
func decode(filename string, src []byte) (*fileSchema, error) {
	content, err := hclschema.Parse(filename, src, topSchema)
	if err != nil {
		return nil, err
	}
	d := &hclschema.Decoder{}
	f := &fileSchema{Mount: hclschema.Optional(content.Attributes["mount"], d.String)}
	for _, blk := range content.Blocks {
		name := blk.Labels[0]
		switch blk.Type {
		case "policy":
			a := d.Content(blk, policyBlockSchema)
			f.Policies = append(f.Policies, policySchema{
				Name: name,
				Text: hclschema.Optional(a["text"], d.String),
				File: hclschema.Optional(a["file"], d.String),
			})
		case "role":
			a := d.Content(blk, roleBlockSchema)
			f.Roles = append(f.Roles, roleSchema{
				Name:                 name,
				RoleID:               hclschema.Optional(a["role_id"], d.String),
				BindSecretID:         hclschema.Optional(a["bind_secret_id"], d.Bool),
				SecretIDBoundCIDRs:   d.Strings(a["secret_id_bound_cidrs"]),
				SecretIDNumUses:      hclschema.Optional(a["secret_id_num_uses"], d.Int),
				SecretIDTTL:          hclschema.Optional(a["secret_id_ttl"], d.String),
				LocalSecretIDs:       hclschema.Optional(a["local_secret_ids"], d.Bool),
				TokenPolicies:        d.Strings(a["token_policies"]),
				TokenTTL:             hclschema.Optional(a["token_ttl"], d.String),
				TokenMaxTTL:          hclschema.Optional(a["token_max_ttl"], d.String),
				TokenExplicitMaxTTL:  hclschema.Optional(a["token_explicit_max_ttl"], d.String),
				TokenPeriod:          hclschema.Optional(a["token_period"], d.String),
				TokenBoundCIDRs:      d.Strings(a["token_bound_cidrs"]),
				TokenNumUses:         hclschema.Optional(a["token_num_uses"], d.Int),
				TokenNoDefaultPolicy: hclschema.Optional(a["token_no_default_policy"], d.Bool),
				TokenType:            hclschema.Optional(a["token_type"], d.String),
			})
		case "launcher":
			a := d.Content(blk, launcherBlockSchema)
			f.Launchers = append(f.Launchers, launcherSchema{
				Name:        name,
				Roles:       d.Strings(a["roles"]),
				Revoke:      hclschema.Optional(a["revoke"], d.Bool),
				TokenMaxTTL: hclschema.Optional(a["token_max_ttl"], d.String),
			})
		}
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return f, nil
}
