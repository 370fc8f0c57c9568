//go:build !linux

package supervise

import (
	"errors"
	"os"
)

func setSubreaper() error {
	return errors.New("child subreaper is only available on Linux")
}

// IsSubreaper reports whether this process is a child subreaper; only Linux
// has them.
func IsSubreaper() bool { return false }

// foregroundTTY is Linux-only for now: elsewhere the child is never put in
// the terminal's foreground.
func foregroundTTY(*os.File) bool { return false }
