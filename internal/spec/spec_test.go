package spec

import (
	"strings"
	"testing"

	"github.com/keyturn/keyturn/internal/source"
)

func TestParse(t *testing.T) {
	s, err := Parse("app.hcl", []byte(`
override = true
secret "DB_PASSWORD" {
  from = "vault://secret/app/db#password"
}
secrets "vault://secret/app/config" {
  prefix = "APP"
}
secrets "vault://secret/app/flags?version=2" {}
cert "/run/tls" {
  from        = "pki/issue/app"
  common_name = "app.example.com"
  ttl         = "24h"
  alt_names   = ["a.example.com", "b.example.com"]
}
`))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Override || len(s.Requests) != 3 || len(s.Certs) != 1 {
		t.Fatalf("%+v", s)
	}
	if s.Requests[0].Name != "DB_PASSWORD" || s.Requests[0].Ref.Field != "password" {
		t.Errorf("secret: %+v", s.Requests[0])
	}
	if s.Requests[1].Prefix != "APP" || s.Requests[2].Ref.Query.Get("version") != "2" {
		t.Errorf("secrets: %+v %+v", s.Requests[1], s.Requests[2])
	}
	c := s.Certs[0]
	if c.Dir != "/run/tls" || c.Path != "pki/issue/app" || c.Params.Get("common_name") != "app.example.com" ||
		c.Params.Get("ttl") != "24h" || c.Params.Get("alt_names") != "a.example.com,b.example.com" {
		t.Errorf("cert: %+v", c)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`secret "X" { from = "vault://a/b" }`, "name one field"},
		{`secret "1X" { from = "vault://a/b#c" }`, "not a valid variable name"},
		{`secrets "vault://a/b#c" {}`, "picks one value"},
		{`secrets "vault://a/b" { prefix = "a-b" }`, "not a variable name"},
		{`cert "/d" {
  from = "pki/sign/x"
  common_name = "x"
}`, "PKI issue endpoint"},
		{`secret "X" { ref = "vault://a/b#c" }`, "Missing required argument"},
		{`nonsense = 1`, "Unsupported argument"},
		{`thing "x" {}`, "Unsupported block type"},
		{`secret { from = "vault://a/b#c" }`, "Missing name for secret"},
		{`override = "maybe"`, "must be bool"},
		{`override = null`, "t.hcl:1,12: Invalid syntax"},
		{`secret "X" { from = var.x }`, "t.hcl:1,21: Invalid syntax"},
		{`secret "X" { from = upper("vault://a/b#c") }`, "t.hcl:1,21: Invalid syntax"},
		{`cert "/d" {
  from = "pki/issue/x"
  common_name = "x"
  alt_names = "a.example"
}`, "must be list of string"},
		{`cert "/d" {
  from = "pki/issue/x"
  common_name = "x"
  ip_sans = ["127.0.0.1", ["::1"]]
}`, "must be list of string"},
		{`secret "X" {
  from = 1
  from = 2
}`, "Attribute redefined"},
		{`secret "X" { from = "vault://a/b#c" `, "t.hcl:1"},
	} {
		if _, err := Parse("t.hcl", []byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.src, err, tc.want)
		}
	}
}

// A spec comes with an image, not always one's own: no input may panic,
// and whatever is accepted holds only requests that parse on their own.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`override = true
secret "A" { from = "vault://secret/app#a" }
secrets "vault://secret/app" { prefix = "APP" }
cert "/run/tls" {
  from = "pki/issue/app"
  common_name = "app.example.com"
  alt_names = ["b.example.com"]
}`))
	f.Add([]byte(`secret "X" { from = upper("x") }`))
	f.Add([]byte("secret \"X\" {\n from = <<EOT\nvault://a/b#c\nEOT\n}"))
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := Parse("f.hcl", src)
		if err != nil {
			return
		}
		for _, r := range s.Requests {
			if r.Name != "" {
				if _, err := source.ParseSecret(r.Name + "=" + r.Ref.String()); err != nil {
					t.Fatalf("accepted %q, which does not parse again: %v", r.Ref.String(), err)
				}
			} else if _, err := source.ParseSecrets(r.Ref.String()); err != nil {
				t.Fatalf("accepted %q, which does not parse again: %v", r.Ref.String(), err)
			}
		}
	})
}
