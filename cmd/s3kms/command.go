package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/term"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/envfile"
	"github.com/keyturn/keyturn/internal/source/s3src"
)

// command holds what every verb shares: the flags, the streams, and the
// AWS clients once built.
type command struct {
	name           string
	stdin          io.Reader
	stdout, stderr io.Writer
	fs             *flag.FlagSet

	kmsKey, env, logLevel string
	allow                 cli.Multi
	pathStyle             bool

	args []string // positional arguments, in order
	log  hclog.Logger
}

func newCommand(name string, stdin io.Reader, stdout, stderr io.Writer) *command {
	c := &command{name: name, stdin: stdin, stdout: stdout, stderr: stderr}
	c.fs = flag.NewFlagSet("s3kms "+name, flag.ContinueOnError)
	c.fs.StringVar(&c.kmsKey, "kms-key", os.Getenv("KEYTURN_KMS_KEY"), "")
	c.fs.Var(&c.allow, "kms-allow", "")
	c.fs.StringVar(&c.env, "env", "", "")
	c.fs.BoolVar(&c.pathStyle, "s3-path-style", false, "")
	c.fs.StringVar(&c.logLevel, "log-level", "warn", "")
	return c
}

// parse parses flags wherever they are among the arguments (s3kms push
// s3://b/k -kms-key K reads naturally), and requires exactly the named
// positional arguments.
func (c *command) parse(args []string, positional ...string) error {
	for {
		if err := cli.Parse(c.fs, args, usage, c.stdout); err != nil {
			return err
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			c.args = append(c.args, rest[1:]...)
			break
		}
		c.args = append(c.args, rest[0])
		args = rest[1:]
	}
	if len(c.args) != len(positional) {
		return cli.Fail(cli.ExitUsage, fmt.Errorf("%s takes %d arguments (%v), not %d", c.name, len(positional), positional, len(c.args)),
			"run s3kms -help for usage")
	}
	log, err := cli.NewLogger("s3kms", c.logLevel, c.stderr)
	if err != nil {
		return err
	}
	c.log = log
	return nil
}

func (c *command) object() (s3src.Object, error) {
	o, err := s3src.ParseObject(c.args[0])
	if err != nil {
		return o, cli.Fail(cli.ExitUsage, err)
	}
	return o, nil
}

func (c *command) store(ctx context.Context) (*s3src.Store, error) {
	s, err := s3src.Load(ctx, s3src.Options{PathStyle: c.pathStyle, Logger: c.log})
	if err != nil {
		return nil, cli.Fail(cli.ExitUsage, err, "configure AWS as for the AWS CLI: AWS_PROFILE or AWS_ACCESS_KEY_ID, AWS_REGION")
	}
	return s, nil
}

// key returns -kms-key with {env} filled in; it is required.
func (c *command) key() (string, error) {
	if c.kmsKey == "" {
		return "", cli.Fail(cli.ExitUsage, fmt.Errorf("%s needs -kms-key KEY", c.name), "or set KEYTURN_KMS_KEY")
	}
	k, err := s3src.ExpandKey(c.kmsKey, c.env)
	if err != nil {
		return "", cli.Fail(cli.ExitUsage, err)
	}
	return k, nil
}

// allowList returns the keys an object read may be encrypted under:
// -kms-allow, or else -kms-key. It may be empty, which plain objects
// allow and every encrypted form refuses.
func (c *command) allowList() ([]string, error) {
	src := []string(c.allow)
	if len(src) == 0 && c.kmsKey != "" {
		src = []string{c.kmsKey}
	}
	out := make([]string, 0, len(src))
	for _, a := range src {
		k, err := s3src.ExpandKey(a, c.env)
		if err != nil {
			return nil, cli.Fail(cli.ExitUsage, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// target is what most verbs act on: the object, the keys it may be
// encrypted under, and the store.
type target struct {
	obj   s3src.Object
	allow []string
	store *s3src.Store
}

// target checks the object and the allow-list before loading the AWS
// configuration, so a typo is a usage error and costs no request.
func (c *command) target(ctx context.Context) (*target, error) {
	obj, err := c.object()
	if err != nil {
		return nil, err
	}
	allow, err := c.allowList()
	if err != nil {
		return nil, err
	}
	s, err := c.store(ctx)
	if err != nil {
		return nil, err
	}
	return &target{obj, allow, s}, nil
}

// wrote finishes a write: it prints the new version ID, for prestart's
// ?version= pin.
func (c *command) wrote(w *s3src.Written, err error) error {
	if err != nil {
		return err
	}
	c.log.Info("wrote", "object", w.Object.String(), "version", w.VersionID, "format", string(w.Format), "key", w.KeyARN, "variables", w.Vars)
	if w.VersionID != "" {
		fmt.Fprintln(c.stdout, w.VersionID)
	}
	return nil
}

// readInput reads at most envfile.MaxSize bytes from path, or stdin
// for "-".
func (c *command) readInput(path string) ([]byte, error) {
	var r io.Reader = c.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(r), envfile.MaxSize+1))
	if err != nil {
		clear(b)
		return nil, err
	}
	if len(b) > envfile.MaxSize {
		clear(b)
		return nil, envfile.ErrTooBig
	}
	return b, nil
}

// readValue reads a secret value: from stdin without one trailing
// newline, or, when stdin is a terminal, from a prompt that does not echo
// what is typed, so the secret appears neither on screen nor in a
// scrollback buffer (and never in argv).
func (c *command) readValue(name string) ([]byte, error) {
	if c.stdinIsTerminal() {
		fmt.Fprintf(c.stderr, "value for %s (not echoed): ", name)
		b, err := term.ReadPassword(int(c.stdin.(*os.File).Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return nil, fmt.Errorf("read the value from the terminal: %w", err)
		}
		return b, nil
	}
	b, err := c.readInput("-")
	if err != nil {
		return nil, err
	}
	switch {
	case len(b) > 1 && b[len(b)-2] == '\r' && b[len(b)-1] == '\n':
		b = b[:len(b)-2]
	case len(b) > 0 && b[len(b)-1] == '\n':
		b = b[:len(b)-1]
	}
	return b, nil
}

// stdinIsTerminal reports whether stdin is a terminal, where typed text
// is echoed.
func (c *command) stdinIsTerminal() bool {
	f, ok := c.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
