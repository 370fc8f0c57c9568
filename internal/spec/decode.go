package spec

import "github.com/keyturn/keyturn/internal/hclschema"

// The schema is spelled out for hclschema (see there why HCL 1).
var (
	fileSchema = &hclschema.Schema{
		Attributes: []hclschema.AttributeSchema{{Name: "override"}},
		Blocks: []hclschema.BlockSchema{
			{Type: "secret", LabelNames: []string{"name"}},
			{Type: "secrets", LabelNames: []string{"ref"}},
			{Type: "cert", LabelNames: []string{"dir"}},
		},
	}
	secretSchema  = &hclschema.Schema{Attributes: []hclschema.AttributeSchema{{Name: "from", Required: true}}}
	secretsSchema = &hclschema.Schema{Attributes: []hclschema.AttributeSchema{{Name: "prefix"}}}
	certSchema    = &hclschema.Schema{Attributes: []hclschema.AttributeSchema{
		{Name: "from", Required: true},
		{Name: "common_name", Required: true},
		{Name: "ttl"},
		{Name: "alt_names"},
		{Name: "ip_sans"},
	}}
)

// decode reads src, in HCL's native syntax, into f.
func decode(filename string, src []byte, f *file) error {
	content, err := hclschema.Parse(filename, src, fileSchema)
	if err != nil {
		return err
	}
	d := &hclschema.Decoder{}
	f.Override = hclschema.Optional(content.Attributes["override"], d.Bool)
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "secret":
			attrs := d.Content(blk, secretSchema)
			f.Secret = append(f.Secret, secretBlock{Name: blk.Labels[0], From: d.String(attrs["from"])})
		case "secrets":
			attrs := d.Content(blk, secretsSchema)
			f.Secrets = append(f.Secrets, secretsBlock{Ref: blk.Labels[0], Prefix: hclschema.Optional(attrs["prefix"], d.String)})
		case "cert":
			attrs := d.Content(blk, certSchema)
			f.Cert = append(f.Cert, certBlock{
				Dir:        blk.Labels[0],
				From:       d.String(attrs["from"]),
				CommonName: d.String(attrs["common_name"]),
				TTL:        hclschema.Optional(attrs["ttl"], d.String),
				AltNames:   d.Strings(attrs["alt_names"]),
				IPSANs:     d.Strings(attrs["ip_sans"]),
			})
		}
	}
	return d.Err()
}
