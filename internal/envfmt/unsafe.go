package envfmt

import (
	"fmt"
	"strings"
)

// Secret data decides variable names (a KV field, an env-file line, a blob's
// object name), and whoever can write the secret store is not necessarily
// allowed to run code in the app. A few names do exactly that: they make the
// dynamic loader, a shell, or a language runtime load or run something else.
// Env.Merge refuses them unless the user named them: Env.MergeNamed (a
// -secret NAME=REF request) or Env.Allow (-allow-name NAME).
//
// The list is deliberately about loading and running code, and about what
// code and certificates a process trusts; it does not try to judge every
// variable an application might read.

// unsafeNames are refused exactly as written.
var unsafeNames = map[string]string{
	// Shell start-up and parsing: run code in any sh/bash/ksh/zsh the app
	// starts, and in the shell that evals prestart -print shell.
	"PATH": "shell", "IFS": "shell", "ENV": "shell", "BASH_ENV": "shell", "PROMPT_COMMAND": "shell",
	"PS1": "shell", "PS2": "shell", "PS4": "shell", "SHELLOPTS": "shell", "BASHOPTS": "shell",
	"CDPATH": "shell", "GLOBIGNORE": "shell", "BASH_XTRACEFD": "shell", "ZDOTDIR": "shell",
	"FPATH": "shell", "SHELL": "shell", "HOME": "shell",
	"INPUTRC": "shell",
	// C library: loadable modules and message catalogues.
	"GCONV_PATH": "C library", "LOCPATH": "C library", "NLSPATH": "C library",
	"HOSTALIASES": "C library", "RESOLV_HOST_CONF": "C library",
	// Language runtimes: option and module search path variables.
	"NODE_OPTIONS": "Node.js", "NODE_PATH": "Node.js", "NODE_EXTRA_CA_CERTS": "Node.js",
	"NODE_REPL_EXTERNAL_MODULE": "Node.js", "NODE_TLS_REJECT_UNAUTHORIZED": "Node.js",
	"PYTHONPATH": "Python", "PYTHONHOME": "Python", "PYTHONSTARTUP": "Python", "PYTHONINSPECT": "Python",
	"PYTHONWARNINGS": "Python", "PYTHONBREAKPOINT": "Python", "PYTHONUSERBASE": "Python",
	"PYTHONEXECUTABLE": "Python", "PYTHONPLATLIBDIR": "Python", "PYTHONSAFEPATH": "Python",
	"PERL5OPT": "Perl", "PERL5LIB": "Perl", "PERLLIB": "Perl", "PERL5DB": "Perl", "PERL_MB_OPT": "Perl",
	"PERL_MM_OPT": "Perl",
	"RUBYOPT":     "Ruby", "RUBYLIB": "Ruby", "GEM_HOME": "Ruby", "GEM_PATH": "Ruby", "BUNDLE_GEMFILE": "Ruby",
	"JAVA_TOOL_OPTIONS": "Java", "_JAVA_OPTIONS": "Java", "JDK_JAVA_OPTIONS": "Java", "JAVA_OPTS": "Java",
	"CLASSPATH": "Java", "JAVA_HOME": "Java",
	"PHPRC": "PHP", "PHP_INI_SCAN_DIR": "PHP",
	"LUA_INIT": "Lua", "LUA_PATH": "Lua", "LUA_CPATH": "Lua",
	"DOTNET_STARTUP_HOOKS": ".NET", "DOTNET_ROOT": ".NET", "CORECLR_ENABLE_PROFILING": ".NET",
	"CORECLR_PROFILER": ".NET", "CORECLR_PROFILER_PATH": ".NET", "COR_ENABLE_PROFILING": ".NET",
	"COR_PROFILER": ".NET", "COR_PROFILER_PATH": ".NET",
	"GODEBUG":    "Go",
	"TCLLIBPATH": "Tcl", "R_PROFILE": "R", "R_PROFILE_USER": "R", "R_LIBS": "R",
	// Trust: which certificates TLS accepts.
	"SSL_CERT_FILE": "TLS trust", "SSL_CERT_DIR": "TLS trust", "REQUESTS_CA_BUNDLE": "TLS trust",
	"CURL_CA_BUNDLE": "TLS trust", "OPENSSL_CONF": "TLS trust", "OPENSSL_ENGINES": "TLS trust",
}

// unsafePrefixes are refused with any suffix.
var unsafePrefixes = []struct{ prefix, what string }{
	{"LD_", "dynamic loader"},   // LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, ...
	{"DYLD_", "dynamic loader"}, // the same on Darwin
	{"BASH_FUNC_", "shell"},     // exported bash functions
	{"GLIBC_TUNABLES", "C library"},
	{"PYTHON", "Python"}, // every PYTHON* variable changes the interpreter
}

// UnsafeName reports whether name is one that changes how programs load
// or run, and what it affects ("dynamic loader", "shell", "Python", ...).
// Names are compared exactly: the environment is case-sensitive, and
// ld_preload means nothing to the loader.
func UnsafeName(name string) (what string, unsafe bool) {
	if w, ok := unsafeNames[name]; ok {
		return w, true
	}
	for _, p := range unsafePrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.what, true
		}
	}
	return "", false
}

// UnsafeNameError reports a variable name from secret data that is on the
// unsafe list and was not allowed. It names the variable and the source,
// never the value.
type UnsafeNameError struct {
	Name   string // the variable
	What   string // what it affects: "dynamic loader", "shell", ...
	Source string // the source that set it
}

func (e *UnsafeNameError) Error() string {
	return fmt.Sprintf("%s sets variable %s, which changes how programs load or run (%s): refused unless named with -secret %s=REF or -allow-name %s",
		e.Source, e.Name, e.What, e.Name, e.Name)
}

// NULValueError reports a value holding a NUL byte, which no environment
// variable can carry: exec would fail with "invalid argument" after the
// secrets were read, so it is refused where the source is still known.
type NULValueError struct {
	Name   string
	Source string
}

func (e *NULValueError) Error() string {
	return fmt.Sprintf("%s: the value of %s holds a NUL byte, which an environment variable cannot carry", e.Source, e.Name)
}

// Allow lets names on the unsafe list through Merge and Set: the user named
// them on purpose.
func (e *Env) Allow(names ...string) {
	if e.allow == nil {
		e.allow = make(map[string]bool, len(names))
	}
	for _, n := range names {
		e.allow[n] = true
	}
}

// check refuses unsafe names that were not allowed and NUL bytes in values,
// for the first offending name in sorted order.
func (e *Env) check(names []string, src map[string]string, srcName string, named bool) error {
	for _, name := range names {
		if what, unsafe := UnsafeName(name); unsafe && !named && !e.allow[name] {
			return &UnsafeNameError{Name: name, What: what, Source: srcName}
		}
		if strings.IndexByte(src[name], 0) >= 0 {
			return &NULValueError{Name: name, Source: srcName}
		}
	}
	return nil
}
