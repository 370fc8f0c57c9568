//go:build linux

package supervise

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/keyturn/keyturn/internal/launch"
)

// In-process tests make the go test process a child subreaper (the default),
// so the processes a stopped shell leaves behind are reparented to it and
// reaped by the supervisor at once, instead of waiting for PID 1 to reap
// them. No test here is parallel: a running supervisor reaps every child of
// the process, including another test's os/exec children.

// shSpec runs script with sh. The child's stderr goes to a file that is
// shown only if the test fails: shells report children killed by the
// signals these tests send, which is noise otherwise.
func shSpec(t *testing.T, script string, env ...string) Spec {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			t.Logf("child stderr:\n%s", b)
		}
	})
	return Spec{
		Args:   []string{"sh", "-c", script},
		Env:    append(baseEnv(), env...),
		Stderr: f,
	}
}

func baseEnv() []string { return []string{"PATH=" + os.Getenv("PATH")} }

type result struct {
	code int
	err  error
}

// runAsync starts Run in a goroutine.
func runAsync(ctx context.Context, s *Supervisor) <-chan result {
	ch := make(chan result, 1)
	go func() {
		code, err := s.Run(ctx)
		ch <- result{code, err}
	}()
	return ch
}

func waitResult(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
		return result{}
	}
}

func TestExitCodes(t *testing.T) {
	for _, want := range []int{0, 3, 42} {
		s := New(shSpec(t, "exit "+strconv.Itoa(want)), Options{})
		code, err := s.Run(context.Background())
		if err != nil || code != want {
			t.Fatalf("exit %d: got %d, %v", want, code, err)
		}
		select {
		case <-s.Exited():
		default:
			t.Fatal("Exited not closed after Run returned")
		}
		if st := s.Status(); st.Code != want || st.Signal != 0 {
			t.Fatalf("status %+v", st)
		}
	}
}

func TestKilledBySignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGSEGV} {
		s := New(shSpec(t, "kill -"+strings.TrimPrefix(unix.SignalName(sig), "SIG")+" $$; sleep 5"), Options{})
		code, err := s.Run(context.Background())
		if err != nil || code != 128+int(sig) {
			t.Fatalf("%v: got %d, %v; want %d", sig, code, err, 128+int(sig))
		}
		if st := s.Status(); st.Signal != sig {
			t.Fatalf("%v: status %+v", sig, st)
		}
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	noExec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badFormat := filepath.Join(dir, "garbage")
	if err := os.WriteFile(badFormat, []byte("\x00\x01\x02 not a program"), 0o755); err != nil {
		t.Fatal(err)
	}
	pathDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pathDir, "tool"), []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		code int
	}{
		{"missing path", []string{filepath.Join(dir, "missing")}, nil, 127},
		{"missing in PATH", []string{"keyturn-no-such-command"}, nil, 127},
		{"empty command", []string{""}, nil, 127},
		{"no args", nil, nil, 127},
		{"not executable", []string{noExec}, nil, 126},
		{"directory", []string{dir}, nil, 126},
		{"unknown format", []string{badFormat}, nil, 126},
		{"not executable in PATH", []string{"tool"}, []string{"PATH=" + pathDir}, 126},
		{"child PATH without it", []string{"sh", "-c", "exit 0"}, []string{"PATH=" + pathDir}, 127},
	} {
		s := New(Spec{Args: tc.args, Env: tc.env}, Options{})
		code, err := s.Run(context.Background())
		var se *launch.Error
		if code != tc.code || !errors.As(err, &se) || se.ExitCode() != tc.code {
			t.Errorf("%s: got %d, %v; want %d and a *launch.Error", tc.name, code, err, tc.code)
			continue
		}
		select {
		case <-s.Exited():
		default:
			t.Errorf("%s: Exited not closed", tc.name)
		}
	}
}

// The command is looked up in the PATH the child gets, not only ours.
func TestLookPathUsesChildPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keyturn-test-tool"), []byte("#!/bin/sh\nexit 9\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, err := Run(context.Background(), Spec{
		Args: []string{"keyturn-test-tool"},
		Env:  []string{"PATH=" + dir + ":" + os.Getenv("PATH")},
	}, Options{})
	if err != nil || code != 9 {
		t.Fatalf("got %d, %v", code, err)
	}
}

