package execsrc

import "github.com/keyturn/keyturn/internal/envfile"

// ParseEnv is envfile.ParseLenient under its former name, kept for callers
// not yet moved to package envfile.
//
// Deprecated: use envfile.ParseLenient.
var ParseEnv = envfile.ParseLenient
