// Package supervise runs one child process and does the PID 1 duties for it,
// the way tini and dumb-init do, so prestart can stay in the container as the
// application's parent.
//
// What a Supervisor does, and why:
//
//   - The child starts in its own process group (setpgid). Signals are then
//     forwarded to the whole group, so processes the application spawned (a shell
//     wrapper and its server, say) are stopped together, and the supervisor's
//     own group never receives what was meant for the application.
//   - Every signal the supervisor receives is forwarded to that group, except
//     SIGCHLD (it is about the supervisor's own children), SIGURG (the Go
//     runtime sends it to itself for goroutine preemption, many times a
//     second; forwarding it is envconsul's bug #254), SIGPIPE (the kernel
//     raises it for the supervisor's own writes to a closed pipe), SIGTTIN and
//     SIGTTOU (raised when the supervisor itself touches the terminal from the
//     background), and signals 32 and 33 (reserved by C thread libraries).
//     SIGKILL and SIGSTOP cannot be caught. A group that is already gone
//     (ESRCH) is only a debug message.
//   - Every zombie is reaped, not only the main child: on SIGCHLD (and once a
//     second, in case a SIGCHLD was coalesced or dropped) wait4(-1, WNOHANG)
//     runs until nothing is left. On Linux the supervisor also makes itself a
//     child subreaper (prctl PR_SET_CHILD_SUBREAPER), so orphaned grandchildren
//     are reparented to it and reaped even when it is not PID 1.
//   - All waiting happens in that one loop. os/exec's Cmd.Wait would race with
//     a wait4(-1) reaper (whichever runs first takes the exit status), so the
//     child is started with syscall.ForkExec and never waited for elsewhere.
//     Other code in the process that uses os/exec while a Supervisor runs
//     must hold Options.ReapLock for reading around it.
//   - Run returns the child's exit code, or 128+n if signal n killed it. When
//     the main child exits on its own, the rest of its group gets SIGTERM (as
//     dumb-init does), so background processes do not outlive it.
//   - A command that cannot be started maps to a shell's exit codes: 127 when
//     it is not found, 126 when it is found but cannot be executed
//     (*launch.Error carries the code, and launch.LookPath finds the
//     command in the child's PATH as launch.Exec does).
//   - A SIGTERM or SIGINT the supervisor receives is forwarded like any
//     other signal, and also ends the run within bounds: if the group has not
//     exited a grace period (Options.StopTimeout) later, it is SIGKILLed and
//     Run returns. An application that ignores SIGTERM would otherwise keep
//     the supervisor, and the credentials it revokes on exit, alive until
//     the orchestrator SIGKILLs both.
//   - The child is started with PDEATHSIG SIGKILL: if the supervisor dies,
//     even by SIGKILL, the application does not run on without it. The
//     kernel fires it when the forking thread exits, so Run keeps its
//     goroutine locked to one OS thread. It reaches the main child only;
//     processes it started are reparented (to PID 1, which in a container
//     whose PID 1 was the supervisor means the end of the container).
//   - Restart stops the child with the stop signal (SIGTERM by default), waits
//     up to the grace period for its whole group to exit, SIGKILLs the group if
//     needed, and starts the command again with a new environment. Signal sends
//     a signal to the group.
//   - When standard input is a terminal whose foreground group is the
//     supervisor's, the child's group is made the foreground group (tcsetpgrp),
//     so the application can read the terminal and ^C reaches it directly. The
//     supervisor then ignores SIGTTIN and SIGTTOU, like tini; ignored signals
//     stay ignored across exec, so the child inherits that.
//
// Environment values are secrets: nothing here logs or prints the child's
// environment, at any level.
package supervise
