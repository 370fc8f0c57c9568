// Package prestart is the core of the prestart command: the path of a secret
// from a reference to the application. A Plan, built once from the flags and
// the spec file, says what to read, what to write and what to start; Run
// carries it out in steps, each of which may stop the start before anything
// reaches the application:
//
//	preflight  check the command and the output directories (before a
//	           one-time secret ID is spent on a typo)
//	login      a Session with Vault, only when a vault:// source or a
//	           certificate needs one
//	read       every source, retried while a backend is unavailable
//	render     every output, before anything is written
//	write      certificates, token sink, env file, printed output
//	exec       replace the process with the application, or
//	supervise  stay as its parent and keep its secrets alive
//
// With an audit trail (IO.Audit, package audit), each step writes its line:
// start before the login, login, read, cert, then exec as the last line
// before the process is replaced, or the supervisor's lines while the app
// runs. A trail that cannot be written before the app starts stops the
// start; audit.go builds the lines.
//
// Streams and the process environment come in through IO, so nothing below
// the command's main touches os.Stdin, os.Stdout or os.Stderr. Errors come
// back as the backends return them, with two types of this package's own
// (*UsageError, *ExitStatus): the command maps them to exit codes and hints
// in one place.
package prestart
