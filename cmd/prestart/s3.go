//go:build !nos3

package main

import (
	"context"
	"errors"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/prestart"
	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/source/s3src"
)

// This build reads s3:// itself: it is prestart-s3, and what a plain
// go build or go install of this package gives. The Makefile builds the
// lean prestart with -tags nos3, which runs prestart-s3 in its place when
// a source is s3:// (delegate.go).

// s3Reader makes the s3:// reader of one run. The AWS configuration is
// loaded, as the AWS CLI loads it, on the first s3:// read.
var s3Reader prestart.ReaderFunc = func(env prestart.ReaderEnv) source.Reader {
	return s3src.NewReader(func(ctx context.Context) (*s3src.Store, error) {
		return s3src.Load(ctx, s3src.Options{Logger: env.Log, AliasTTL: env.Poll, CredentialsLock: env.Processes})
	})
}

// s3Exit classifies S3 and KMS failures for exitCode: ok is false for
// any other error, which may still get a hint (a wrong key and a wrong
// identity have different cures).
func s3Exit(err error) (code int, hints []string, ok bool) {
	if h := s3src.Hint(err); h != "" {
		hints = append(hints, h)
	}
	switch {
	case errors.Is(err, s3src.ErrRefused):
		return cli.ExitDenied, hints, true
	case errors.Is(err, s3src.ErrUnavailable):
		return cli.ExitUnavailable, hints, true
	}
	return 0, hints, false
}
