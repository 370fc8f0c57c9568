package spec

import (
	"strings"
	"testing"
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
	} {
		if _, err := Parse("t.hcl", []byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.src, err, tc.want)
		}
	}
}
