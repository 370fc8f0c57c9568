// Command unseal is for Vault operators: initialise Vault so that every
// operator receives one PGP-encrypted unseal key share, turn a key (decrypt
// the share in memory, submit it to every sealed node of the cluster), watch
// the nodes, rekey to new PGP keys, and split or combine any secret offline
// in Vault's share format. A decrypted share or root token is never printed,
// written, logged or passed on a command line.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/vaultconn"
)

const usage = `Usage:
    unseal init    -threshold T -pgp-key FILE... [-shares N] [-root-token-pgp-key FILE] -out DIR [-address URL]
    unseal key     -key-file FILE [-private-key FILE [-passphrase-file FILE]] [-wait 2m]
                   [-format text|json] -address URL... | -nodes FILE
    unseal status  [-format text|json] -address URL... | -nodes FILE
    unseal rekey init   -threshold T -pgp-key FILE... [-shares N] [-backup] [-verify] [-address URL]
    unseal rekey submit -key-file FILE [-nonce NONCE] [-out DIR [-pgp-key FILE...]] [-address URL]
    unseal rekey status [-format text|json] [-address URL]
    unseal rekey cancel [-address URL]
    unseal split   -threshold T -pgp-key FILE... -out DIR  < SECRET
    unseal combine [-private-key FILE]... [-out FILE] [-force] [-encoding raw|hex|base64] SHARE-FILE...
    unseal -version

init initialises a Vault node with one unseal key share per -pgp-key file,
each encrypted by Vault to that key, and writes them to DIR: alice.asc gives
DIR/alice.asc.key, which holds exactly Vault's keys_base64 entry for it
(mode 0600), so that ` + "`base64 -d < alice.asc.key | gpg -dq`" + ` prints the hex
share. The root token is encrypted to -root-token-pgp-key (default: the
first -pgp-key) and written to DIR/root-token.key in the same form. Keys may
be armored, binary (gpg --export) or base64. init prints every key's
fingerprint and user id and which file is for whom. It refuses a Vault that
is already initialised, -shares different from the number of keys, a
threshold below 2 with several keys, the same key twice, and existing files.

key turns one operator's key: it decrypts the share file in memory (through
your own gpg, so gpg-agent, pinentry and smartcards work as with gpg -d; or
with -private-key FILE and a passphrase asked on the terminal without echo,
or read from -passphrase-file) and submits it to every listed node that is
sealed, all at once. It prints each node's state (sealed/unsealed), unseal
progress, version and HA role. A node that is unreachable is reported and
does not stop the others. Raft followers that join through retry_join can
take shares only once a leader is unsealed; key watches such nodes for up
to -wait and submits as soon as they have joined, and submits again if a
node's unseal progress was reset. So when key holders run key at about the
same time, every node of a new cluster ends unsealed. -wait 0 does not wait.

status shows every node: state, progress, shares and threshold, version, HA
role and leader. It exits 0 only when every node is reachable and unsealed.

rekey replaces the unseal key shares with new ones, encrypted to new PGP
keys. init starts it (-backup keeps an encrypted copy of the new shares in
Vault, readable at sys/rekey/backup with a root token; -verify makes the new
shares take effect only after threshold of them were submitted back). Each
holder of a current share runs submit; the submission that completes the
rekey needs -out DIR and writes the new share files there, named after the
matching -pgp-key files (else after the key fingerprint). With -verify,
holders of new shares then run submit with their new file. status shows
progress; cancel discards the attempt.

split reads a secret (any bytes, up to 32 KiB) from standard input, or from
the terminal without echo, and writes one share file per -pgp-key to DIR,
in the format Vault uses for unseal keys; any T of them recover it. combine
decrypts share files (split's, or Vault's own unseal key files), combines
them and writes the secret to -out FILE (mode 0600) or to standard output,
which must not be a terminal unless -force. Combining Vault's shares gives
Vault's unseal key. Shares carry no checksum: fewer than T give a wrong
result, not an error.

Decryption (key, rekey submit, combine):
    -private-key FILE     decrypt in process with this private key (gpg --export-secret-keys)
    -passphrase-file FILE read the key's passphrase from FILE (first line); without it a
                          protected -private-key is asked for on the terminal, and gpg asks
                          through its agent
    -gpg PROGRAM          the gpg to run (default gpg from PATH; GNUPGHOME is honoured)

Options for every command:
    -log-level LEVEL      trace, debug, info, warn, error or off (default warn)

` + vaultconn.NodeFlagsUsage + `
init and rekey talk to one node (-address, or the first of several). No
command needs a Vault token: the endpoints used are the unauthenticated
seal-status, health, leader, init, unseal and rekey. Shares, passphrases and
tokens are never accepted as flag values.

Examples:
    $ unseal init -threshold 2 -pgp-key alice.asc -pgp-key bob.asc -pgp-key carol.asc \
          -root-token-pgp-key ops.asc -out keys -address https://vault-1:8200
    $ unseal key -key-file alice.asc.key -nodes nodes.txt -ca-cert ca.pem
    $ unseal status -nodes nodes.txt -ca-cert ca.pem
    $ unseal rekey init -threshold 2 -pgp-key dan.asc -pgp-key erin.asc -pgp-key frank.asc
    $ unseal rekey submit -key-file bob.asc.key -out newkeys -pgp-key dan.asc -pgp-key erin.asc -pgp-key frank.asc
    $ unseal split -threshold 2 -pgp-key alice.asc -pgp-key bob.asc -pgp-key carol.asc -out shares < breakglass.key
    $ unseal combine -out breakglass.key shares/alice.asc.key shares/carol.asc.key

Exit status:
    0  success
    1  the operation failed
    2  usage error
    3  refused: a share was rejected, or decryption failed (wrong key, passphrase, file)
    4  node(s) unavailable: unreachable, or not able to take the share before -wait ended
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what every command gets from main.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	ui             *cli.UI
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, ui: &cli.UI{Name: "unseal", Stderr: stderr}}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.ExitUsage
	}
	var err error
	switch args[0] {
	case "init":
		err = cmdInit(ctx, e, args[1:])
	case "key":
		err = cmdKey(ctx, e, args[1:])
	case "status":
		err = cmdStatus(ctx, e, args[1:])
	case "rekey":
		err = cmdRekey(ctx, e, args[1:])
	case "split":
		err = cmdSplit(ctx, e, args[1:])
	case "combine":
		err = cmdCombine(ctx, e, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return cli.ExitOK
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, version())
		return cli.ExitOK
	default:
		err = cli.Fail(cli.ExitUsage, fmt.Errorf("unknown command %q", args[0]),
			"commands: init, key, status, rekey, split, combine; run unseal -help")
	}
	if errors.Is(err, cli.ErrHelp) {
		return cli.ExitOK
	}
	return e.ui.Report(classify(err))
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return "unseal " + bi.Main.Version
	}
	return "unseal (devel)"
}
