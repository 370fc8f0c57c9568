package supervise

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

// StartError reports that the command could not be started. Code is the exit
// code a shell would use for the same failure, for the caller to exit with.
type StartError struct {
	Command string // the command as given (Args[0])
	Code    int    // CodeNotFound or CodeNotExecutable
	Err     error
}

func (e *StartError) Error() string {
	if e.Command == "" {
		return fmt.Sprintf("start command: %v", e.Err)
	}
	return fmt.Sprintf("start %s: %v", e.Command, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// ExitCode returns the exit code a shell would use.
func (e *StartError) ExitCode() int { return e.Code }

// startErr maps an exec failure to a shell's exit code: tini and POSIX shells
// give 127 only when the file does not exist, and 126 for everything else
// (permission denied, a directory, an unknown executable format).
func startErr(command string, err error) *StartError {
	code := CodeNotExecutable
	if errors.Is(err, fs.ErrNotExist) {
		code = CodeNotFound
	}
	return &StartError{Command: command, Code: code, Err: err}
}

// lookPath finds the executable for name like execvp does, but in the PATH
// the child will have (falling back to the supervisor's own when the child's
// environment has none), so a pristine environment still finds commands.
// Empty and relative PATH entries are skipped: resolving a command relative to
// the current directory is a classic way to run the wrong program. A file found
// in PATH that is not executable is remembered and reported as permission
// denied (126) if nothing executable comes later, as bash does.
func lookPath(name string, env []string) (string, error) {
	if name == "" {
		return "", fs.ErrNotExist
	}
	if strings.Contains(name, "/") {
		// execve reports ENOENT/EACCES itself; nothing to search.
		return name, nil
	}
	path, ok := envValue(env, "PATH")
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
		return "", denied
	}
	return "", fmt.Errorf("not found in PATH: %w", fs.ErrNotExist)
}

// envValue returns the last value of key in env, as getenv in the child
// would see it.
func envValue(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// startChild forks and execs the command in a new process group. It is only
// called from the supervisor loop, so no reap can run while ForkExec waits
// for a child whose exec failed.
func (s *Supervisor) startChild(env []string) (int, error) {
	name := s.spec.Args[0]
	path, err := lookPath(name, env)
	if err != nil {
		return 0, startErr(name, err)
	}
	sys := &syscall.SysProcAttr{
		// Its own group: signals go to the application and whatever it
		// spawned, and never back to the supervisor.
		Setpgid: true,
	}
	if s.foreground {
		// Go runs the tcsetpgrp in the child with signals blocked, so it
		// works even when the supervisor's group is no longer the
		// foreground one (after a restart).
		sys.Foreground = true
		sys.Ctty = int(s.stdin.Fd())
	}
	attr := &syscall.ProcAttr{
		Dir:   s.spec.Dir,
		Env:   env,
		Files: []uintptr{s.stdin.Fd(), s.stdout.Fd(), s.stderr.Fd()},
		Sys:   sys,
	}
	pid, err := syscall.ForkExec(path, s.spec.Args, attr)
	if err != nil {
		return 0, startErr(name, err)
	}
	return pid, nil
}
