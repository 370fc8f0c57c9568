// Package launch builds the application's environment and replaces the
// current process with it (execve), so that no parent is left holding
// secrets. Bootstrap credentials are removed from the child's environment:
// an application that can read its own environment must not be able to log
// in again as its role, nor act with prestart's token unless asked to.
package launch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
)

// BootstrapVars are removed from every child environment.
var BootstrapVars = []string{
	"VAULT_WRAPPED_SECRET_ID",
	"VAULT_SECRET_ID",
	"VAULT_ROLE_ID",
	"VAULT_TOKEN",
}

// EnvOptions says how to build the child's environment.
type EnvOptions struct {
	// Pristine starts from nothing but Keep instead of the whole parent
	// environment.
	Pristine bool
	// Keep lists parent variables kept in a pristine environment.
	Keep []string
	// Token, when set, is passed on as VAULT_TOKEN (-pass-token).
	Token string
}

// Env returns the child's environment: base (normally os.Environ())
// without the bootstrap credentials (or only the kept names when
// pristine), then the secrets, sorted, overriding variables of the same
// name.
func Env(base []string, secrets map[string]string, o EnvOptions) []string {
	drop := map[string]bool{}
	for _, n := range BootstrapVars {
		drop[n] = true
	}
	keep := map[string]bool{}
	for _, n := range o.Keep {
		keep[n] = true
	}
	var out []string
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if drop[name] || (o.Pristine && !keep[name]) {
			continue
		}
		if _, ok := secrets[name]; ok {
			continue
		}
		out = append(out, kv)
	}
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, n+"="+secrets[n])
	}
	if o.Token != "" {
		out = append(out, "VAULT_TOKEN="+o.Token)
	}
	return out
}

// Error is a failure to start the command, with the exit status a shell
// would give: 127 when it is not found, 126 when it cannot be executed.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Resolve finds the command as a shell would, using the PATH of the
// current process.
func Resolve(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err == nil {
		return path, nil
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return "", &Error{Code: 127, Err: fmt.Errorf("command %q not found", name)}
	}
	if errors.Is(err, os.ErrPermission) || errors.Is(err, exec.ErrDot) {
		return "", &Error{Code: 126, Err: fmt.Errorf("command %q cannot be executed: %v", name, errors.Unwrap(err))}
	}
	return "", &Error{Code: 126, Err: fmt.Errorf("command %q: %v", name, err)}
}

// Exec replaces the process with argv[0] (resolved by Resolve). It returns
// only on failure.
func Exec(argv []string, env []string) error {
	if len(argv) == 0 {
		return &Error{Code: 127, Err: errors.New("no command")}
	}
	path, err := Resolve(argv[0])
	if err != nil {
		return err
	}
	err = syscall.Exec(path, argv, env)
	code := 126
	if errors.Is(err, syscall.ENOENT) {
		code = 127
	}
	return &Error{Code: code, Err: fmt.Errorf("exec %s: %w", path, err)}
}
