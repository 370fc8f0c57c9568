package launch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Exit codes a shell uses when it cannot run a command.
const (
	CodeNotExecutable = 126
	CodeNotFound      = 127
)

// Error is a failure to start a command, with the exit status a shell would
// give: CodeNotFound when there is no such file, CodeNotExecutable for
// everything else (permission denied, a directory, an unknown format), as
// POSIX shells and tini do.
type Error struct {
	Command string // as given (argv[0])
	Code    int
	Err     error
}

func (e *Error) Error() string {
	if e.Code == CodeNotFound {
		return fmt.Sprintf("command %q not found", e.Command)
	}
	return fmt.Sprintf("command %q cannot be executed: %v", e.Command, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode returns the exit code a shell would use.
func (e *Error) ExitCode() int { return e.Code }

// StartError classifies err, a failure to find or execute command.
func StartError(command string, err error) *Error {
	code := CodeNotExecutable
	if errors.Is(err, fs.ErrNotExist) {
		code = CodeNotFound
	}
	return &Error{Command: command, Code: code, Err: err}
}

// LookPath finds the executable for name like execvp does, but in the PATH
// of env, the environment the child will have (falling back to this
// process's PATH when env has none), so a pristine environment finds the
// same commands with and without a supervisor. Empty and relative PATH
// entries are skipped: resolving a command relative to the current directory
// is a classic way to run the wrong program. A file found in PATH that is
// not executable is remembered and reported as permission denied (126) if
// nothing executable comes later, as bash does. Failures are *Error.
func LookPath(name string, env []string) (string, error) {
	if name == "" {
		return "", &Error{Code: CodeNotFound, Err: errors.New("empty command")}
	}
	if strings.Contains(name, "/") {
		// execve reports ENOENT or EACCES itself, but checking now lets
		// a caller refuse before it spends a one-time credential.
		fi, err := os.Stat(name)
		switch {
		case err != nil:
			return "", StartError(name, err)
		case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
			return "", StartError(name, syscall.EACCES)
		}
		return name, nil
	}
	path, ok := Lookup(env, "PATH")
	if !ok {
		path = os.Getenv("PATH")
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
		if denied == nil {
			denied = fmt.Errorf("%s: %w", p, syscall.EACCES)
		}
	}
	if denied != nil {
		return "", StartError(name, denied)
	}
	return "", StartError(name, fmt.Errorf("not found in PATH: %w", fs.ErrNotExist))
}

// Lookup returns the last value of key in env, as getenv in a process with
// that environment would see it.
func Lookup(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// Exec replaces the process with argv[0], found by LookPath in env. It
// returns only on failure, with an *Error.
func Exec(argv []string, env []string) error {
	if len(argv) == 0 {
		return &Error{Code: CodeNotFound, Err: errors.New("no command")}
	}
	path, err := LookPath(argv[0], env)
	if err != nil {
		return err
	}
	return StartError(argv[0], syscall.Exec(path, argv, env))
}
