// Package cli holds what keyturn's binaries share on their command line: the
// exit codes, the "NAME: error:" / "NAME: hint:" reporting, repeatable
// flags, and the go-hclog logger on stderr.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Exit codes shared by every binary and listed in each usage text.
const (
	ExitOK          = 0
	ExitFailed      = 1 // the operation failed
	ExitUsage       = 2 // bad flags or arguments
	ExitDenied      = 3 // credentials refused: used, expired or tampered ID, permission denied
	ExitUnavailable = 4 // backend unavailable after retries: Vault sealed or down, S3/KMS unreachable
)

// Error carries an exit code and hints to the top of a command.
type Error struct {
	Code  int
	Err   error
	Hints []string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Fail wraps err with an exit code and hints.
func Fail(code int, err error, hints ...string) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err, Hints: hints}
}

// errQuiet marks an exit code that needs no message: the supervised
// child's own status, which the child has already explained.
var errQuiet = errors.New("exit")

// ExitCode returns an error that makes the command exit with code and
// print nothing.
func ExitCode(code int) error {
	if code == ExitOK {
		return nil
	}
	return &Error{Code: code, Err: errQuiet}
}

// Usagef reports a usage mistake (exit 2).
func Usagef(format string, args ...any) error {
	return &Error{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// UI prints errors the way every keyturn binary does: one
// "NAME: error: ..." line, then optional "NAME: hint: ..." lines, lower case
// and without a trailing period.
type UI struct {
	Name   string
	Stderr io.Writer
}

// Report prints err and returns its exit code (1 unless err says otherwise).
func (u *UI) Report(err error) int {
	if err == nil {
		return ExitOK
	}
	code := ExitFailed
	var hints []string
	var ce *Error
	if errors.As(err, &ce) {
		code = ce.Code
		hints = ce.Hints
		if ce.Err == errQuiet {
			return code
		}
	}
	fmt.Fprintf(u.Stderr, "%s: error: %s\n", u.Name, err)
	for _, h := range hints {
		fmt.Fprintf(u.Stderr, "%s: hint: %s\n", u.Name, h)
	}
	return code
}

// Warnf prints a warning line.
func (u *UI) Warnf(format string, args ...any) {
	fmt.Fprintf(u.Stderr, "%s: warning: %s\n", u.Name, fmt.Sprintf(format, args...))
}

// Parse parses args into fs. -h and -help print usage to stdout and return
// errHelp (exit 0); any other mistake is a usage error (exit 2).
func Parse(fs *flag.FlagSet, args []string, usage string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return ErrHelp
		}
		return &Error{Code: ExitUsage, Err: errors.New(dropValue(err.Error())), Hints: []string{"run with -help for usage"}}
	}
	return nil
}

// flagValueRE matches the value the flag package quotes in its errors.
// It is compiled on first use: most runs never see a flag error.
var flagValueRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^invalid (boolean )?value ".*" for (flag )?-`)
})

// dropValue removes the rejected value from a flag error: whoever pastes a
// token where a flag wanted a duration must not find it echoed to a log.
func dropValue(msg string) string {
	return flagValueRE().ReplaceAllString(msg, "invalid ${1}value for ${2}-")
}

// ErrHelp means usage was printed on request; the command exits 0.
var ErrHelp = errors.New("help requested")

// Multi is a repeatable string flag.
type Multi []string

func (m *Multi) String() string     { return strings.Join(*m, ",") }
func (m *Multi) Set(v string) error { *m = append(*m, v); return nil }

// NewLogger returns a go-hclog logger on w at the named level. Secrets are
// never handed to it, at any level.
func NewLogger(name, level string, w io.Writer) (hclog.Logger, error) {
	lvl := hclog.LevelFromString(level)
	if lvl == hclog.NoLevel {
		return nil, Usagef("unknown -log-level %q (want trace, debug, info, warn, error or off)", level)
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: lvl, Output: w}), nil
}

// Version returns the module version the binary was built from, or
// "(devel)" for a build from a checkout.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
