// Package hclschema decodes a file in HCL's native syntax against a schema
// spelled out with hcl.BodySchema, for the spec file and the bootstrap file.
//
// It exists instead of gohcl's struct tags because gohcl links hclwrite and,
// through it, go-cmp, whose package initialisation every start of prestart
// and every issuer mint would pay for, although both files are only read.
// Like gohcl it refuses unknown arguments and blocks, evaluates without
// variables or functions (the files are data), and reports every problem of
// a file with its place.
package hclschema

import (
	"fmt"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Parse parses src and returns the top level of the file against schema.
func Parse(filename string, src []byte, schema *hcl.BodySchema) (*hcl.BodyContent, error) {
	syn, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	content, diags := syn.Body.Content(schema)
	if diags.HasErrors() {
		return nil, diags
	}
	return content, nil
}

// Decoder converts attributes, collecting the problems of a whole file so
// that one run names them all. A getter given a nil attribute (an optional
// one that is not set) returns the zero value and records nothing.
type Decoder struct{ diags hcl.Diagnostics }

// Err returns the problems found so far, or nil.
func (d *Decoder) Err() error {
	if d.diags.HasErrors() {
		return d.diags
	}
	return nil
}

// Content returns the attributes of blk's body against schema.
func (d *Decoder) Content(blk *hcl.Block, schema *hcl.BodySchema) hcl.Attributes {
	c, diags := blk.Body.Content(schema)
	d.diags = append(d.diags, diags...)
	if c == nil {
		return hcl.Attributes{}
	}
	return c.Attributes
}

func (d *Decoder) value(a *hcl.Attribute, ty cty.Type) (cty.Value, bool) {
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

func (d *Decoder) fail(a *hcl.Attribute, msg string) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Incorrect attribute value type",
		Detail:   fmt.Sprintf("%q %s.", a.Name, msg),
		Subject:  a.Expr.Range().Ptr(),
	})
}

// String returns a's value as a string; numbers and bools convert, as in
// gohcl.
func (d *Decoder) String(a *hcl.Attribute) string {
	if v, ok := d.value(a, cty.String); ok {
		return v.AsString()
	}
	return ""
}

// Bool returns a's value as a bool.
func (d *Decoder) Bool(a *hcl.Attribute) bool {
	if v, ok := d.value(a, cty.Bool); ok {
		return v.True()
	}
	return false
}

// Int returns a's value as an int; a fraction or a number out of range is
// a problem, not a silent truncation.
func (d *Decoder) Int(a *hcl.Attribute) int {
	v, ok := d.value(a, cty.Number)
	if !ok {
		return 0
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		d.fail(a, "must be a whole number")
		return 0
	}
	i, acc := bf.Int64()
	if acc != big.Exact || int64(int(i)) != i {
		d.fail(a, "is out of range")
		return 0
	}
	return int(i)
}

// Strings returns a's value as a list of strings.
func (d *Decoder) Strings(a *hcl.Attribute) []string {
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

// Optional returns nil when a is not set and a pointer to get(a) when it
// is, for fields whose absence means a default rather than a zero.
func Optional[T any](a *hcl.Attribute, get func(*hcl.Attribute) T) *T {
	if a == nil {
		return nil
	}
	v := get(a)
	return &v
}
