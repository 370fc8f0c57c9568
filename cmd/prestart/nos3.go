//go:build nos3

package main

import "github.com/keyturn/keyturn/internal/prestart"

// Built with -tags nos3, prestart links no AWS SDK and runs prestart-s3
// for a plan with an s3:// source (delegate.go).

var s3Reader prestart.ReaderFunc

func s3Exit(error) (int, []string, bool) { return 0, nil, false }
