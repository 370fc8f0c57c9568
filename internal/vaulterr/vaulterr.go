// Package vaulterr sorts the errors of the Vault client into the few kinds
// keyturn's commands act on: unavailable (retry, exit 4), permission denied
// (exit 3) and not found. Every package that talks to Vault classifies its
// failures here, so that one Vault answer means the same thing everywhere.
package vaulterr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/retry"
)

// kind is a class of failure. A kind may carry broader markers, so that
// errors.Is(err, retry.ErrUnavailable) holds for a sealed Vault without the
// caller knowing this package.
type kind struct {
	text    string
	markers []error
}

func (k *kind) Error() string   { return k.text }
func (k *kind) Unwrap() []error { return k.markers }

// NewKind returns a kind of failure for an *Error, for packages that tell
// apart more than the generic kinds (approle's refused logins, unseal's
// unreachable nodes); errors.Is matches the kind and each of markers.
func NewKind(text string, markers ...error) error { return &kind{text: text, markers: markers} }

// The generic kinds, tested with errors.Is.
var (
	// ErrUnavailable: Vault is sealed, standing by without a leader,
	// throttling, or gave no HTTP answer at all. Retrying may help; it
	// matches retry.ErrUnavailable.
	ErrUnavailable = NewKind("vault is unavailable", retry.ErrUnavailable)
	// ErrPermissionDenied: the token may not do this.
	ErrPermissionDenied = NewKind("permission denied")
	// ErrNotFound: the path, role or accessor does not exist.
	ErrNotFound = NewKind("not found")
)

// Error is a classified failure of one operation. Unwrap gives the
// underlying error (often an *api.ResponseError, or the HTTP client's
// *url.Error) for errors.As; Error() shows only Vault's message with known
// secrets redacted.
type Error struct {
	Op     string // what was being done, e.g. `mint secret ID for role "app"`
	Kind   error  // one of the kinds, or nil when unclassified
	Detail string // Vault's explanation, redacted
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(e.Kind.Error())
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Is matches the error's kind and the markers the kind carries, so both
// errors.Is(err, ErrUnavailable) and errors.Is(err, retry.ErrUnavailable)
// hold for an unreachable Vault.
func (e *Error) Is(target error) bool { return e.Kind != nil && errors.Is(e.Kind, target) }

func (e *Error) Unwrap() error { return e.Err }

// Classify maps an error from the Vault client to an *Error. secrets are
// values that must not appear in the text even if Vault echoes them.
func Classify(op string, err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Err: err}
	var re *api.ResponseError
	switch {
	case errors.As(err, &re):
		e.Detail = Redact(Detail(re), secrets...)
		switch re.StatusCode {
		case http.StatusForbidden:
			e.Kind = ErrPermissionDenied
		case http.StatusNotFound:
			e.Kind = ErrNotFound
		case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout, http.StatusTooManyRequests:
			e.Kind = ErrUnavailable
		}
		if e.Kind != nil && e.Detail == e.Kind.Error() {
			e.Detail = ""
		}
		if e.Detail == "" && e.Kind == nil {
			e.Detail = fmt.Sprintf("HTTP %d", re.StatusCode)
		}
	case Transport(err):
		e.Kind = ErrUnavailable
		e.Detail = Redact(TransportDetail(err), secrets...)
	default:
		e.Detail = Redact(err.Error(), secrets...)
	}
	return e
}

// Transport reports a request that got no HTTP answer: connection refused,
// DNS failure, TLS failure, timeout. The HTTP client reports each of these
// as a *url.Error; a deadline may also end a request before the client
// starts it. net.Error would be too wide a test: syscall.Errno implements
// it, so a missing local file would pass for an unreachable Vault. A
// cancelled context is the caller giving up, not Vault failing.
func Transport(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		return false
	}
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded)
}

// Certificate reports a failure to verify the server's certificate, which
// no retry fixes and whose remedy is a CA file (-ca-cert, VAULT_CACERT).
func Certificate(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci)
}

// TransportDetail keeps the cause of a connection failure (refused, TLS
// verification, DNS) without the request URL, whose query may hold more
// than the user should see in a log.
func TransportDetail(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// Detail flattens Vault's error list onto one line. Vault often sends one
// multierror text ("1 error occurred:\n\t* permission denied\n\n"); only
// its items are kept. Line breaks inside an item become spaces: the
// message goes into one "NAME: error:" line and one log line.
func Detail(re *api.ResponseError) string {
	var items []string
	for _, e := range re.Errors {
		if !strings.Contains(e, "occurred:") {
			items = append(items, oneLine(e))
			continue
		}
		for _, line := range strings.Split(e, "\n") {
			if item, ok := strings.CutPrefix(strings.TrimSpace(line), "* "); ok {
				items = append(items, oneLine(item))
			}
		}
	}
	return strings.Join(items, "; ")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// StatusCode returns the HTTP status of a Vault response error, or 0.
func StatusCode(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// Redact replaces every non-empty secret in s.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
