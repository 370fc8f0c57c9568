package hclschema

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

var testSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "s"}, {Name: "b"}, {Name: "n"}, {Name: "l"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "blk", LabelNames: []string{"name"}}},
}

func decodeTop(t *testing.T, src string) (*Decoder, hcl.Attributes) {
	t.Helper()
	c, err := Parse("t.hcl", []byte(src), testSchema)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return &Decoder{}, c.Attributes
}

func TestValues(t *testing.T) {
	d, a := decodeTop(t, `
s = 7200
b = true
n = 3
l = ["x", 2]
`)
	if got := d.String(a["s"]); got != "7200" {
		t.Errorf("string from number: %q", got)
	}
	if !d.Bool(a["b"]) {
		t.Error("bool: false")
	}
	if got := d.Int(a["n"]); got != 3 {
		t.Errorf("int: %d", got)
	}
	if got := strings.Join(d.Strings(a["l"]), ","); got != "x,2" {
		t.Errorf("list: %q", got)
	}
	if err := d.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestOptional(t *testing.T) {
	d, a := decodeTop(t, `n = 0`)
	if p := Optional(a["s"], d.String); p != nil {
		t.Errorf("unset attribute gave %q", *p)
	}
	p := Optional(a["n"], d.Int)
	if p == nil || *p != 0 {
		t.Fatalf("explicit zero lost: %v", p)
	}
}

func TestProblems(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`n = 1.5`, `"n" must be a whole number`},
		{`n = 1e30`, `"n" is out of range`},
		{`n = "x"`, `"n" must be number`},
		{`s = null`, `"s" must not be null`},
		{`l = ["a", null]`, `"l" must not hold null`},
		{`s = upper("x")`, "Function calls not allowed"},
		{`s = var.x`, "Variables not allowed"},
	} {
		d, a := decodeTop(t, tc.src)
		d.String(a["s"])
		d.Int(a["n"])
		d.Strings(a["l"])
		err := d.Err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.src, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "t.hcl:1,") {
			t.Errorf("%s: problem without its place: %v", tc.src, err)
		}
	}
}

func TestUnknownArgumentsAndBlocks(t *testing.T) {
	for _, src := range []string{`x = 1`, `other "a" {}`, `blk {}`} {
		if _, err := Parse("t.hcl", []byte(src), testSchema); err == nil {
			t.Errorf("%s: accepted", src)
		}
	}
	c, err := Parse("t.hcl", []byte(`blk "a" { y = 1 }`), testSchema)
	if err != nil {
		t.Fatal(err)
	}
	d := &Decoder{}
	d.Content(c.Blocks[0], &hcl.BodySchema{})
	if err := d.Err(); err == nil || !strings.Contains(err.Error(), "Unsupported argument") {
		t.Fatalf("unknown argument in a block: %v", err)
	}
}

func TestAllProblemsReported(t *testing.T) {
	d, a := decodeTop(t, "n = 1.5\nb = \"maybe\"")
	d.Int(a["n"])
	d.Bool(a["b"])
	if err := d.Err(); err == nil || len(err.(hcl.Diagnostics)) != 2 {
		t.Fatalf("want 2 problems, got %v", err)
	}
}
