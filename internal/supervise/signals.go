package supervise

import (
	"errors"
	"os"
	"syscall"
)

// maxSignal is the highest signal number on Linux (SIGRTMAX).
const maxSignal = 64

// notForwarded lists the signals the supervisor catches or leaves alone but
// never passes to the child; the package documentation says why for each.
var notForwarded = map[syscall.Signal]bool{
	syscall.SIGCHLD: true, // reaping trigger
	syscall.SIGURG:  true, // Go runtime preemption
	syscall.SIGPIPE: true, // our own writes to a closed pipe
	syscall.SIGTTIN: true, // our own terminal access from the background
	syscall.SIGTTOU: true,
	syscall.SIGKILL: true, // cannot be caught
	syscall.SIGSTOP: true,
	32:              true, // reserved by C thread libraries
	33:              true,
}

// Forwarded reports whether the supervisor passes sig on to the child's group.
func Forwarded(sig syscall.Signal) bool {
	return sig > 0 && sig <= maxSignal && !notForwarded[sig]
}

// caughtSignals is what the supervisor subscribes to: everything it forwards,
// SIGCHLD to reap, and SIGPIPE so that a write to a closed stderr returns
// EPIPE instead of killing the supervisor (Go's default for fds 1 and 2).
// SIGURG is left out so the runtime's preemption signals do not flood the
// channel. SIGTTIN/SIGTTOU are not caught: a caught SIGTTOU makes a
// background write retry forever, so they are ignored in foreground mode and
// left at their default otherwise.
func caughtSignals() []os.Signal {
	sigs := []os.Signal{syscall.SIGCHLD, syscall.SIGPIPE}
	for n := syscall.Signal(1); n <= maxSignal; n++ {
		if Forwarded(n) {
			sigs = append(sigs, n)
		}
	}
	return sigs
}

// ErrNotRunning is returned by Signal and Restart when there is no child.
var ErrNotRunning = errors.New("no child is running")

// Signal sends sig to the child's process group.
func (s *Supervisor) Signal(sig syscall.Signal) error {
	s.mu.Lock()
	pgid := s.pgid
	s.mu.Unlock()
	if pgid == 0 {
		return ErrNotRunning
	}
	return s.kill(pgid, sig)
}

// kill signals a whole process group. ESRCH means the group has already
// gone, which is a normal race with the child exiting: debug only.
func (s *Supervisor) kill(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		s.log.Debug("process group already gone", "pgid", pgid, "signal", sig.String())
		return nil
	}
	if err != nil {
		s.log.Warn("signal process group", "pgid", pgid, "signal", sig.String(), "error", err)
		return err
	}
	s.log.Trace("signalled process group", "pgid", pgid, "signal", sig.String())
	return nil
}

// groupAlive reports whether any process, zombies included, is still in the
// process group.
func groupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// terminating reports whether sig asks the whole run to end (an
// orchestrator's stop, ^C): after forwarding it, the supervisor gives the
// group the grace period and then SIGKILLs it.
func terminating(sig syscall.Signal) bool {
	return sig == syscall.SIGTERM || sig == syscall.SIGINT
}

func (s *Supervisor) forwarded(sig syscall.Signal, pgid int) {
	if s.opts.OnForward != nil {
		s.opts.OnForward(sig, pgid)
	}
}
