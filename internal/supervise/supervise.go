package supervise

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyturn/keyturn/internal/launch"
)

// Defaults for Options.
const (
	DefaultStopSignal  = syscall.SIGTERM
	DefaultStopTimeout = 10 * time.Second
)

// Spec is the command to run.
type Spec struct {
	// Args is the command line; Args[0] is found by launch.LookPath in the
	// PATH of Env.
	Args []string
	// Env is the child's complete environment. It holds secrets and is never
	// logged.
	Env []string
	// Dir is the working directory; empty means the supervisor's.
	Dir string
	// Stdin, Stdout and Stderr default to the supervisor's own.
	Stdin, Stdout, Stderr *os.File
}

// Options tune a Supervisor. The zero value is usable.
type Options struct {
	// Logger receives the supervisor's own messages; nil discards them.
	Logger hclog.Logger
	// StopSignal is sent to the child's group to stop it for a restart or
	// when the context is cancelled. Zero means SIGTERM.
	StopSignal syscall.Signal
	// StopTimeout is how long a stopped group may take to exit before it is
	// sent SIGKILL. Zero means 10s.
	StopTimeout time.Duration
	// NoSubreaper skips making the process a child subreaper (Linux). Only
	// useful when the process already is PID 1 or a subreaper, or must not
	// become one.
	NoSubreaper bool
	// ReapLock guards the supervisor's wait4(-1) against other waiters in
	// the same process. wait4(-1) collects any child, including one
	// started with os/exec, whose Cmd.Wait would then fail (go-reap's
	// README calls this stealing the return value). Whoever runs commands
	// with os/exec while the Supervisor runs holds ReapLock.RLock from
	// before Start until Wait returns. The reaper only ever uses TryLock,
	// so a long command delays reaping (until the next SIGCHLD or the
	// once-a-second retry) but never blocks signal forwarding. Nil means
	// nobody else in the process starts commands.
	ReapLock *sync.RWMutex
	// OnForward, if set, is told about every signal forwarded to the
	// child's process group (for an audit trail). It runs on Run's
	// goroutine and must not block.
	OnForward func(sig syscall.Signal, pgid int)
}

// Errors returned by Run and Restart.
var (
	ErrAlreadyStarted = errors.New("supervisor already started")
	ErrStopping       = errors.New("supervisor is stopping")
)

// killWait bounds how long the supervisor waits for a SIGKILLed group to
// disappear. Only processes stuck in uninterruptible sleep take longer, and
// waiting for them forever would hang the supervisor too.
const killWait = 2 * time.Second

// groupPoll is how often a stopping group is checked for remaining members.
const groupPoll = 20 * time.Millisecond

// drainWait bounds how long Run waits, after the main child exited on its
// own, for the rest of its group to follow the SIGTERM. They are not
// SIGKILLed: if the supervisor is PID 1 the kernel does that when it exits.
const drainWait = time.Second

// Supervisor runs one child at a time and does the PID 1 duties for it. Run
// does the work; Restart and Signal may be called from other goroutines while
// Run is active.
type Supervisor struct {
	spec Spec
	opts Options
	log  hclog.Logger

	stdin, stdout, stderr *os.File
	foreground            bool

	restartMu sync.Mutex // one Restart at a time
	reqs      chan restartReq
	exited    chan struct{}

	mu      sync.Mutex
	started bool
	pid     int      // main child, 0 once reaped
	pgid    int      // its process group, 0 when there is none to signal
	env     []string // the environment of the current child
	last    Status   // how the last main child ended
	final   Status   // set before exited is closed
}

type restartReq struct {
	env  []string
	done chan error
}

