package envfile

import (
	"bytes"
	"strings"

	"github.com/joho/godotenv"

	"github.com/keyturn/keyturn/internal/envfmt"
)

// ParseLenient reads an env file the way a shell reads the same lines, as far
// as env files go: NAME=value, export NAME=value, 'single quotes' taken
// literally, "double quotes" with backslash escapes, # comments and blank
// lines.
//
// Two readers are involved, so that keyturn's own files are read exactly
// and everyone else's still load:
//
//   - A file in the form envfmt writes (NAME='value', a quote inside as
//     '\”, values spanning lines, optional export) is read by
//     Parse, which gives it its exact shell meaning. This is
//     what s3kms stores, and what prestart -print shell and -env-file
//     write.
//   - Anything else is read by github.com/joho/godotenv: unquoted values
//     (trailing " # comment" dropped), double-quoted values with \n, \r,
//     \" and \\ escapes (and values spanning lines), and $NAME or ${NAME}
//     in unquoted and double-quoted values replaced by a variable set on
//     an earlier line, or by nothing. It reads envfmt's dotenv output
//     back, except for the values below.
//
// godotenv v1.5.1 misreads a double-quoted value that ends in an escaped
// quote or an escaped backslash (joho/godotenv#225, #226); rather than
// load a wrong secret, a file outside envfmt's form that contains the
// bytes \\" or \"" anywhere is refused with ErrAmbiguous.
//
// Names must be shell identifiers; a later line setting a name again wins,
// as in a shell. Errors never contain any part of the input.
func ParseLenient(b []byte) (map[string]string, error) {
	if len(b) > MaxSize {
		return nil, ErrTooBig
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return nil, ErrNUL
	}
	if vars, err := Parse(bytes.NewReader(b)); err == nil {
		return vars, nil
	}
	if bytes.Contains(b, []byte(`\""`)) || bytes.Contains(b, []byte(`\\"`)) {
		return nil, ErrAmbiguous
	}
	// godotenv's own errors quote the rest of the file ("unexpected
	// character ... near ..."), which may hold secrets: they are dropped.
	vars, err := godotenv.UnmarshalBytes(b)
	if err != nil {
		return nil, ErrSyntax
	}
	for name, v := range vars {
		if !envfmt.ValidName(name) {
			clear(vars)
			return nil, ErrName
		}
		if strings.IndexByte(v, 0) >= 0 {
			clear(vars)
			return nil, ErrNUL
		}
	}
	return vars, nil
}
