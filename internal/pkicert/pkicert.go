// Package pkicert issues certificates from Vault's PKI engine into files:
// cert.pem (the certificate and its chain), key.pem and ca.pem, mode 0600,
// replaced together by one symbolic link swap (..data, as Kubernetes
// volumes do), so the application never sees a certificate without its key
// or a half-written file.
package pkicert

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/secfile"
	"github.com/keyturn/keyturn/internal/vaulterr"
)

// Request is one -cert DIR=MOUNT/issue/ROLE?common_name=...&ttl=...
type Request struct {
	Dir    string
	Path   string     // e.g. pki/issue/app
	Params url.Values // common_name, ttl, alt_names, ip_sans, ...
	Raw    string
}

// Parse parses DIR=PATH?PARAMS.
func Parse(s string) (Request, error) {
	dir, rest, ok := strings.Cut(s, "=")
	if !ok || dir == "" || rest == "" {
		return Request{}, fmt.Errorf("-cert %q: want DIR=MOUNT/issue/ROLE?common_name=NAME", s)
	}
	r := Request{Dir: filepath.Clean(dir), Raw: s, Params: url.Values{}}
	path, query, _ := strings.Cut(rest, "?")
	r.Path = strings.Trim(strings.TrimPrefix(path, "vault://"), "/")
	if !strings.Contains(r.Path, "/issue/") {
		return Request{}, fmt.Errorf("-cert %q: the path must be a PKI issue endpoint, MOUNT/issue/ROLE", s)
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return Request{}, fmt.Errorf("-cert %q: %w", s, err)
		}
		r.Params = q
	}
	if r.Params.Get("common_name") == "" {
		return Request{}, fmt.Errorf("-cert %q: common_name is required", s)
	}
	return r, nil
}

// Cert is an issued certificate.
type Cert struct {
	Serial    string
	NotAfter  time.Time
	NotBefore time.Time
	// Issued is when this process received the certificate. Vault
	// backdates NotBefore (30s by default) against clock skew, so for a
	// short TTL the validity window starts well before the certificate
	// existed.
	Issued  time.Time
	certPEM []byte
	keyPEM  []byte
	caPEM   []byte
}

// Issue asks Vault for a new certificate.
func Issue(ctx context.Context, c *api.Client, r Request) (*Cert, error) {
	body := map[string]any{}
	for k, v := range r.Params {
		body[k] = strings.Join(v, ",")
	}
	op := fmt.Sprintf("issue certificate from %s", r.Path)
	sec, err := c.Logical().WriteWithContext(ctx, r.Path, body)
	if err != nil {
		return nil, vaulterr.Classify(op, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, fmt.Errorf("%s: empty response", op)
	}
	str := func(k string) string { s, _ := sec.Data[k].(string); return s }
	cert := &Cert{Serial: str("serial_number"), certPEM: []byte(str("certificate")), keyPEM: []byte(str("private_key")), caPEM: []byte(str("issuing_ca"))}
	if chain, ok := sec.Data["ca_chain"].([]any); ok {
		// The leaf, then the intermediates but not the root, as TLS servers
		// send them.
		for _, ca := range chain {
			if p, _ := ca.(string); p != "" && !selfSigned(p) {
				cert.certPEM = append(withNewline(cert.certPEM), p...)
			}
		}
	}
	if len(cert.certPEM) == 0 || len(cert.keyPEM) == 0 {
		return nil, fmt.Errorf("%s: response holds no certificate or key", op)
	}
	block, _ := pem.Decode(cert.certPEM)
	if block == nil {
		return nil, fmt.Errorf("%s: certificate is not PEM", op)
	}
	x, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	cert.NotAfter, cert.NotBefore, cert.Issued = x.NotAfter, x.NotBefore, time.Now()
	return cert, nil
}

func selfSigned(p string) bool {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return false
	}
	x, err := x509.ParseCertificate(block.Bytes)
	return err == nil && string(x.RawSubject) == string(x.RawIssuer)
}

// Write stores the certificate, key and CA in dir as one generation
// (secfile.WriteDir): cert.pem, key.pem and ca.pem are links into ..data,
// which is switched by one rename, so a reader that resolves ..data once
// always gets a key and the certificate that goes with it.
func (c *Cert) Write(dir string) error {
	files := map[string][]byte{
		"key.pem":  withNewline(c.keyPEM),
		"cert.pem": withNewline(c.certPEM),
	}
	if len(c.caPEM) > 0 {
		files["ca.pem"] = withNewline(c.caPEM)
	}
	return secfile.WriteDir(dir, files)
}

// RenewAt is when to issue the next certificate: two thirds into the
// time this one is usable, as Vault Agent renews leases. That time starts
// when it was issued, not at the backdated NotBefore: measured from there,
// two thirds of a 6s certificate lie in the past and renewal would never
// pause.
func (c *Cert) RenewAt() time.Time {
	start := c.NotBefore
	if c.Issued.After(start) {
		start = c.Issued
	}
	return start.Add(c.NotAfter.Sub(start) * 2 / 3)
}

// Zero drops the private key from memory as far as Go allows.
func (c *Cert) Zero() { clear(c.keyPEM) }

func withNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return append(b, '\n')
	}
	return b
}
