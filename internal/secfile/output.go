package secfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrClosed is returned when an Output is used after Commit or Abort.
var ErrClosed = errors.New("output already committed or aborted")

// Output collects everything a command prints and creates its destination
// only on Commit, so a command that fails half way leaves no half-written file
// (and, for "-", prints nothing). The data is held in memory until then, which
// suits secrets: they are small, and they never touch a temporary file that a
// crash could leave behind.
//
// The usual pattern is:
//
//	out := secfile.NewOutput(path)
//	defer out.Abort() // no-op after a successful Commit
//	if err := render(out); err != nil {
//		return err
//	}
//	return out.Commit()
//
// An Output is not safe for concurrent use.
type Output struct {
	path string
	buf  []byte
	done bool

	// Stdout receives the data on Commit when the path is "-". Nil means
	// os.Stdout.
	Stdout io.Writer
}

// NewOutput returns an Output for path. The path "-" means standard output.
func NewOutput(path string) *Output {
	return &Output{path: path}
}

// Name returns the path the Output was made for ("-" for standard output).
func (o *Output) Name() string { return o.path }

// Write appends p to the pending content. It never touches the destination.
func (o *Output) Write(p []byte) (int, error) {
	if o.done {
		return 0, ErrClosed
	}
	if len(o.buf)+len(p) > cap(o.buf) {
		// Grow by hand so the old backing array can be wiped; append would
		// leave a copy of the secret behind for the garbage collector.
		n := 2*cap(o.buf) + len(p)
		grown := make([]byte, len(o.buf), n)
		copy(grown, o.buf)
		wipe(o.buf)
		o.buf = grown
	}
	o.buf = append(o.buf, p...)
	return len(p), nil
}

// Commit writes the collected content to the destination: atomically with
// mode 0600 (see Write) for a path, or in one write to Stdout for "-". The
// buffer is wiped afterwards whether or not that succeeded. Committing an
// Output with no content still creates an empty file.
func (o *Output) Commit() error {
	if o.done {
		return ErrClosed
	}
	o.done = true
	defer o.release()
	if o.path == "-" {
		w := o.Stdout
		if w == nil {
			w = os.Stdout
		}
		if _, err := w.Write(o.buf); err != nil {
			return fmt.Errorf("write to standard output: %w", err)
		}
		return nil
	}
	return Write(o.path, o.buf)
}

// Abort discards the collected content without creating anything. It may be
// called any number of times, also after Commit, which makes it suitable for
// a defer.
func (o *Output) Abort() {
	if o.done {
		return
	}
	o.done = true
	o.release()
}

func (o *Output) release() {
	wipe(o.buf)
	o.buf = nil
}
