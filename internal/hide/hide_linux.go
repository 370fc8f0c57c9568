//go:build linux

package hide

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Handoff re-executes the running binary without the credential variables
// in its environment if any of them is set, handing their values over on a
// pipe. On success it does not return. It returns nil without doing
// anything when no credential variable is set.
func Handoff() error {
	creds, rest := split(os.Environ())
	if len(creds) == 0 {
		return nil
	}
	var p [2]int
	// The write end must not survive the exec, or the new image would never
	// see EOF; the read end must, so it is the one without O_CLOEXEC.
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("credential hand-over pipe: %w", err)
	}
	r, w := p[0], p[1]
	payload := []byte(strings.Join(creds, "\x00"))
	defer clear(payload)
	if len(payload) > maxHandoff {
		unix.Close(r)
		unix.Close(w)
		return fmt.Errorf("credential variables are larger than %d bytes", maxHandoff)
	}
	// The pipe buffer (64 KiB) holds the whole payload, so nobody needs to
	// read while it is written.
	for off := 0; off < len(payload); {
		n, err := unix.Write(w, payload[off:])
		if err != nil {
			unix.Close(r)
			unix.Close(w)
			return fmt.Errorf("credential hand-over: %w", err)
		}
		off += n
	}
	if _, err := unix.FcntlInt(uintptr(r), unix.F_SETFD, 0); err != nil {
		unix.Close(r)
		unix.Close(w)
		return fmt.Errorf("credential hand-over: %w", err)
	}
	env := append(rest, MarkerEnv+"="+strconv.Itoa(r))
	err := syscall.Exec("/proc/self/exe", os.Args, env)
	unix.Close(r)
	unix.Close(w)
	return fmt.Errorf("re-execute without credentials in the environment: %w", err)
}

func isPipe(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO
}

// Harden makes the process non-dumpable (see the package documentation).
func Harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("make the process non-dumpable: %w", err)
	}
	return nil
}
