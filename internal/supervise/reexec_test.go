//go:build linux

package supervise

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Tests that signal the supervising process itself, or that need it to be a
// subreaper, run the supervisor in a fresh copy of this test binary: the
// re-exec mode below, selected by SUPERVISE_REEXEC. That keeps go test's own
// process out of the way of forwarded signals and reparented orphans.

const (
	reexecEnv     = "SUPERVISE_REEXEC"
	reexecScript  = "SUPERVISE_REEXEC_SCRIPT"
	reexecRestart = "SUPERVISE_REEXEC_RESTART_ON" // a file whose appearance restarts the child once
	reexecGrace   = "SUPERVISE_REEXEC_GRACE"      // Options.StopTimeout
)

// restartOnFile restarts the child once path exists, as a secret change
// would.
func restartOnFile(s *Supervisor, path string) {
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Restart(nil); err != nil {
		fmt.Fprintln(os.Stderr, "restart:", err)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(reexecEnv) != "" {
		os.Exit(reexecMain())
	}
	os.Exit(m.Run())
}

// reexecMain supervises sh -c "$SUPERVISE_REEXEC_SCRIPT" with debug logs on
// stderr, then reports on stdout whether it was a subreaper and how many
// zombie children it still has, and exits with the child's code.
func reexecMain() int {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SUPERVISE_REEXEC") {
			env = append(env, kv)
		}
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "supervise", Level: hclog.Trace, Output: os.Stderr})
	grace, _ := time.ParseDuration(os.Getenv(reexecGrace))
	s := New(Spec{Args: []string{"sh", "-c", os.Getenv(reexecScript)}, Env: env}, Options{Logger: log, StopTimeout: grace})
	if trigger := os.Getenv(reexecRestart); trigger != "" {
		go restartOnFile(s, trigger)
	}
	code, err := s.Run(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
	}
	fmt.Printf("subreaper=%v zombies=%d\n", IsSubreaper(), len(zombieChildren(os.Getpid())))
	return code
}

// zombieChildren lists the zombies whose parent is ppid, from /proc.
func zombieChildren(ppid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var zombies []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 || f[0] != "Z" {
			continue
		}
		if pp, _ := strconv.Atoi(f[1]); pp == ppid {
			pid, _ := strconv.Atoi(strings.Fields(string(b))[0])
			zombies = append(zombies, pid)
		}
	}
	return zombies
}

type reexec struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
}

// startReexec runs the re-executed binary with script as the supervised command and
// extra environment. The test process has no supervisor running at that
// time, so os/exec waiting here is safe.
func startReexec(t *testing.T, script string, env ...string) *reexec {
	t.Helper()
	h := &reexec{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	h.cmd.Env = append(os.Environ(), append([]string{reexecEnv + "=1", reexecScript + "=" + script}, env...)...)
	h.cmd.Stdout = &h.stdout
	h.cmd.Stderr = &h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if h.cmd.ProcessState == nil {
			h.cmd.Process.Kill()
			h.cmd.Wait()
		}
	})
	return h
}

// wait returns the exit code, failing the test after timeout.
func (h *reexec) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(timeout):
		h.cmd.Process.Kill()
		<-done
		t.Fatalf("re-executed test binary did not exit within %v\nstdout: %s\nstderr: %s", timeout, h.stdout.String(), h.stderr.String())
		return -1
	}
}

// waitFile polls until path contains want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("%s never contained %q; it holds %q", path, want, b)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// openPTY returns the master and slave ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here (/dev/ptmx): %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}
