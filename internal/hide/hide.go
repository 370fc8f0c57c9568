package hide

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// MarkerEnv names the descriptor the re-executed image reads the
// credentials from. It is only honoured when that descriptor is a pipe.
const MarkerEnv = "KEYTURN_PRESTART_CREDENTIAL_FD"

// Names are the variables that hold bootstrap credentials: prestart reads
// them, and they must not stay in its kernel-visible environment.
var Names = []string{
	"VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_WRAPPED_SECRET_ID", "VAULT_TOKEN",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
}

// maxHandoff bounds what is read from the pipe: the credentials are far
// smaller, and a pipe larger than its buffer would block the writer.
const maxHandoff = 60 << 10

// ErrNotPipe is returned when MarkerEnv names a descriptor that is not a
// pipe; the marker is then ignored.
var ErrNotPipe = errors.New("credential hand-over descriptor is not a pipe")

// split separates environ into the credential entries and the rest.
func split(environ []string) (creds, rest []string) {
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(Names, name) || name == MarkerEnv {
			if name != MarkerEnv {
				creds = append(creds, kv)
			}
			continue
		}
		rest = append(rest, kv)
	}
	return creds, rest
}

// Receive is called first thing in the re-executed image. If MarkerEnv is
// set, it removes it, reads the credentials from the descriptor it names
// and puts them back into the process's (Go-side) environment. It reports
// whether a hand-over took place.
func Receive() (bool, error) {
	v, ok := os.LookupEnv(MarkerEnv)
	if !ok {
		return false, nil
	}
	os.Unsetenv(MarkerEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return false, fmt.Errorf("%s: not a descriptor number", MarkerEnv)
	}
	if !isPipe(fd) {
		return false, ErrNotPipe
	}
	f := os.NewFile(uintptr(fd), "credentials")
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHandoff))
	if err != nil {
		return false, fmt.Errorf("read credential hand-over: %w", err)
	}
	defer clear(b)
	for _, kv := range bytes.Split(b, []byte{0}) {
		name, val, ok := strings.Cut(string(kv), "=")
		if !ok || !slices.Contains(Names, name) {
			continue
		}
		os.Setenv(name, val)
	}
	return true, nil
}

// Supervising reports whether args (prestart's, without the program name)
// ask for -supervise before the "--" that starts the command.
func Supervising(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "supervise" {
			continue
		}
		// Every spelling package flag accepts for true (t, T, TRUE, 1, ...).
		if on, err := strconv.ParseBool(val); !hasVal || (err == nil && on) {
			return true
		}
	}
	return false
}
