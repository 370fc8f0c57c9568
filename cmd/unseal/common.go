package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"golang.org/x/term"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/pgp"
	"github.com/keyturn/keyturn/internal/secfile"
	"github.com/keyturn/keyturn/internal/unseal"
	"github.com/keyturn/keyturn/internal/vaultconn"
)

// common holds the flags of every command and what they build.
type common struct {
	nodes    vaultconn.NodeFlags
	logLevel string
	log      hclog.Logger
}

func newFlags(name string, c *common, withNodes bool) *flag.FlagSet {
	fs := flag.NewFlagSet("unseal "+name, flag.ContinueOnError)
	if withNodes {
		c.nodes.Register(fs)
	}
	fs.StringVar(&c.logLevel, "log-level", "warn", "")
	return fs
}

// parse parses flags; positional arguments are allowed only where maxArgs
// says so (-1: any number).
func (c *common) parse(e *env, fs *flag.FlagSet, args []string, maxArgs int) error {
	if err := cli.Parse(fs, args, usage, e.stdout); err != nil {
		return err
	}
	if maxArgs >= 0 && fs.NArg() > maxArgs {
		return cli.Fail(cli.ExitUsage, fmt.Errorf("unexpected argument %q", fs.Arg(maxArgs)), "run unseal -help for usage")
	}
	log, err := cli.NewLogger("unseal", c.logLevel, e.stderr)
	if err != nil {
		return err
	}
	c.log = log
	return nil
}

// nodeList builds one client per node address, all with the same TLS
// settings. Clients never retry on their own: a retried unseal or rekey
// request could count a share twice or after a failure, so retries are
// decided here, per node.
func (c *common) nodeList(e *env) ([]*unseal.Node, error) {
	addrs, err := c.nodes.Addresses()
	if err != nil {
		return nil, cli.Fail(cli.ExitUsage, err)
	}
	opts := []vaultconn.Option{vaultconn.WithMaxRetries(0), vaultconn.WithoutToken()}
	if c.log.IsDebug() {
		// The HTTP client logs every failed request as an error; below
		// debug, the table and the error lines already say which node
		// failed and why.
		opts = append(opts, vaultconn.WithLogger(c.log))
	}
	var out []*unseal.Node
	warned := false
	for _, a := range addrs {
		vc, insecure, err := c.nodes.ClientFor(a, opts...)
		if err != nil {
			return nil, err
		}
		if insecure && !warned {
			warned = true
			e.ui.Warnf("TLS verification of Vault's certificate is off (-tls-skip-verify or VAULT_SKIP_VERIFY)")
		}
		out = append(out, unseal.NewNode(a, vc))
	}
	return out, nil
}

// oneClient returns a client for the first listed node, or with prefer
// set, for the first that answers unsealed: rekey requests need an
// unsealed node, and a standby forwards them to the active one.
func (c *common) oneClient(ctx context.Context, e *env, preferUnsealed bool) (*api.Client, string, error) {
	nodes, err := c.nodeList(e)
	if err != nil {
		return nil, "", err
	}
	if preferUnsealed && len(nodes) > 1 {
		for i, st := range unseal.StatusAll(ctx, nodes) {
			if st.Reachable && !st.Sealed {
				return nodes[i].Client(), nodes[i].Addr, nil
			}
		}
	}
	return nodes[0].Client(), nodes[0].Addr, nil
}

// decryptFlags are the flags of commands that decrypt share files.
type decryptFlags struct {
	privateKeys    cli.Multi
	passphraseFile string
	gpg            string
}

func (d *decryptFlags) register(fs *flag.FlagSet) {
	fs.Var(&d.privateKeys, "private-key", "")
	fs.StringVar(&d.passphraseFile, "passphrase-file", "", "")
	fs.StringVar(&d.gpg, "gpg", "", "")
}

// decrypter builds the Decrypter; Close it to wipe the passphrase.
func (d *decryptFlags) decrypter(e *env) (*unseal.Decrypter, error) {
	dec := &unseal.Decrypter{GPG: pgp.GPGOptions{Program: d.gpg, Stderr: e.stderr}}
	var pass []byte
	if d.passphraseFile != "" {
		p, err := readPassphraseFile(d.passphraseFile)
		if err != nil {
			return nil, err
		}
		pass = p
	}
	if len(d.privateKeys) == 0 {
		dec.GPG.Passphrase = pass
		return dec, nil
	}
	for _, p := range d.privateKeys {
		data, err := os.ReadFile(p)
		if err != nil {
			dec.Close()
			return nil, fmt.Errorf("private key: %w", err)
		}
		dec.PrivateKeys = append(dec.PrivateKeys, data)
	}
	dec.Passphrase = pass
	dec.Prompt = func() ([]byte, error) { return promptPassphrase(e) }
	return dec, nil
}

// readPassphraseFile reads the first line of a passphrase file.
func readPassphraseFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	defer fh.Close()
	buf := make([]byte, 4097)
	n, err := io.ReadFull(fh, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		pgp.ZeroBytes(buf)
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	if n > 4096 {
		pgp.ZeroBytes(buf)
		return nil, fmt.Errorf("passphrase file %s: larger than 4 KiB", path)
	}
	line := secfile.TrimNewline(buf[:n])
	if bytes.ContainsAny(line, "\r\n") {
		pgp.ZeroBytes(buf)
		return nil, fmt.Errorf("passphrase file %s: more than one line", path)
	}
	if len(line) == 0 {
		pgp.ZeroBytes(buf)
		return nil, fmt.Errorf("passphrase file %s is empty", path)
	}
	return line, nil
}

// promptPassphrase asks on the controlling terminal without echo. It uses
// /dev/tty rather than stdin so that it works while stdin is redirected.
func promptPassphrase(e *env) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, &passphraseError{noTerminal: true}
	}
	defer tty.Close()
	fmt.Fprint(tty, "Passphrase for the private key (will be hidden): ")
	pass, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(pass) == 0 {
		return nil, &passphraseError{}
	}
	return pass, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
