package approle

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/vault/api"
)

// Kinds of failure a caller can tell apart with errors.Is. The text of an
// *Error never holds a secret ID, a wrapping token or a Vault token.
var (
	// ErrWrappingToken: the wrapping token was already used, has expired,
	// or never existed. Vault does not say which of the three.
	ErrWrappingToken = errors.New("wrapping token is not valid: it was already used, has expired, or never existed")
	// ErrForeignWrapping: the wrapping token wraps something other than
	// the role's secret-id response (see *ForeignWrapError).
	ErrForeignWrapping = errors.New("wrapping token was not created by the role's secret-id endpoint")
	// ErrSecretID: Vault refused the role ID and secret ID (used,
	// destroyed, expired, unknown, or outside its CIDR bounds).
	ErrSecretID = errors.New("login refused")
	// ErrLockedOut: the role ID is locked after too many failed logins.
	ErrLockedOut = errors.New("role ID is locked out after too many failed logins")
	// ErrPermissionDenied: the token may not do this.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrNotFound: the role or accessor does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: Vault is sealed, standing by without a leader, or
	// unreachable. Retrying may help.
	ErrUnavailable = errors.New("vault is unavailable")
)

// Error is a classified failure of one operation. Unwrap gives the
// underlying error (often an *api.ResponseError) for errors.As; Error()
// shows only Vault's message with known secrets redacted.
type Error struct {
	Op     string // what was being done, e.g. `mint secret ID for role "app"`
	Kind   error  // one of the Err* values, or nil when unclassified
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

// Is matches the error's kind, so errors.Is(err, ErrSecretID) works.
func (e *Error) Is(target error) bool { return e.Kind != nil && target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

// ForeignWrapError says where a refused wrapping token came from.
type ForeignWrapError struct {
	CreationPath string
	Want         string
}

func (e *ForeignWrapError) Error() string {
	return fmt.Sprintf("wrapping token was created by %q, want %q: refusing to unwrap it (it may have been intercepted and re-wrapped)", e.CreationPath, e.Want)
}

func (e *ForeignWrapError) Is(target error) bool { return target == ErrForeignWrapping }

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
		e.Detail = redact(vaultErrors(re), secrets)
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
	case isTransport(err):
		e.Kind = ErrUnavailable
		e.Detail = redact(transportDetail(err), secrets)
	default:
		e.Detail = redact(err.Error(), secrets)
	}
	return e
}

// vaultErrors flattens Vault's error list. Vault often sends one
// multierror text ("1 error occurred:\n\t* permission denied\n\n"); only
// the items are kept, so the message fits on one line.
func vaultErrors(re *api.ResponseError) string {
	var items []string
	for _, e := range re.Errors {
		if !strings.Contains(e, "occurred:") {
			items = append(items, strings.TrimSpace(e))
			continue
		}
		for _, line := range strings.Split(e, "\n") {
			if item, ok := strings.CutPrefix(strings.TrimSpace(line), "* "); ok {
				items = append(items, item)
			}
		}
	}
	return strings.Join(items, "; ")
}

func isTransport(err error) bool {
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.As(err, &oe)
}

// transportDetail keeps the cause of a connection failure (refused, TLS
// verification, DNS) without the request URL's query.
func transportDetail(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// statusCode returns the HTTP status of a Vault response error, or 0.
func statusCode(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}
