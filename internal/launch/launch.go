// Package launch builds the application's environment, finds its command
// the way the child's own PATH would, and replaces the current process with
// it (execve), so that no parent is left holding secrets. Exec and the
// supervisor resolve commands with the same LookPath and report failures
// with the same *Error, so one command line starts the same program, or
// fails with the same 126 or 127, in both modes. Bootstrap credentials are removed from the child's environment:
// an application that can read its own environment must not be able to log
// in again as its role, nor act with prestart's token unless asked to.
package launch

import (
	"sort"
	"strings"
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
