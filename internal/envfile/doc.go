// Package envfile reads env files: the strict form keyturn writes itself
// (Parse) and the lenient dotenv form other tools write (ParseLenient). It
// owns every limit on them, so that a file means the same, and is refused
// the same, wherever it comes from: an exec: command's output, an S3 object,
// -from-env-file or s3kms input. Writing and naming variables is envfmt's.
package envfile

import (
	"errors"
	"fmt"
)

// MaxSize bounds an env file, whether a command printed it or it came
// from an S3 object: secrets for one process are far smaller, and a bound
// keeps a runaway command from filling memory.
const MaxSize = 1 << 20

// Errors from ParseLenient. They never quote the input: a line that fails to
// parse may be a value, and values are secrets.
var (
	ErrSyntax    = errors.New("not a valid env file (the offending text is not shown, it may be a secret)")
	ErrName      = errors.New("env file sets a variable whose name is not a shell identifier ([A-Za-z_][A-Za-z0-9_]*)")
	ErrNUL       = errors.New("env file holds a NUL byte, which no environment variable can hold")
	ErrTooBig    = fmt.Errorf("env file is larger than %d bytes", MaxSize)
	ErrAmbiguous = errors.New(`env file has a double-quoted value ending in \" or \\, which the dotenv reader would misread; single-quote that value`)
)
