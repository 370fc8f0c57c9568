package supervise

import (
	"syscall"

	"github.com/keyturn/keyturn/internal/launch"
)

// startChild forks and execs the command in a new process group. It is only
// called from the supervisor loop, so no reap can run while ForkExec waits
// for a child whose exec failed.
func (s *Supervisor) startChild(env []string) (int, error) {
	name := s.spec.Args[0]
	path, err := launch.LookPath(name, env)
	if err != nil {
		return 0, err
	}
	sys := &syscall.SysProcAttr{
		// Its own group: signals go to the application and whatever it
		// spawned, and never back to the supervisor.
		Setpgid: true,
		// If the supervisor dies (even by SIGKILL), the application dies
		// with it instead of running on without anyone renewing its
		// secrets. The kernel ties this to the thread that forked: Run
		// locks its goroutine to one thread for its whole life, so that
		// thread does not exit while the child runs.
		Pdeathsig: syscall.SIGKILL,
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
		return 0, launch.StartError(name, err)
	}
	return pid, nil
}
