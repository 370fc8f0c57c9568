//go:build linux

package supervise

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setSubreaper makes orphaned descendants reparent to this process instead
// of to PID 1, so the reaper sees them even when prestart is not PID 1.
func setSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// IsSubreaper reports whether this process is a child subreaper.
func IsSubreaper() bool {
	// PR_GET_CHILD_SUBREAPER stores the flag through a pointer.
	var flag int32
	_, _, errno := syscall.Syscall6(syscall.SYS_PRCTL, unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&flag)), 0, 0, 0, 0)
	return errno == 0 && flag != 0
}

// foregroundTTY reports whether f is a terminal whose foreground process
// group is ours: only then may the child's group be put in the foreground.
func foregroundTTY(f *os.File) bool {
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == syscall.Getpgrp()
}