func TestSignalReachesChild(t *testing.T) {
	dir := t.TempDir()
	marker, ready := filepath.Join(dir, "marker"), filepath.Join(dir, "ready")
	s := New(shSpec(t, `trap 'echo usr1 > "$M"; exit 5' USR1; echo ok > "$R"; while :; do sleep 0.05; done`,
		"M="+marker, "R="+ready), Options{})
	if err := s.Signal(syscall.SIGUSR1); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("signal before Run: %v", err)
	}
	ch := runAsync(context.Background(), s)
	waitFile(t, ready, "ok")
	if err := s.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	r := waitResult(t, ch)
	if r.err != nil || r.code != 5 {
		t.Fatalf("got %d, %v", r.code, r.err)
	}
	if got := readFile(t, marker); got != "usr1\n" {
		t.Fatalf("marker %q", got)
	}
	if err := s.Signal(syscall.SIGUSR1); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("signal after exit: %v", err)
	}
	if _, err := s.Run(context.Background()); !errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("second Run: %v", err)
	}
}

// SIGTERM, SIGHUP and SIGINT sent to the supervisor reach the child; SIGURG
// does not. The supervisor runs in a re-executed process so the signals go to it
// and not to go test.
func TestForwardsSignals(t *testing.T) {
	dir := t.TempDir()
	marker, ready := filepath.Join(dir, "marker"), filepath.Join(dir, "ready")
	h := startReexec(t, `
trap 'echo HUP >> "$M"' HUP
trap 'echo INT >> "$M"' INT
trap 'echo URG >> "$M"' URG
trap 'echo TERM >> "$M"; exit 7' TERM
echo ok > "$R"
while :; do sleep 0.05; done`, "M="+marker, "R="+ready)
	waitFile(t, ready, "ok")
	p := h.cmd.Process
	p.Signal(syscall.SIGURG)
	p.Signal(syscall.SIGHUP)
	waitFile(t, marker, "HUP\n")
	p.Signal(syscall.SIGINT)
	waitFile(t, marker, "INT\n")
	p.Signal(syscall.SIGTERM)
	if code := h.wait(t, 10*time.Second); code != 7 {
		t.Fatalf("exit code %d, want 7\nstderr: %s", code, h.stderr.String())
	}
	got := readFile(t, marker)
	if got != "HUP\nINT\nTERM\n" {
		t.Fatalf("child saw %q, want HUP, INT, TERM and no URG", got)
	}
	if !strings.Contains(h.stdout.String(), "zombies=0") {
		t.Fatalf("report: %s", h.stdout.String())
	}
}

// A SIGTERM that reaches the supervisor while it restarts the child (the
// old group is still stopping) is not lost: the new child gets it too, so
// an orchestrator's stop always ends the run.
func TestSignalDuringRestartReachesNewChild(t *testing.T) {
	dir := t.TempDir()
	marker, starts, trigger := filepath.Join(dir, "marker"), filepath.Join(dir, "starts"), filepath.Join(dir, "restart")
	h := startReexec(t, `
trap 'echo term >> "$M"; sleep 0.5; exit 0' TERM
echo start >> "$S"
i=0; while [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done`, "M="+marker, "S="+starts, reexecRestart+"="+trigger)
	waitFile(t, starts, "start\n")
	if err := os.WriteFile(trigger, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The first child has the restart's SIGTERM and takes half a second.
	waitFile(t, marker, "term\n")
	h.cmd.Process.Signal(syscall.SIGTERM)
	// Each child gives up by itself after 20s, so that a lost signal
	// fails this test instead of hanging it.
	code := h.wait(t, 5*time.Second)
	if code != 0 && code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit code %d\nstderr: %s", code, h.stderr.String())
	}
	if !strings.Contains(h.stderr.String(), "child restarted") {
		t.Fatalf("the signal arrived before the restart, not during it\nstderr: %s", h.stderr.String())
	}
}

