package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/envelope"
	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/launch"
	"github.com/keyturn/keyturn/internal/lifetime"
	"github.com/keyturn/keyturn/internal/prestart"
	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/source/s3src"
	"github.com/keyturn/keyturn/internal/vaulterr"
)

// Every kind of failure gets the exit code the usage text documents, and
// wrapping does not change it.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		hint string
	}{
		{nil, 0, ""},
		{errors.New("field not found"), 1, ""},
		{&prestart.UsageError{Err: errors.New("bad"), Hints: []string{"fix it"}}, 2, "fix it"},
		{approle.ErrSecretID, 3, "works once"},
		{approle.ErrForeignWrapping, 3, "intercepted"},
		{lifetime.ErrTokenLost, 3, "secret_id_num_uses"},
		{fmt.Errorf("%w: %w", lifetime.ErrTokenLost, approle.ErrSecretID), 3, "-on-login-refused keep"},
		{s3src.ErrRefused, 3, "IAM"},
		{envelope.ErrInvalidAllowList, 2, ""},
		{retry.ErrUnavailable, 4, "VAULT_ADDR"},
		{vaulterr.ErrUnavailable, 4, "VAULT_ADDR"},
		{s3src.ErrUnavailable, 4, "AWS_REGION"},
		{fmt.Errorf("x: %w", errNoS3Binary), 1, "beside prestart"},
		{&prestart.UnsupportedSchemeError{Scheme: "s3", Ref: "s3://b/k"}, 1, "beside prestart"},
		{&launch.Error{Command: "x", Code: 127, Err: errors.New("not found")}, 127, ""},
		{&launch.Error{Command: "x", Code: 126, Err: errors.New("denied")}, 126, ""},
		{&prestart.ExitStatus{Code: 42}, 42, ""},
		{&prestart.ConsumedError{What: "secret ID file", Path: "/run/sid", Credential: true}, 3, "mint a new one-time ID"},
		{&prestart.ConsumedError{What: "env file", Path: "/run/app.env"}, 1, "newly minted"},
	} {
		var stderr bytes.Buffer
		ui := &cli.UI{Name: "prestart", Stderr: &stderr}
		err := tc.err
		if err != nil {
			err = fmt.Errorf("context: %w", err)
		}
		if code := ui.Report(exitCode(err)); code != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.err, code, tc.code)
		}
		if !strings.Contains(stderr.String(), tc.hint) || (tc.hint != "" && !strings.Contains(stderr.String(), "prestart: hint: ")) {
			t.Errorf("%v: stderr %q lacks hint %q", tc.err, stderr.String(), tc.hint)
		}
		var st *prestart.ExitStatus
		if errors.As(tc.err, &st) && stderr.Len() != 0 {
			t.Errorf("the app's own status printed %q", stderr.String())
		}
	}
}
