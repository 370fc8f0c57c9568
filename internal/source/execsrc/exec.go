// Package execsrc reads exec: references, the do-it-yourself source of
// prestart runs a command and reads an env file from its
// standard output with envfile.ParseLenient, as the s3:// source reads its
// objects, so that a file means the same wherever it comes from.
package execsrc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/google/shlex"

	"github.com/keyturn/keyturn/internal/envfile"
	"github.com/keyturn/keyturn/internal/launch"
	"github.com/keyturn/keyturn/internal/source"
)

// Reader runs exec:COMMAND ARGS references.
type Reader struct {
	// Stderr receives the command's standard error as it is written, so
	// its own diagnostics reach the container log. Nil means os.Stderr.
	Stderr io.Writer
	// Environ is the environment the command starts from; nil means
	// os.Environ(). Bootstrap credentials (VAULT_WRAPPED_SECRET_ID,
	// VAULT_SECRET_ID, VAULT_ROLE_ID, VAULT_TOKEN) are always removed: the
	// command is not the application, but it must not be able to log in as
	// the container's role either.
	Environ []string

	// mu serialises writes to Stderr: sources are read concurrently, and
	// a writer such as a bytes.Buffer is not safe for two commands at once.
	mu sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var _ source.Reader = (*Reader)(nil)

// ExitError is a command that ran and failed. Its standard error has
// already been passed through.
type ExitError struct {
	Command string
	Code    int
}

func (e *ExitError) Error() string {
	if e.Code < 0 {
		return fmt.Sprintf("command %s was killed by a signal", e.Command)
	}
	return fmt.Sprintf("command %s exited with status %d", e.Command, e.Code)
}

// Split turns the text after exec: into argv with shell-like quoting
// ('...', "...", backslash; an unquoted # starts a comment) but no shell:
// no variables, globs, pipes or redirections. A command that needs them can be written as
// exec:sh -c '...'.
func Split(command string) ([]string, error) {
	argv, err := shlex.Split(command)
	if err != nil {
		return nil, fmt.Errorf("exec:%s: %w", command, err)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("exec:%s: no command", command)
	}
	return argv, nil
}

// Read runs the command and parses what it prints. The command inherits
// prestart's standard error and nothing on standard input, and is stopped
// when ctx ends (prestart's -timeout); a non-zero exit fails closed. Its
// output is bounded by envfile.MaxSize.
func (r *Reader) Read(ctx context.Context, ref source.Ref) (*source.Result, error) {
	argv, err := Split(ref.Path)
	if err != nil {
		return nil, err
	}
	name := argv[0]
	cmd := exec.CommandContext(ctx, name, argv[1:]...)
	env := r.Environ
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = launch.Env(env, nil, launch.EnvOptions{})
	cmd.Stdin = nil // /dev/null: the command must not read prestart's input
	switch w := r.Stderr.(type) {
	case nil:
		cmd.Stderr = os.Stderr
	case *os.File:
		cmd.Stderr = w // the child writes to it directly
	default:
		cmd.Stderr = lockedWriter{mu: &r.mu, w: w}
	}
	out := &boundedBuffer{max: envfile.MaxSize}
	cmd.Stdout = out
	// The command gets a process group of its own, and at the deadline or
	// on SIGTERM the whole group is killed: killing only a shell leaves
	// its children running, and one of them holding the output pipe would
	// keep the read waiting for it. WaitDelay bounds the wait for a
	// descendant that left the group and still holds the pipe.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	defer clear(out.buf.Bytes())
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%s: %w", ref, &ExitError{Command: name, Code: ee.ExitCode()})
		}
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if out.overflow {
		return nil, fmt.Errorf("%s: %w", ref, envfile.ErrTooBig)
	}
	vars, err := envfile.ParseLenient(out.buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: output: %w", ref, err)
	}
	data := make(map[string]any, len(vars))
	for k, v := range vars {
		data[k] = v
	}
	return &source.Result{Data: data}, nil
}

// boundedBuffer keeps at most max bytes and discards the rest, so that a
// command printing without end neither fills prestart's memory nor blocks
// on a full pipe; the read then fails with envfile.ErrTooBig.
type boundedBuffer struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.max {
		b.overflow = true
		return len(p), nil
	}
	return b.buf.Write(p)
}

// String is never the content: a Reader's output is a secret.
func (b *boundedBuffer) String() string { return fmt.Sprintf("%d bytes", b.buf.Len()) }
