package hclschema

import (
	"strings"
	"testing"
)

var testSchema = &Schema{
	Attributes: []AttributeSchema{{Name: "s"}, {Name: "b"}, {Name: "n"}, {Name: "l"}},
	Blocks:     []BlockSchema{{Type: "blk", LabelNames: []string{"name"}}},
}

func decodeTop(t *testing.T, src string) (*Decoder, map[string]*Attribute) {
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
		{`n = true`, `"n" must be number`},
		{`s = ["x"]`, `"s" must be string`},
		{`l = "a"`, `"l" must be list of string`},
		{`l = ["a", ["b"]]`, `"l" must be list of string`},
		{`l = ["a", {}]`, `"l" must be list of string`},
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
	d.Content(c.Blocks[0], &Schema{})
	if err := d.Err(); err == nil || !strings.Contains(err.Error(), "Unsupported argument") {
		t.Fatalf("unknown argument in a block: %v", err)
	}
}

func TestAllProblemsReported(t *testing.T) {
	d, a := decodeTop(t, "n = 1.5\nb = \"maybe\"")
	d.Int(a["n"])
	d.Bool(a["b"])
	if err := d.Err(); err == nil || len(err.(Diagnostics)) != 2 {
		t.Fatalf("want 2 problems, got %v", err)
	}
}

// The files are data: what HCL 2 would evaluate (variables, function
// calls, null) is not even syntax in HCL 1, and is refused with its place.
func TestNoExpressions(t *testing.T) {
	for _, src := range []string{`s = null`, `s = upper("x")`, `s = var.x`, `l = ["a", null]`, `s = 1 + 1`} {
		_, err := Parse("t.hcl", []byte(src), testSchema)
		if err == nil || !strings.Contains(err.Error(), "t.hcl:1,") {
			t.Errorf("%s: got %v, want a syntax error at its place", src, err)
		}
	}
	// Interpolation is text, as in Vault's own files.
	d, a := decodeTop(t, `s = "${x}"`)
	if got := d.String(a["s"]); got != "${x}" {
		t.Errorf("interpolation: %q", got)
	}
}

func TestStructure(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"s = 1\ns = 2", "t.hcl:2,1: Attribute redefined"},
		{`blk "a" "b" {}`, "Extraneous label for blk"},
		{`blk = {}`, "Unsupported argument"},
		{`blk "a" = {}`, "t.hcl:1,9: Invalid syntax"},
		{`s {}`, "Unsupported block type"},
		{`blk a {}`, "Invalid block label"},
	} {
		_, err := Parse("t.hcl", []byte(tc.src), testSchema)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.src, err, tc.want)
		}
	}
	c, err := Parse("t.hcl", []byte("blk \"a\" {}\nblk \"b\" {}\n"), testSchema)
	if err != nil || len(c.Blocks) != 2 || c.Blocks[1].Labels[0] != "b" {
		t.Fatalf("repeated blocks: %+v, %v", c, err)
	}
	d := &Decoder{}
	d.Content(c.Blocks[0], &Schema{Attributes: []AttributeSchema{{Name: "r", Required: true}}})
	if err := d.Err(); err == nil || !strings.Contains(err.Error(), "t.hcl:1,1: Missing required argument") {
		t.Fatalf("missing required argument: %v", err)
	}
}

// Heredocs read as they did with HCL 2: in <<-EOT the least indented
// line, not the closing one, sets the indent removed (the expectations
// are what HCL 2 gives for the same files).
func TestHeredoc(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"s = <<-EOT\n    path \"a\" {\n      capabilities = [\"read\"]\n    }\n  EOT\n", "path \"a\" {\n  capabilities = [\"read\"]\n}\n"},
		{"s = <<-EOT\n  a\n\n    b\n\tc\n  EOT\n", " a\n\n   b\nc\n"},
		{"s = <<EOT\n  a\n  b\nEOT\n", "  a\n  b\n"},
		{"s = <<-EOT\n    a\n  EOT\n", "a\n"},
		{"s = <<-EOT\n  a\n      EOT\n", "a\n"},
	} {
		d, a := decodeTop(t, tc.src)
		if got := d.String(a["s"]); got != tc.want || d.Err() != nil {
			t.Errorf("%q: got %q (%v), want %q", tc.src, got, d.Err(), tc.want)
		}
	}
}

// The parser and the schema take untrusted files: no input may panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("s = \"x\"\nb = true\nn = 3\nl = [\"a\", 1]\nblk \"a\" { y = 1 }"))
	f.Add([]byte("s = <<-EOT\n  a\n  EOT\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := Parse("f.hcl", src, testSchema)
		if err != nil {
			return
		}
		d := &Decoder{}
		d.String(c.Attributes["s"])
		d.Bool(c.Attributes["b"])
		d.Int(c.Attributes["n"])
		d.Strings(c.Attributes["l"])
		for _, b := range c.Blocks {
			d.Content(b, &Schema{Attributes: []AttributeSchema{{Name: "y"}}})
		}
	})
}
