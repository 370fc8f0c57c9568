// Package hide keeps a long-lived prestart's bootstrap credentials away from
// the application it supervises and from anything else running as its user.
//
// Without it, prestart -supervise stays alive with the environment it was
// started with, and Linux shows that environment to every process of the
// same user in /proc/PID/environ for the life of the process; the values
// also sit in its memory (/proc/PID/mem) and in any core dump. Two steps
// close those paths:
//
//   - Handoff re-executes the running binary (/proc/self/exe, same PID, so
//     PID 1 stays PID 1) with the credential variables removed from its
//     environment, and hands their values over on a pipe whose descriptor
//     number is named by MarkerEnv. The kernel's copy of the environment,
//     which is what /proc/PID/environ shows, then never held them. After
//     reading the pipe the new image puts the values back into Go's own copy
//     of the environment (os.Setenv, which never writes to that kernel copy),
//     so everything downstream reads them exactly as before.
//   - Harden makes the process non-dumpable (prctl PR_SET_DUMPABLE 0): the
//     kernel then refuses /proc/PID/mem, environ and ptrace to other
//     processes of the same user, and the kernel writes no core dump of a
//     non-dumpable process at all, to a file or to a core_pattern pipe
//     handler, whatever RLIMIT_CORE says. RLIMIT_CORE is left alone: it is
//     inherited by the application, and lowering it for prestart alone would
//     leave a window after each start in which the application runs with a
//     limit it did not choose. execve resets the dumpable flag, so the
//     application stays debuggable.
//
// The marker cannot be used to slip credentials in from outside: it is
// honoured only if its descriptor is a pipe, and whoever can set the
// marker could set VAULT_TOKEN directly anyway. It is removed before
// anything else runs, so the application never inherits it.
//
// golang.org/x/sys/unix is used (it is already a dependency) for prctl,
// which package syscall does not wrap.
package hide