// A SIGTERM to the supervisor is forwarded and bounded: an app (and its
// child) that ignore it are SIGKILLed after the grace period, and the
// supervisor exits with 128+9 instead of waiting forever.
func TestTermIsBoundedByGrace(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	h := startReexec(t, `
trap '' TERM
echo $$ >> "$P"
sh -c 'trap "" TERM; echo $$ >> "$P"; while :; do sleep 0.05; done' &
while :; do sleep 0.05; done`, "P="+pids, reexecGrace+"=500ms")
	// Survivors of a failed stop would hold the output pipes open forever.
	h.cmd.WaitDelay = time.Second
	t.Cleanup(func() {
		for _, f := range strings.Fields(readFile(t, pids)) {
			if pid, _ := strconv.Atoi(f); pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(readFile(t, pids), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	h.cmd.Process.Signal(syscall.SIGTERM)
	code := h.wait(t, 5*time.Second)
	took := time.Since(start)
	if code != 128+int(syscall.SIGKILL) {
		t.Fatalf("exit code %d, want %d\nstderr: %s", code, 128+int(syscall.SIGKILL), h.stderr.String())
	}
	if took > 500*time.Millisecond+killWait {
		t.Fatalf("took %v with a grace of 500ms", took)
	}
	for _, f := range strings.Fields(readFile(t, pids)) {
		pid, _ := strconv.Atoi(f)
		if b, err := os.ReadFile("/proc/" + f + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d of the app's group survived", pid)
		}
	}
	t.Logf("exited %v after SIGTERM (grace 500ms)", took)
}

// Orphaned grandchildren are reparented to the supervisor (a subreaper, not
// PID 1) and reaped: first while the main child still runs, then when the
// main child exits at once and leaves its background job behind.
func TestReapsOrphans(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		orphans      int
	}{
		// Each orphan writes its PID; the main child exits once all of
		// them are gone from /proc, where a zombie stays until reaped.
		{"while running", `for i in 1 2 3 4 5; do sh -c 'sh -c "echo \$\$ >> \"\$O\"; sleep 0.1" &'; done
while :; do
	n=0 left=0
	for p in $(cat "$O" 2>/dev/null); do n=$((n+1)); [ -e /proc/$p ] && left=1; done
	[ $n -eq 5 ] && [ $left -eq 0 ] && break
	sleep 0.02
done
exit 4`, 5},
		{"main exits first", `sh -c 'sleep 0.2 &'; exit 4`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startReexec(t, tc.script, "O="+filepath.Join(t.TempDir(), "orphans"))
			if code := h.wait(t, 10*time.Second); code != 4 {
				t.Fatalf("exit code %d\nstderr: %s", code, h.stderr.String())
			}
			out := h.stdout.String()
			if !strings.Contains(out, "subreaper=true") || !strings.Contains(out, "zombies=0") {
				t.Fatalf("report %q\nstderr: %s", out, h.stderr.String())
			}
			if n := strings.Count(h.stderr.String(), "reaped orphan"); n < tc.orphans {
				t.Fatalf("reaped %d orphans, want %d\nstderr: %s", n, tc.orphans, h.stderr.String())
			}
		})
	}
}

// When the main child exits, the rest of its group gets SIGTERM.
func TestGroupTerminatedAfterExit(t *testing.T) {
	dir := t.TempDir()
	marker, ready := filepath.Join(dir, "marker"), filepath.Join(dir, "ready")
	start := time.Now()
	code, err := Run(context.Background(), shSpec(t,
		`sh -c 'trap "echo TERM > \"$M\"; exit 0" TERM; echo ok > "$R"; while :; do sleep 0.05; done' &
while [ ! -s "$R" ]; do sleep 0.01; done
exit 3`, "M="+marker, "R="+ready), Options{})
	if err != nil || code != 3 {
		t.Fatalf("got %d, %v", code, err)
	}
	waitFile(t, marker, "TERM")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	marker, starts := filepath.Join(dir, "marker"), filepath.Join(dir, "starts")
	script := `trap 'echo "stopped $GEN" >> "$M"; exit 0' TERM; echo "$GEN" >> "$S"; while :; do sleep 0.05; done`
	s := New(shSpec(t, script, "GEN=1", "M="+marker, "S="+starts), Options{StopTimeout: 5 * time.Second})
	if err := s.Restart(nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("restart before Run: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := runAsync(ctx, s)
	waitFile(t, starts, "1\n")
	oldPid := s.Pid()

	begin := time.Now()
	err := s.Restart(append(baseEnv(), "GEN=2", "M="+marker, "S="+starts))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("restart of a cooperative child took %v", d)
	}
	waitFile(t, starts, "1\n2\n")
	if got := readFile(t, marker); got != "stopped 1\n" {
		t.Fatalf("marker %q", got)
	}
	if p := s.Pid(); p == 0 || p == oldPid {
		t.Fatalf("pid %d after restart (was %d)", p, oldPid)
	}
	if groupAlive(oldPid) {
		t.Fatal("old process group still alive after Restart returned")
	}

	// nil keeps the environment of the current child.
	if err := s.Restart(nil); err != nil {
		t.Fatal(err)
	}
	waitFile(t, starts, "1\n2\n2\n")

	cancel()
	r := waitResult(t, ch)
	if r.code != 0 || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("after cancel: %d, %v", r.code, r.err)
	}
	if got := readFile(t, marker); got != "stopped 1\nstopped 2\nstopped 2\n" {
		t.Fatalf("marker %q", got)
	}
	if err := s.Restart(nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("restart after Run: %v", err)
	}
}

// A child that ignores the stop signal is SIGKILLed after the grace period,
// and not before.
func TestRestartKillsAfterGrace(t *testing.T) {
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	const grace = 400 * time.Millisecond
	s := New(shSpec(t, `trap '' TERM; echo x >> "$S"; while :; do sleep 0.05; done`, "S="+starts),
		Options{StopTimeout: grace})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := runAsync(ctx, s)
	waitFile(t, starts, "x\n")

	begin := time.Now()
	if err := s.Restart(nil); err != nil {
		t.Fatal(err)
	}
	d := time.Since(begin)
	if d < grace || d > grace+3*time.Second {
		t.Fatalf("restart took %v with a grace period of %v", d, grace)
	}
	waitFile(t, starts, "x\nx\n")

	begin = time.Now()
	cancel()
	r := waitResult(t, ch)
	if r.code != 128+int(syscall.SIGKILL) || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("after cancel: %d, %v", r.code, r.err)
	}
	if d := time.Since(begin); d < grace {
		t.Fatalf("killed after %v, before the grace period", d)
	}
}

func TestCustomStopSignal(t *testing.T) {
	dir := t.TempDir()
	marker, starts := filepath.Join(dir, "marker"), filepath.Join(dir, "starts")
	s := New(shSpec(t, `trap 'echo usr2 >> "$M"; exit 0' USR2; echo x >> "$S"; while :; do sleep 0.05; done`,
		"M="+marker, "S="+starts), Options{StopSignal: syscall.SIGUSR2, StopTimeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	ch := runAsync(ctx, s)
	waitFile(t, starts, "x\n")
	if err := s.Restart(nil); err != nil {
		t.Fatal(err)
	}
	waitFile(t, marker, "usr2\n")
	waitFile(t, starts, "x\nx\n") // the new child has set its trap
	cancel()
	if r := waitResult(t, ch); r.code != 0 {
		t.Fatalf("got %d, %v", r.code, r.err)
	}
}

// A restart whose new child cannot start ends Run with the shell's code.
func TestRestartStartFailure(t *testing.T) {
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	s := New(shSpec(t, `echo x >> "$S"; while :; do sleep 0.05; done`, "S="+starts), Options{})
	ch := runAsync(context.Background(), s)
	waitFile(t, starts, "x\n")
	err := s.Restart([]string{"PATH=" + dir})
	var se *launch.Error
	if !errors.As(err, &se) || se.Code != 127 {
		t.Fatalf("restart: %v", err)
	}
	r := waitResult(t, ch)
	if r.code != 127 || !errors.As(r.err, &se) {
		t.Fatalf("run: %d, %v", r.code, r.err)
	}
}

// Commands run with os/exec under the reap lock keep their exit status
// while a supervisor reaps in the same process.
func TestReapLockProtectsExec(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var lock sync.RWMutex
	started := filepath.Join(t.TempDir(), "started")
	s := New(shSpec(t, `echo x > "$S"; while :; do sleep 0.01; done`, "S="+started), Options{ReapLock: &lock})
	ch := runAsync(ctx, s)
	waitFile(t, started, "x")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				lock.RLock()
				err := exec.Command("sh", "-c", "exit 5").Run()
				lock.RUnlock()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 5 {
					t.Errorf("os/exec status lost: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	if r := waitResult(t, ch); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("run: %v", r.err)
	}
}

// Environment values are secrets: even trace logs never contain them.
func TestLogsHoldNoSecrets(t *testing.T) {
	const secret = "s3cr3t-value-that-must-not-leak"
	var buf bytes.Buffer
	var mu sync.Mutex
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: lockedWriter{&mu, &buf}})
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	s := New(shSpec(t, `echo x >> "$S"; while :; do sleep 0.05; done`, "SECRET="+secret, "S="+starts),
		Options{Logger: log, StopTimeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	ch := runAsync(ctx, s)
	waitFile(t, starts, "x\n")
	if err := s.Restart(append(baseEnv(), "SECRET="+secret+"-2", "S="+starts)); err != nil {
		t.Fatal(err)
	}
	s.Signal(syscall.SIGCONT)
	cancel()
	waitResult(t, ch)
	mu.Lock()
	defer mu.Unlock()
	if buf.Len() == 0 {
		t.Fatal("no logs at all")
	}
	if strings.Contains(buf.String(), secret) {
		t.Fatalf("logs contain the secret:\n%s", buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// When the supervisor's standard input is its controlling terminal and it is
// in the foreground, the child's group becomes the foreground group, so the
// application can read the terminal and ^C reaches it directly.
func TestForegroundTerminal(t *testing.T) {
	master, slave := openPTY(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	// The child compares its process group (field 5 of /proc/PID/stat)
	// with the terminal's foreground group (field 8).
	h := &reexec{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	h.cmd.Env = append(os.Environ(), reexecEnv+"=1", "M="+marker,
		reexecScript+`=set -- $(cat /proc/$$/stat); echo "$5 $8" > "$M"; [ "$5" = "$8" ] && [ "$5" = "$$" ]`)
	h.cmd.Stdin = slave
	h.cmd.Stdout = &h.stdout
	h.cmd.Stderr = &h.stderr
	// A new session with the terminal as its controlling terminal: the
	// re-executed supervisor is then the terminal's foreground group.
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := h.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("child not in the foreground: exit %d, pgrp and tpgid %q\nstderr: %s", code, readFile(t, marker), h.stderr.String())
	}
	if !strings.Contains(h.stderr.String(), "foreground=true") {
		t.Fatalf("supervisor did not take the foreground path:\n%s", h.stderr.String())
	}
	master.Close()
}

func TestForwarded(t *testing.T) {
	for sig, want := range map[syscall.Signal]bool{
		syscall.SIGTERM: true, syscall.SIGHUP: true, syscall.SIGINT: true, syscall.SIGQUIT: true,
		syscall.SIGUSR1: true, syscall.SIGWINCH: true, syscall.SIGCONT: true, syscall.SIGTSTP: true,
		34: true, 64: true,
		syscall.SIGCHLD: false, syscall.SIGURG: false, syscall.SIGPIPE: false, syscall.SIGKILL: false,
		syscall.SIGSTOP: false, syscall.SIGTTIN: false, syscall.SIGTTOU: false, 32: false, 0: false, 65: false,
	} {
		if Forwarded(sig) != want {
			t.Errorf("Forwarded(%v) = %v, want %v", sig, !want, want)
		}
	}
}
