package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/pgp"
	"github.com/keyturn/keyturn/internal/secfile"
	"github.com/keyturn/keyturn/internal/unseal"
)

func cmdSplit(ctx context.Context, e *env, args []string) error {
	var c common
	fs := newFlags("split", &c, false)
	threshold := fs.Int("threshold", 0, "")
	out := fs.String("out", "", "")
	var keys cli.Multi
	fs.Var(&keys, "pgp-key", "")
	if err := c.parse(e, fs, args, 0); err != nil {
		return err
	}
	if *out == "" {
		return cli.Usagef("split needs -out DIR for the share files")
	}
	if len(keys) < 2 {
		return cli.Usagef("split needs at least 2 -pgp-key files: one share each")
	}
	if *threshold < 2 || *threshold > len(keys) {
		return cli.Usagef("-threshold must be between 2 and the number of -pgp-key files (%d)", len(keys))
	}
	to, err := unseal.ReadRecipients(keys)
	if err != nil {
		return cli.Fail(cli.ExitUsage, err)
	}
	names := make([]string, len(to))
	for i, r := range to {
		names[i] = r.OutName()
	}
	if err := unseal.PrepareOutDir(*out, names); err != nil {
		return err
	}
	secret, err := readSecret(e)
	if err != nil {
		return err
	}
	defer pgp.ZeroBytes(secret)
	files, err := unseal.Split(secret, *threshold, to)
	pgp.ZeroBytes(secret)
	if err != nil {
		return err
	}
	written, _, err := unseal.WriteKeyFiles(*out, names, files)
	if err != nil {
		// Half a set of shares is worse than none: it invites combining
		// the wrong files later.
		for _, p := range written {
			os.Remove(p)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "Split into %d shares, any %d of which recover the secret (files mode 0600):\n", len(to), *threshold)
	for _, r := range to {
		fmt.Fprintf(e.stdout, "  %-32s for %s  %s  %s\n", filepath.Join(*out, r.OutName()), r.Path, r.Key.Fingerprint(), r.Key.UserID())
	}
	return nil
}

// readSecret reads the secret from stdin: all of it from a pipe or file,
// one line without echo from a terminal.
func readSecret(e *env) ([]byte, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Secret (will be hidden): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return nil, fmt.Errorf("read secret: %w", err)
		}
		return b, nil
	}
	// One buffer of the final size: a growing buffer would leave copies of
	// the secret behind.
	buf := make([]byte, unseal.MaxSecret+1)
	n, err := io.ReadFull(e.stdin, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		pgp.ZeroBytes(buf)
		return nil, fmt.Errorf("read secret from standard input: %w", err)
	}
	if n > unseal.MaxSecret {
		pgp.ZeroBytes(buf)
		return nil, fmt.Errorf("the secret on standard input is larger than %d bytes", unseal.MaxSecret)
	}
	if n == 0 {
		return nil, cli.Usagef("the secret on standard input is empty")
	}
	return buf[:n], nil
}

func cmdCombine(ctx context.Context, e *env, args []string) error {
	var c common
	var d decryptFlags
	fs := newFlags("combine", &c, false)
	d.register(fs)
	out := fs.String("out", "", "")
	force := fs.Bool("force", false, "")
	encoding := fs.String("encoding", "raw", "")
	if err := c.parse(e, fs, args, -1); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) < 2 {
		return cli.Usagef("combine needs at least 2 share files")
	}
	switch *encoding {
	case "raw", "hex", "base64":
	default:
		return cli.Usagef("-encoding must be raw, hex or base64, not %q", *encoding)
	}
	if *out == "" && !*force && isTerminal(e.stdout) {
		return cli.Fail(cli.ExitUsage, errors.New("refusing to print the secret to a terminal"),
			"redirect standard output, give -out FILE, or -force if you really mean it")
	}
	msgs := make([][]byte, len(files))
	for i, f := range files {
		m, err := unseal.ReadEncryptedFile(f)
		if err != nil {
			return err
		}
		msgs[i] = m
	}
	dec, err := d.decrypter(e)
	if err != nil {
		return err
	}
	defer dec.Close()
	secret, err := unseal.Combine(ctx, dec, msgs, files)
	if err != nil {
		return err
	}
	defer pgp.ZeroBytes(secret)
	o := secfile.NewOutput("-")
	if *out != "" {
		o = secfile.NewOutput(*out)
	}
	o.Stdout = e.stdout
	defer o.Abort()
	if err := encode(o, secret, *encoding); err != nil {
		return err
	}
	if err := o.Commit(); err != nil {
		return err
	}
	c.log.Info("combined", "shares", len(files))
	if *out != "" {
		fmt.Fprintf(e.stderr, "unseal: wrote the combined secret (%d bytes) to %s (mode 0600)\n", len(secret), *out)
	}
	return nil
}

// encode writes secret in the chosen encoding through one buffer that is
// wiped afterwards.
func encode(w io.Writer, secret []byte, encoding string) error {
	var buf []byte
	switch encoding {
	case "hex":
		buf = make([]byte, hex.EncodedLen(len(secret))+1)
		hex.Encode(buf, secret)
		buf[len(buf)-1] = '\n'
	case "base64":
		buf = make([]byte, base64.StdEncoding.EncodedLen(len(secret))+1)
		base64.StdEncoding.Encode(buf, secret)
		buf[len(buf)-1] = '\n'
	default:
		_, err := w.Write(secret)
		return err
	}
	defer pgp.ZeroBytes(buf)
	_, err := w.Write(buf)
	return err
}
