// Package hclschema decodes a file in HCL's native syntax against a schema,
// for the spec file and the bootstrap file.
//
// It reads HCL with github.com/hashicorp/hcl (HCL 1, in the release that
// Vault maintains and parses its own configuration and policies with),
// which vault/api links anyway. HCL 2 would bring go-cty, whose package
// initialisation and 1.5 MB every start of prestart and every issuer mint
// would pay for, although both files are only read: they are data, with no
// variables, functions or interpolation to evaluate. HCL 1 leaves the
// schema to its caller, so this package holds it: it refuses unknown
// arguments and blocks, repeated arguments, missing required ones and
// values of the wrong type, and reports every problem of a file with its
// place.
package hclschema

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/parser"
	"github.com/hashicorp/hcl/hcl/token"
)

// Schema lists the arguments and the block types a body may hold.
type Schema struct {
	Attributes []AttributeSchema
	Blocks     []BlockSchema
}

// AttributeSchema is one argument, NAME = VALUE.
type AttributeSchema struct {
	Name     string
	Required bool
}

// BlockSchema is one block type, TYPE "LABEL"... { ... }, with one label
// per name in LabelNames.
type BlockSchema struct {
	Type       string
	LabelNames []string
}

// Attribute is one argument as written.
type Attribute struct {
	Name string
	pos  token.Pos
	val  ast.Node
}

// Block is one block as written; Content reads its body.
type Block struct {
	Type   string
	Labels []string
	pos    token.Pos
	body   *ast.ObjectList
}

// Content is a body read against its schema: the arguments by name (a
// missing optional one is absent) and the blocks in file order.
type Content struct {
	Attributes map[string]*Attribute
	Blocks     []*Block
}

// Parse parses src and returns the top level of the file against schema.
func Parse(filename string, src []byte, schema *Schema) (*Content, error) {
	// Repeated arguments are found below, with their place.
	f, err := parser.ParseDontErrorOnDuplicateKeys(src)
	if err != nil {
		return nil, syntaxError(filename, err)
	}
	list, ok := f.Node.(*ast.ObjectList)
	if !ok {
		return nil, Diagnostics{{Filename: filename, Line: 1, Column: 1, Summary: "Invalid file", Detail: "want arguments and blocks."}}
	}
	d := &Decoder{}
	c := d.content(list, token.Pos{Filename: filename, Line: 1, Column: 1}, schema)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// syntaxError gives the parser's complaint the file's name and, where the
// parser knows it, the place.
func syntaxError(filename string, err error) error {
	if pe, ok := err.(*parser.PosError); ok {
		return Diagnostics{{Filename: filename, Line: pe.Pos.Line, Column: pe.Pos.Column, Summary: "Invalid syntax", Detail: pe.Err.Error()}}
	}
	return Diagnostics{{Filename: filename, Summary: "Invalid syntax", Detail: err.Error()}}
}

// Decoder converts a file's bodies and values, collecting the problems of
// the whole file so that one run names them all. A getter given a nil
// attribute (an optional one that is not set) returns the zero value and
// records nothing.
type Decoder struct{ diags Diagnostics }

// Err returns the problems found so far, or nil.
func (d *Decoder) Err() error {
	if len(d.diags) > 0 {
		return d.diags
	}
	return nil
}

// Content returns the arguments of blk's body against schema, which
// allows no nested blocks.
func (d *Decoder) Content(blk *Block, schema *Schema) map[string]*Attribute {
	return d.content(blk.body, blk.pos, schema).Attributes
}

// content reads list, the body that starts at at, whose Filename names
// the file for every problem found in it.
func (d *Decoder) content(list *ast.ObjectList, at token.Pos, schema *Schema) *Content {
	c := &Content{Attributes: map[string]*Attribute{}}
	for _, item := range list.Items {
		name, ok := d.key(at.Filename, item.Keys[0])
		if !ok {
			continue
		}
		pos := item.Keys[0].Pos()
		pos.Filename = at.Filename
		if item.Assign.IsValid() {
			if len(item.Keys) != 1 || !hasAttribute(schema, name) {
				d.add(pos, "Unsupported argument", fmt.Sprintf("An argument named %q is not expected here.", name))
				continue
			}
			if _, dup := c.Attributes[name]; dup {
				d.add(pos, "Attribute redefined", fmt.Sprintf("The argument %q was already set.", name))
				continue
			}
			c.Attributes[name] = &Attribute{Name: name, pos: pos, val: item.Val}
			continue
		}
		if blk := d.block(item, name, pos, schema); blk != nil {
			c.Blocks = append(c.Blocks, blk)
		}
	}
	for _, a := range schema.Attributes {
		if _, set := c.Attributes[a.Name]; a.Required && !set {
			d.add(at, "Missing required argument", fmt.Sprintf("The argument %q is required, but no definition was found.", a.Name))
		}
	}
	return c
}

func (d *Decoder) block(item *ast.ObjectItem, typ string, pos token.Pos, schema *Schema) *Block {
	var bs *BlockSchema
	for i := range schema.Blocks {
		if schema.Blocks[i].Type == typ {
			bs = &schema.Blocks[i]
		}
	}
	if bs == nil {
		d.add(pos, "Unsupported block type", fmt.Sprintf("Blocks of type %q are not expected here.", typ))
		return nil
	}
	body, ok := item.Val.(*ast.ObjectType)
	if !ok {
		d.add(pos, "Invalid block", fmt.Sprintf("A %s block needs a body in braces.", typ))
		return nil
	}
	labels := make([]string, 0, len(item.Keys)-1)
	for _, k := range item.Keys[1:] {
		if k.Token.Type != token.STRING {
			d.add(inFile(pos.Filename, k.Pos()), "Invalid block label", fmt.Sprintf("The labels of a %s block are quoted strings.", typ))
			return nil
		}
		l, ok := d.key(pos.Filename, k)
		if !ok {
			return nil
		}
		labels = append(labels, l)
	}
	if len(labels) != len(bs.LabelNames) {
		what := "Extraneous label for " + typ
		if len(labels) < len(bs.LabelNames) {
			what = "Missing " + bs.LabelNames[len(labels)] + " for " + typ
		}
		d.add(pos, what, fmt.Sprintf("All %s blocks must have %d labels (%s).", typ, len(bs.LabelNames), strings.Join(bs.LabelNames, ", ")))
		return nil
	}
	return &Block{Type: typ, Labels: labels, pos: pos, body: body.List}
}

// key returns a key's text: an identifier as written, a quoted string
// unquoted.
func (d *Decoder) key(filename string, k *ast.ObjectKey) (string, bool) {
	if k.Token.Type == token.IDENT {
		return k.Token.Text, true
	}
	s, ok := literalString(k.Token)
	if !ok {
		d.add(inFile(filename, k.Pos()), "Invalid name", "A name is an identifier or a quoted string.")
	}
	return s, ok
}

// inFile is pos, which the parser gives without a file name, in filename.
func inFile(filename string, pos token.Pos) token.Pos {
	pos.Filename = filename
	return pos
}

func hasAttribute(schema *Schema, name string) bool {
	for _, a := range schema.Attributes {
		if a.Name == name {
			return true
		}
	}
	return false
}

// Optional returns nil when a is not set and a pointer to get(a) when it
// is, for fields whose absence means a default rather than a zero.
func Optional[T any](a *Attribute, get func(*Attribute) T) *T {
	if a == nil {
		return nil
	}
	v := get(a)
	return &v
}