// New returns a Supervisor for spec. Nothing starts until Run.
func New(spec Spec, opts Options) *Supervisor {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.StopSignal == 0 {
		opts.StopSignal = DefaultStopSignal
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	if opts.ReapLock == nil {
		opts.ReapLock = new(sync.RWMutex)
	}
	s := &Supervisor{
		spec:   spec,
		opts:   opts,
		log:    opts.Logger,
		stdin:  orFile(spec.Stdin, os.Stdin),
		stdout: orFile(spec.Stdout, os.Stdout),
		stderr: orFile(spec.Stderr, os.Stderr),
		reqs:   make(chan restartReq),
		exited: make(chan struct{}),
	}
	s.spec.Env = slices.Clone(spec.Env)
	return s
}

func orFile(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

// Run is New followed by Supervisor.Run.
func Run(ctx context.Context, spec Spec, opts Options) (int, error) {
	return New(spec, opts).Run(ctx)
}

// Exited returns a channel that is closed once the supervised command has
// ended for good (not on a restart) and Run is about to return. The caller
// can then revoke credentials before exiting; Status tells how it ended.
func (s *Supervisor) Exited() <-chan struct{} { return s.exited }

// Status returns how the command ended. It is meaningful once Exited is
// closed.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.final
}

// Pid returns the current main child's process ID (also its process group
// ID), or 0 if none is running.
func (s *Supervisor) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

// Run starts the command and supervises it until it exits, then returns its
// exit code (128+n if signal n killed it).
//
// While Run is active it receives every signal the process gets (see the
// package documentation), so the caller should not also act on SIGTERM or
// SIGINT: they reach the child, and the child's exit ends Run; a child that
// has not exited StopTimeout after one of them is SIGKILLed with its group.
//
// If the command cannot be started, Run returns the shell's code (127 or 126)
// and a *launch.Error. If ctx is cancelled, the child is stopped as for a
// restart (stop signal, grace period, SIGKILL) and Run returns its exit code
// together with the context's cause.
func (s *Supervisor) Run(ctx context.Context) (int, error) {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return 0, ErrAlreadyStarted
	}
	s.started = true
	s.mu.Unlock()
	// Children are started with Pdeathsig, which fires when the forking
	// thread exits. Go only ends a thread when a goroutine locked to it
	// returns without unlocking; keeping this goroutine locked (and
	// unlocking it before returning) keeps the thread alive as long as Run.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if len(s.spec.Args) == 0 || s.spec.Args[0] == "" {
		err := &launch.Error{Code: launch.CodeNotFound, Err: errors.New("empty command")}
		s.finish(Status{Code: err.Code})
		return err.Code, err
	}

	// Subscribe before the child exists, so no SIGCHLD or forwarded signal
	// can be missed in between.
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs, caughtSignals()...)
	defer signal.Stop(sigs)

	if !s.opts.NoSubreaper {
		if err := setSubreaper(); err != nil {
			s.log.Warn("cannot become a child subreaper; orphaned grandchildren will not be reaped here", "error", err)
		}
	}
	if os.Getpid() != 1 && !IsSubreaper() {
		s.log.Warn("neither PID 1 nor a child subreaper: zombies of orphaned grandchildren are not reaped by this process")
	}

	s.foreground = foregroundTTY(s.stdin)
	if s.foreground {
		// A background process that touches the terminal gets SIGTTOU or
		// SIGTTIN; after handing the terminal to the child, that is us.
		signal.Ignore(syscall.SIGTTIN, syscall.SIGTTOU)
		defer signal.Reset(syscall.SIGTTIN, syscall.SIGTTOU)
	}

	if err := s.spawn(s.spec.Env); err != nil {
		var se *launch.Error
		code := launch.CodeNotExecutable
		if errors.As(err, &se) {
			code = se.Code
		}
		s.finish(Status{Code: code})
		return code, err
	}
	return s.loop(ctx, sigs)
}

// spawn starts a child and records it as the main one.
func (s *Supervisor) spawn(env []string) error {
	pid, err := s.startChild(env)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.pid, s.pgid, s.env = pid, pid, env
	s.mu.Unlock()
	s.log.Debug("child started", "command", s.spec.Args[0], "pid", pid, "foreground", s.foreground)
	return nil
}

// finish publishes the final status and wakes Exited waiters.
func (s *Supervisor) finish(st Status) {
	s.mu.Lock()
	s.final = st
	s.pgid = 0
	s.mu.Unlock()
	close(s.exited)
}

