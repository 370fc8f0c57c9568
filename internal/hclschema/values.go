package hclschema

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/hcl/ast"
	hclstrconv "github.com/hashicorp/hcl/hcl/strconv"
	"github.com/hashicorp/hcl/hcl/token"
)

// Diagnostic is one problem of a file, at its place.
type Diagnostic struct {
	Filename        string
	Line, Column    int
	Summary, Detail string
}

func (d Diagnostic) String() string {
	if d.Line == 0 {
		return fmt.Sprintf("%s: %s; %s", d.Filename, d.Summary, d.Detail)
	}
	return fmt.Sprintf("%s:%d,%d: %s; %s", d.Filename, d.Line, d.Column, d.Summary, d.Detail)
}

// Diagnostics are all the problems of a file, in the order found.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, ", ")
}

func (d *Decoder) add(pos token.Pos, summary, detail string) {
	d.diags = append(d.diags, Diagnostic{Filename: pos.Filename, Line: pos.Line, Column: pos.Column, Summary: summary, Detail: detail})
}

func (d *Decoder) fail(a *Attribute, msg string) {
	d.add(inFile(a.pos.Filename, a.val.Pos()), "Incorrect attribute value type", fmt.Sprintf("%q %s.", a.Name, msg))
}

// literal returns a's value when it is a single literal.
func literal(a *Attribute) (token.Token, bool) {
	l, ok := a.val.(*ast.LiteralType)
	if !ok {
		return token.Token{}, false
	}
	return l.Token, true
}

// literalString returns the text a string, heredoc, number or bool token
// stands for: numbers and bools convert to their text (ttl = 3600 means
// "3600").
func literalString(t token.Token) (string, bool) {
	switch t.Type {
	case token.STRING:
		s, err := hclstrconv.Unquote(t.Text)
		return s, err == nil
	case token.HEREDOC:
		return heredoc(t.Text)
	case token.NUMBER, token.FLOAT, token.BOOL:
		return t.Text, true
	}
	return "", false
}

// String returns a's value as a string; numbers and bools convert.
func (d *Decoder) String(a *Attribute) string {
	if a == nil {
		return ""
	}
	t, ok := literal(a)
	if ok {
		if s, ok := literalString(t); ok {
			return s
		}
	}
	d.fail(a, "must be string")
	return ""
}

// Bool returns a's value as a bool; the strings "true" and "false" convert.
func (d *Decoder) Bool(a *Attribute) bool {
	if a == nil {
		return false
	}
	if t, ok := literal(a); ok {
		s, _ := literalString(t)
		if t.Type == token.BOOL || t.Type == token.STRING {
			switch s {
			case "true":
				return true
			case "false":
				return false
			}
		}
	}
	d.fail(a, "must be bool")
	return false
}

// Int returns a's value as an int; a numeric string converts. A fraction
// or a number out of range is a problem, not a silent truncation.
func (d *Decoder) Int(a *Attribute) int {
	if a == nil {
		return 0
	}
	t, ok := literal(a)
	if !ok || t.Type == token.BOOL || t.Type == token.HEREDOC {
		d.fail(a, "must be number")
		return 0
	}
	s, ok := literalString(t)
	if !ok {
		d.fail(a, "must be number")
		return 0
	}
	base := 10
	if t.Type == token.NUMBER {
		base = 0 // as the library reads its own numbers: 0x1F, 017
	}
	if i, err := strconv.ParseInt(s, base, strconv.IntSize); err == nil {
		return int(i)
	}
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil && !isRangeErr(err):
		d.fail(a, "must be number")
	case math.IsInf(f, 0) || math.Abs(f) >= math.MaxInt || isRangeErr(err):
		d.fail(a, "is out of range")
	case f != math.Trunc(f):
		d.fail(a, "must be a whole number")
	default:
		return int(f)
	}
	return 0
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// Strings returns a's value as a list of strings; numbers and bools in it
// convert.
func (d *Decoder) Strings(a *Attribute) []string {
	if a == nil {
		return nil
	}
	l, ok := a.val.(*ast.ListType)
	if !ok {
		d.fail(a, "must be list of string")
		return nil
	}
	out := make([]string, 0, len(l.List))
	for _, e := range l.List {
		lit, ok := e.(*ast.LiteralType)
		var s string
		if ok {
			s, ok = literalString(lit.Token)
		}
		if !ok {
			d.fail(a, "must be list of string")
			return nil
		}
		out = append(out, s)
	}
	return out
}

// heredoc returns the text of a heredoc token, <<EOT or <<-EOT, up to its
// closing line. In the indented form the least indented line (blank lines
// aside) sets how much leading white space every line loses, as in HCL 2,
// which read these files before: HCL 1 would go by the closing line's
// indent instead, and change the text of policies indented deeper than
// their EOT.
func heredoc(raw string) (string, bool) {
	// The token runs to the newline after the closing line.
	head, body, ok := strings.Cut(strings.TrimSuffix(raw, "\n"), "\n")
	if !ok || !strings.HasPrefix(head, "<<") {
		return "", false
	}
	anchor, indented := strings.CutPrefix(head[2:], "-")
	content, closing := "", body
	if i := strings.LastIndexByte(body, '\n'); i >= 0 {
		content, closing = body[:i+1], body[i+1:]
	}
	if strings.TrimLeft(closing, " \t") != anchor {
		return "", false
	}
	if !indented {
		return content, true
	}
	lines := strings.SplitAfter(content, "\n")
	least := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " \t")); least < 0 || n < least {
			least = n
		}
	}
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			b.WriteString(strings.TrimLeft(l, " \t"))
			continue
		}
		b.WriteString(l[least:])
	}
	return b.String(), true
}
