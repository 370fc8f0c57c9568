package spec

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// The schema is spelled out for hcl's own body decoder rather than given
// as struct tags to gohcl: gohcl links hclwrite and, through it, go-cmp,
// whose package initialisation every prestart start would pay for,
// although a spec file is only ever read.
var (
	fileSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "override"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "secret", LabelNames: []string{"name"}},
			{Type: "secrets", LabelNames: []string{"ref"}},
			{Type: "cert", LabelNames: []string{"dir"}},
		},
	}
	secretSchema  = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "from", Required: true}}}
	secretsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "prefix"}}}
	certSchema    = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "from", Required: true},
		{Name: "common_name", Required: true},
		{Name: "ttl"},
		{Name: "alt_names"},
		{Name: "ip_sans"},
	}}
)

// decode reads src, in HCL's native syntax, into f. Like gohcl, it refuses
// unknown arguments and blocks, and reports every problem with its place.
func decode(filename string, src []byte, f *file) error {
	syn, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return diags
	}
	content, diags := syn.Body.Content(fileSchema)
	if diags.HasErrors() {
		return diags
	}
	d := &decoder{}
	if a := content.Attributes["override"]; a != nil {
		b := d.boolean(a)
		f.Override = &b
	}
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "secret":
			attrs := d.content(blk, secretSchema)
			f.Secret = append(f.Secret, secretBlock{Name: blk.Labels[0], From: d.str(attrs["from"])})
		case "secrets":
			attrs := d.content(blk, secretsSchema)
			b := secretsBlock{Ref: blk.Labels[0]}
			if a := attrs["prefix"]; a != nil {
				p := d.str(a)
				b.Prefix = &p
			}
			f.Secrets = append(f.Secrets, b)
		case "cert":
			attrs := d.content(blk, certSchema)
			b := certBlock{Dir: blk.Labels[0], From: d.str(attrs["from"]), CommonName: d.str(attrs["common_name"])}
			if a := attrs["ttl"]; a != nil {
				t := d.str(a)
				b.TTL = &t
			}
			b.AltNames = d.strings(attrs["alt_names"])
			b.IPSANs = d.strings(attrs["ip_sans"])
			f.Cert = append(f.Cert, b)
		}
	}
	if d.diags.HasErrors() {
		return d.diags
	}
	return nil
}

// decoder collects the problems of a whole file, so that one run names
// them all.
type decoder struct{ diags hcl.Diagnostics }

func (d *decoder) content(blk *hcl.Block, schema *hcl.BodySchema) hcl.Attributes {
	c, diags := blk.Body.Content(schema)
	d.diags = append(d.diags, diags...)
	if c == nil {
		return hcl.Attributes{}
	}
	return c.Attributes
}

// value evaluates a without variables or functions (a spec is data) and
// converts it to ty.
func (d *decoder) value(a *hcl.Attribute, ty cty.Type) (cty.Value, bool) {
	if a == nil {
		return cty.NilVal, false
	}
	v, diags := a.Expr.Value(nil)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		d.fail(a, "must not be null")
		return cty.NilVal, false
	}
	v, err := convert.Convert(v, ty)
	if err != nil {
		d.fail(a, fmt.Sprintf("must be %s: %v", ty.FriendlyName(), err))
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		d.fail(a, "must be a known value")
		return cty.NilVal, false
	}
	return v, true
}

func (d *decoder) fail(a *hcl.Attribute, msg string) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Incorrect attribute value type",
		Detail:   fmt.Sprintf("%q %s.", a.Name, msg),
		Subject:  a.Expr.Range().Ptr(),
	})
}

func (d *decoder) str(a *hcl.Attribute) string {
	if v, ok := d.value(a, cty.String); ok {
		return v.AsString()
	}
	return ""
}

func (d *decoder) boolean(a *hcl.Attribute) bool {
	if v, ok := d.value(a, cty.Bool); ok {
		return v.True()
	}
	return false
}

func (d *decoder) strings(a *hcl.Attribute) []string {
	v, ok := d.value(a, cty.List(cty.String))
	if !ok {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			d.fail(a, "must not hold null")
			return nil
		}
		out = append(out, e.AsString())
	}
	return out
}
