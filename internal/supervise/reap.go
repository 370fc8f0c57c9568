package supervise

import (
	"errors"
	"syscall"
)

// Status is how a child ended.
type Status struct {
	Code   int            // exit code, or 128+Signal
	Signal syscall.Signal // the signal that killed it, or 0
}

func statusOf(ws syscall.WaitStatus) Status {
	if ws.Signaled() {
		return Status{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}
	}
	return Status{Code: ws.ExitStatus()}
}

// reap collects every zombie child, not only the main one: orphans
// reparented to the supervisor (PID 1 or subreaper) have nobody else to wait
// for them. It returns false if another waiter holds Options.ReapLock, in which case
// the caller retries later.
func (s *Supervisor) reap() bool {
	if !s.opts.ReapLock.TryLock() {
		s.log.Trace("reap deferred: another waiter holds the lock")
		return false
	}
	defer s.opts.ReapLock.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			// ECHILD: no children at all; 0: none has exited yet.
			return true
		}
		st := statusOf(ws)
		s.mu.Lock()
		main := pid == s.pid
		if main {
			s.pid = 0
			s.last = st
		}
		s.mu.Unlock()
		if main {
			s.log.Debug("child exited", "pid", pid, "code", st.Code)
		} else {
			s.log.Debug("reaped orphan", "pid", pid, "code", st.Code)
		}
	}
}
