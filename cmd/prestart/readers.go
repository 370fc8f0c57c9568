package main

import (
	"context"
	"errors"

	"github.com/keyturn/keyturn/envelope"
	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/source/execsrc"
	"github.com/keyturn/keyturn/internal/source/s3src"
	"github.com/keyturn/keyturn/internal/source/vaultsrc"
)

// readers returns the source readers by scheme. vault:// needs the Vault login;
// the other schemes bring their own credentials: s3:// loads the AWS
// configuration (as the AWS CLI does) on first use, exec: runs a command.
func readers(s *session) source.Readers {
	r := source.Readers{
		"s3": s3Classified{s3src.NewReader(func(ctx context.Context) (*s3src.Store, error) {
			return s3src.Load(ctx, s3src.Options{})
		})},
		"exec": &execsrc.Reader{},
	}
	if s != nil {
		r["vault"] = vaultsrc.New(s.client)
	}
	return r
}

// s3Classified gives the S3 reader's failures prestart's exit codes: a
// refused key, a tampered or moved object or denied access exit 3; S3 or
// KMS unreachable is retried until -timeout like an unavailable Vault and
// then exits 4; anything else (a corrupt object, a missing one) exits 1.
type s3Classified struct{ source.Reader }

func (c s3Classified) Read(ctx context.Context, ref source.Ref) (*source.Result, error) {
	res, err := c.Reader.Read(ctx, ref)
	if err == nil {
		return res, nil
	}
	var hints []string
	if h := s3src.Hint(err); h != "" {
		hints = append(hints, h)
	}
	switch {
	case errors.Is(err, s3src.ErrUnavailable):
		return nil, cli.Fail(cli.ExitUnavailable, retryable{err}, hints...)
	case errors.Is(err, s3src.ErrRefused):
		return nil, cli.Fail(cli.ExitDenied, err, hints...)
	case errors.Is(err, envelope.ErrInvalidAllowList):
		return nil, cli.Fail(cli.ExitUsage, err)
	}
	return nil, cli.Fail(cli.ExitFailed, err, hints...)
}

// retryable makes an unreachable S3 or KMS match approle.ErrUnavailable,
// which is what prestart's retry loop waits out, without changing the
// message.
type retryable struct{ error }

func (r retryable) Unwrap() error        { return r.error }
func (r retryable) Is(target error) bool { return target == approle.ErrUnavailable }
