// Package spec reads a prestart spec: an HCL file, shipped inside an image,
// that declares the secrets and certificates the application needs, so the
// image carries its own contract and the command line stays short.
//
//	override = false                       # a later source may win a name clash
//
//	secret "DB_PASSWORD" {                 # one variable from one field
//	  from = "vault://secret/app/db#password"
//	}
//
//	secrets "vault://secret/app/config" {  # every field becomes a variable
//	  prefix = "APP"                       # optional: APP_<FIELD>
//	}
//
//	cert "/run/tls" {                      # cert.pem, key.pem, ca.pem
//	  from        = "pki/issue/app"
//	  common_name = "app.example.com"
//	  ttl         = "24h"                  # optional
//	  alt_names   = ["a.example.com"]      # optional
//	  ip_sans     = ["127.0.0.1"]          # optional
//	}
package spec

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/keyturn/keyturn/internal/envfmt"
	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/source"
)

// Spec is a parsed spec file.
type Spec struct {
	Override bool
	Requests []source.Request
	Certs    []pkicert.Request
}

type file struct {
	Override *bool
	Secret   []secretBlock
	Secrets  []secretsBlock
	Cert     []certBlock
}

type secretBlock struct {
	Name string
	From string
}

type secretsBlock struct {
	Ref    string
	Prefix *string
}

type certBlock struct {
	Dir        string
	From       string
	CommonName string
	TTL        *string
	AltNames   []string
	IPSANs     []string
}

// Load reads a spec file.
func Load(path string) (*Spec, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	return Parse(path, src)
}

// Parse parses a spec held in memory. Secrets come before the blocks of
// "secrets", each in file order.
func Parse(filename string, src []byte) (*Spec, error) {
	var f file
	if err := decode(filename, src, &f); err != nil {
		return nil, fmt.Errorf("parse spec: %w", err)
	}
	s := &Spec{}
	if f.Override != nil {
		s.Override = *f.Override
	}
	for _, b := range f.Secret {
		r, err := source.ParseSecret(b.Name + "=" + b.From)
		if err != nil {
			return nil, fmt.Errorf("spec %s: secret %q: %w", filename, b.Name, err)
		}
		s.Requests = append(s.Requests, r)
	}
	for _, b := range f.Secrets {
		r, err := source.ParseSecrets(b.Ref)
		if err != nil {
			return nil, fmt.Errorf("spec %s: %w", filename, err)
		}
		if b.Prefix != nil {
			p, err := envfmt.SanitizeName(*b.Prefix)
			if err != nil || p != *b.Prefix {
				return nil, fmt.Errorf("spec %s: secrets %q: prefix %q is not a variable name", filename, b.Ref, *b.Prefix)
			}
			r.Prefix = p
		}
		s.Requests = append(s.Requests, r)
	}
	for _, b := range f.Cert {
		q := url.Values{"common_name": {b.CommonName}}
		if b.TTL != nil {
			q.Set("ttl", *b.TTL)
		}
		if len(b.AltNames) > 0 {
			q.Set("alt_names", strings.Join(b.AltNames, ","))
		}
		if len(b.IPSANs) > 0 {
			q.Set("ip_sans", strings.Join(b.IPSANs, ","))
		}
		r, err := pkicert.Parse(b.Dir + "=" + b.From + "?" + q.Encode())
		if err != nil {
			return nil, fmt.Errorf("spec %s: cert %q: %w", filename, b.Dir, err)
		}
		s.Certs = append(s.Certs, r)
	}
	return s, nil
}