// loop is the only place that starts, waits for and stops children.
//
// Its phases: running (the main child is alive); stopping (the stop signal
// went to the group for a restart or because ctx ended; SIGKILL follows after
// the grace period); draining (the main child exited on its own, the rest of
// its group got SIGTERM, and the loop reaps them for up to drainWait).
// Stopping and draining both end when the process group is empty, so no
// process of one generation is left when the next starts or Run returns.
func (s *Supervisor) loop(ctx context.Context, sigs <-chan os.Signal) (int, error) {
	// Once a second, reap even without SIGCHLD: signals of one kind
	// coalesce, a full channel drops them, and a deferred reap (Options.ReapLock)
	// needs a retry.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	// While stopping or draining, check the group often.
	poll := time.NewTicker(groupPoll)
	poll.Stop()
	defer poll.Stop()

	var (
		stopping bool             // stop signal sent
		draining bool             // main child exited on its own
		final    bool             // the stop ends Run (ctx), not a restart
		pending  *restartReq      // the restart being carried out
		deferred []syscall.Signal // forwarded while pending: for the next child
		grace    <-chan time.Time
		deadline time.Time // zero until SIGKILL was sent (stopping) or the drain started
		oldPgid  int
	)
	defer func() {
		if pending != nil {
			pending.done <- ErrStopping
		}
	}()
	ctxDone := ctx.Done()
	currentPgid := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pgid
	}
	// beginShutdown bounds how long a SIGTERM or SIGINT (already forwarded)
	// may take: an app that ignores it is SIGKILLed after the grace period
	// and Run ends, instead of the supervisor waiting forever.
	beginShutdown := func(sig syscall.Signal) {
		if stopping || draining {
			final = true
			return
		}
		final, stopping, deadline = true, true, time.Time{}
		oldPgid = currentPgid()
		s.log.Debug("shutting down", "pgid", oldPgid, "signal", sig.String(), "grace", s.opts.StopTimeout)
		grace = time.After(s.opts.StopTimeout)
		poll.Reset(groupPoll)
	}
	beginStop := func() {
		stopping, deadline = true, time.Time{}
		oldPgid = currentPgid()
		s.log.Debug("stopping child", "pgid", oldPgid, "signal", s.opts.StopSignal.String(), "grace", s.opts.StopTimeout)
		s.kill(oldPgid, s.opts.StopSignal)
		grace = time.After(s.opts.StopTimeout)
		poll.Reset(groupPoll)
	}

	for {
		select {
		case sig := <-sigs:
			ssig, _ := sig.(syscall.Signal)
			switch {
			case ssig == syscall.SIGCHLD:
				s.reap()
			case Forwarded(ssig):
				if pgid := currentPgid(); pgid != 0 {
					s.kill(pgid, ssig)
					s.forwarded(ssig, pgid)
				}
				// During a restart the group that got it is on its way
				// out: the next child must get it too, or a SIGTERM from
				// the orchestrator is lost and nothing ever stops.
				if pending != nil {
					deferred = append(deferred, ssig)
				} else if terminating(ssig) {
					beginShutdown(ssig)
				}
			default:
				s.log.Trace("signal not forwarded", "signal", sig.String())
			}
		case <-tick.C:
			s.reap()
		case <-poll.C:
			s.reap()
		case req := <-s.reqs:
			if stopping || draining {
				req.done <- ErrStopping
				continue
			}
			pending = &req
			beginStop()
		case <-ctxDone:
			ctxDone = nil
			final = true
			if !stopping && !draining {
				beginStop()
			}
		case <-grace:
			grace = nil
			deadline = time.Now().Add(killWait)
			s.log.Warn("child did not stop within the grace period; sending SIGKILL", "pgid", oldPgid, "grace", s.opts.StopTimeout)
			s.kill(oldPgid, syscall.SIGKILL)
		}

		s.mu.Lock()
		mainGone := s.pid == 0
		last := s.last
		s.mu.Unlock()
		if !mainGone {
			continue
		}
		if !stopping && !draining {
			// The child exited on its own. Like dumb-init, tell the rest
			// of its group to go too; unlike it, reap them for a moment so
			// well-behaved processes finish before we (maybe PID 1) exit and
			// the kernel kills whatever is left.
			draining = true
			oldPgid = currentPgid()
			deadline = time.Now().Add(drainWait)
			s.kill(oldPgid, syscall.SIGTERM)
			poll.Reset(groupPoll)
		}
		if groupAlive(oldPgid) {
			if deadline.IsZero() || time.Now().Before(deadline) {
				continue
			}
			s.log.Warn("process group still has members; going on without them", "pgid", oldPgid)
		}
		poll.Stop()
		if draining {
			s.finish(last)
			return last.Code, nil
		}
		stopping, grace = false, nil
		if final {
			s.finish(last)
			return last.Code, context.Cause(ctx)
		}
		req := pending
		pending = nil
		env := req.env
		if env == nil {
			s.mu.Lock()
			env = s.env
			s.mu.Unlock()
		}
		if err := s.spawn(env); err != nil {
			req.done <- err
			var se *launch.Error
			code := launch.CodeNotExecutable
			if errors.As(err, &se) {
				code = se.Code
			}
			s.finish(Status{Code: code})
			return code, err
		}
		s.log.Info("child restarted", "pid", s.Pid())
		for _, sig := range deferred {
			s.log.Debug("forwarding a signal that arrived during the restart", "signal", sig.String())
			s.kill(currentPgid(), sig)
			s.forwarded(sig, currentPgid())
			if terminating(sig) {
				beginShutdown(sig)
			}
		}
		deferred = nil
		req.done <- nil
	}
}

// Restart stops the child (stop signal to its group, up to StopTimeout for
// the group to exit, then SIGKILL) and starts the command again with env as
// its environment; a nil env keeps the previous one. It returns once the new
// child has started. If the new child cannot be started, Restart returns the
// *launch.Error and Run ends with it.
func (s *Supervisor) Restart(env []string) error {
	s.restartMu.Lock()
	defer s.restartMu.Unlock()
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return ErrNotRunning
	}
	req := restartReq{env: slices.Clone(env), done: make(chan error, 1)}
	select {
	case s.reqs <- req:
	case <-s.exited:
		return ErrNotRunning
	}
	return <-req.done
}
