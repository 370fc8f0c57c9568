package approle

import (
	"fmt"

	"github.com/keyturn/keyturn/internal/vaulterr"
)

// Kinds of failure particular to AppRole, for errors.Is; the generic ones
// (denied, not found, unavailable) are vaulterr's. The errors are
// *vaulterr.Error values, whose text never holds a secret ID, a wrapping
// token or a Vault token.
var (
	// ErrWrappingToken: the wrapping token was already used, has expired,
	// or never existed. Vault does not say which of the three.
	ErrWrappingToken = vaulterr.NewKind("wrapping token is not valid: it was already used, has expired, or never existed")
	// ErrForeignWrapping: the wrapping token wraps something other than
	// the role's secret-id response (see *ForeignWrapError).
	ErrForeignWrapping = vaulterr.NewKind("wrapping token was not created by the role's secret-id endpoint")
	// ErrSecretID: Vault refused the role ID and secret ID (used,
	// destroyed, expired, unknown, or outside its CIDR bounds).
	ErrSecretID = vaulterr.NewKind("login refused")
	// ErrLockedOut: the role ID is locked after too many failed logins.
	ErrLockedOut = vaulterr.NewKind("role ID is locked out after too many failed logins")
)

// ForeignWrapError says where a refused wrapping token came from.
type ForeignWrapError struct {
	CreationPath string
	Want         string
}

func (e *ForeignWrapError) Error() string {
	return fmt.Sprintf("wrapping token was created by %q, want %q: refusing to unwrap it (it may have been intercepted and re-wrapped)", e.CreationPath, e.Want)
}

func (e *ForeignWrapError) Is(target error) bool { return target == ErrForeignWrapping }
