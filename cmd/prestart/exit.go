package main

import (
	"errors"

	"github.com/keyturn/keyturn/envelope"
	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/launch"
	"github.com/keyturn/keyturn/internal/lifetime"
	"github.com/keyturn/keyturn/internal/prestart"
	"github.com/keyturn/keyturn/internal/vaulterr"
)

// exitCode gives every failure its documented exit code (see the usage
// text) and its hints. It is the only place prestart decides either.
func exitCode(err error) error {
	var ce *cli.Error
	var le *launch.Error
	var st *prestart.ExitStatus
	var ue *prestart.UsageError
	var spent *prestart.ConsumedError
	var unsupported *prestart.UnsupportedSchemeError
	s3code, hints, s3 := s3Exit(err)
	switch {
	case err == nil || errors.As(err, &ce):
		return err
	case errors.As(err, &ue):
		return cli.Fail(cli.ExitUsage, err, ue.Hints...)
	case errors.As(err, &st):
		return cli.ExitCode(st.Code)
	case errors.As(err, &spent) && spent.Credential:
		return cli.Fail(cli.ExitDenied, err, "have the launcher mint a new one-time ID for every start (issuer mint)")
	case errors.As(err, &spent):
		return cli.Fail(cli.ExitFailed, err, "restart the whole container, with a newly minted one-time ID, rather than the main job alone")
	case errors.As(err, &le):
		return cli.Fail(le.Code, err)
	case errors.Is(err, lifetime.ErrTokenLost):
		// Before the secret ID cases: a supervised app stopped at its
		// token's max TTL needs a role change, not a newly minted ID.
		return cli.Fail(cli.ExitDenied, err,
			"to keep apps running past token_max_ttl, give the role's secret IDs more than one use (secret_id_num_uses) or a periodic token",
			"or run with -on-login-refused keep (the default): the app runs on, degraded, with the values it has")
	case errors.Is(err, approle.ErrWrappingToken), errors.Is(err, approle.ErrSecretID):
		return cli.Fail(cli.ExitDenied, err, "a one-time secret ID works once and only until it expires; have the launcher mint a new one (issuer mint)")
	case errors.Is(err, approle.ErrForeignWrapping):
		return cli.Fail(cli.ExitDenied, err, "the token may have been intercepted: revoke it and investigate before minting a new one")
	case errors.Is(err, approle.ErrLockedOut), errors.Is(err, vaulterr.ErrPermissionDenied):
		return cli.Fail(cli.ExitDenied, err)
	case s3 && s3code == cli.ExitDenied:
		return cli.Fail(cli.ExitDenied, err, hints...)
	case errors.Is(err, envelope.ErrInvalidAllowList):
		return cli.Fail(cli.ExitUsage, err)
	case s3 && s3code == cli.ExitUnavailable:
		return cli.Fail(cli.ExitUnavailable, err, hints...)
	case errors.Is(err, errNoS3Binary), errors.As(err, &unsupported) && unsupported.Scheme == "s3":
		return cli.Fail(cli.ExitFailed, err, "install "+s3Binary+" from the same release beside prestart, or run "+s3Binary+" itself")
	case prestart.Unavailable(err):
		return cli.Fail(cli.ExitUnavailable, err, "check VAULT_ADDR and that Vault is running and unsealed")
	}
	return cli.Fail(cli.ExitFailed, err, hints...)
}
