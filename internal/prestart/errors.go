package prestart

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyturn/keyturn/internal/retry"
)

// Unavailable reports whether err is a temporary failure of Vault, S3 or
// KMS: what prestart retries until -timeout and then exits 4 for. Every
// backend marks such errors with retry.ErrUnavailable.
func Unavailable(err error) bool { return retry.Unavailable(err) }

// UsageError is a mistake in the flags or the spec file: nothing was
// tried, and the command exits 2.
type UsageError struct {
	Err   error
	Hints []string
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

func usage(err error, hints ...string) error { return &UsageError{Err: err, Hints: hints} }

// ConsumedError reports a one-time file that is not there. prestart removes
// a secret ID file (without -keep-secret-id-file) and the -from-env-file
// file once read, so the likely cause of a missing one is an earlier start,
// the restart of a container or job, and the cure a newly minted ID.
type ConsumedError struct {
	What string // "secret ID file", "env file"
	Path string
	// Credential is true when the file held the one-time credential: the
	// start is then refused as credentials are (exit 3).
	Credential bool
}

func (e *ConsumedError) Error() string {
	return fmt.Sprintf("no %s at %s: prestart removes it once read, so an earlier start (a restart of this container or job) has consumed it, or the path is wrong", e.What, e.Path)
}

// consumed turns "no such file" from reading a one-time file into a
// *ConsumedError and leaves other errors as they are.
func consumed(err error, what, path string, credential bool) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &ConsumedError{What: what, Path: path, Credential: credential}
	}
	return err
}

// ExitStatus is how the supervised application ended: prestart exits with
// the same status, and prints nothing, since the application has already
// said why.
type ExitStatus struct {
	Code   int
	Signal syscall.Signal // what killed the application, or 0
}

func (e *ExitStatus) Error() string {
	return fmt.Sprintf("the application exited with status %d", e.Code)
}

// RequestTimeout bounds each request to Vault unless VAULT_CLIENT_TIMEOUT
// is set.
const RequestTimeout = 10 * time.Second

func retryPolicy(p *Plan, log hclog.Logger) retry.Policy {
	return retry.Policy{
		Timeout:   p.Timeout,
		Initial:   200 * time.Millisecond,
		Max:       5 * time.Second,
		Retryable: Unavailable,
		OnRetry: func(n int, err error, wait time.Duration) {
			log.Warn("backend unavailable, retrying", "attempt", n, "wait", wait.Round(time.Millisecond), "error", err)
		},
	}
}

// UnsupportedSchemeError is a source whose scheme this build has no reader
// for: s3:// in a prestart built without the AWS SDK (see WithReader). It
// is found before the login, so no one-time secret ID is spent on it.
type UnsupportedSchemeError struct {
	Scheme string
	Ref    string
}

func (e *UnsupportedSchemeError) Error() string {
	return fmt.Sprintf("%s: this prestart has no %s:// reader", e.Ref, e.Scheme)
}
