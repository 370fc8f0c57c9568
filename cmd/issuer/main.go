// Command issuer is run by launchers (CI jobs, schedulers, deploy scripts):
// it bootstraps AppRole roles and policies from one file and mints one-time,
// response-wrapped secret IDs, one per container.
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
	"github.com/keyturn/keyturn/internal/vaulterr"
)

const usage = `Usage:
    issuer bootstrap -config FILE [-dry-run] [-format text|json]
    issuer mint -role NAME [-wrap-ttl 2m] [-cidr CIDR]... [-meta K=V]... [-num-uses N] [-ttl D]
                [-no-wrap] [-format text|json|env] [-out FILE]
    issuer role-id -role NAME
    issuer list -role NAME [-format text|json]
    issuer revoke -role NAME -accessor ACCESSOR
    issuer -version

bootstrap applies an HCL file of policies, AppRole roles and launchers to
Vault, idempotently; -dry-run prints the plan (object names and fields, never
a secret) and changes nothing.

mint creates a secret ID for one container start. By default it is
response-wrapped: stdout gets only the wrapping token, which the container
(prestart) unwraps once, after checking where it came from. -format env prints
VAULT_WRAPPED_SECRET_ID=TOKEN; -format json adds the wrapping accessor, the
secret ID accessor (to revoke it) and the expiry; -out FILE writes the output
to FILE (mode 0600, atomically) and prints nothing secret. -meta stores
key/value pairs on the secret ID (launcher, job, image, ...). -no-wrap prints
the bare secret ID: only for receivers that cannot unwrap.

role-id prints a role's role ID, list shows a role's live secret IDs by
accessor (never the IDs), revoke destroys one by accessor.

Options for every command:
    -mount PATH           AppRole auth mount (default approle)
    -log-level LEVEL      trace, debug, info, warn, error or off (default warn)
    -token-file FILE      read the Vault token from FILE   [VAULT_TOKEN]

` + vaultconn.FlagsUsage + `
The Vault token is never accepted as a flag value: argv is visible to every
user of the machine. Use VAULT_TOKEN or -token-file. A launcher's token comes
from the token role bootstrap creates for it:
    vault token create -role=keyturn-launcher-NAME

Examples:
    $ issuer bootstrap -config keyturn.hcl -dry-run
    $ issuer bootstrap -config keyturn.hcl
    $ VAULT_WRAPPED_SECRET_ID=$(issuer mint -role app -meta job=$CI_JOB_ID)
    $ issuer mint -role app -format env -out /run/app/bootstrap.env
    $ issuer list -role app
    $ issuer revoke -role app -accessor 2d5f...

Exit status:
    0  success
    1  the operation failed
    2  usage error
    3  refused: permission denied
    4  Vault unavailable (sealed, standby without leader, unreachable)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ui := &cli.UI{Name: "issuer", Stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.ExitUsage
	}
	var err error
	switch args[0] {
	case "bootstrap":
		err = cmdBootstrap(ctx, args[1:], stdout, stderr)
	case "mint":
		err = cmdMint(ctx, args[1:], stdout, stderr)
	case "role-id":
		err = cmdRoleID(ctx, args[1:], stdout, stderr)
	case "list":
		err = cmdList(ctx, args[1:], stdout, stderr)
	case "revoke":
		err = cmdRevoke(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return cli.ExitOK
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, version())
		return cli.ExitOK
	default:
		err = cli.Usagef("unknown command %q", args[0])
		err = cli.Fail(cli.ExitUsage, err, "commands: bootstrap, mint, role-id, list, revoke; run issuer -help")
	}
	if errors.Is(err, cli.ErrHelp) {
		return cli.ExitOK
	}
	return ui.Report(classify(err))
}

// classify gives every error its exit code and hints; it is the one place
// where issuer decides them.
func classify(err error) error {
	var ce *cli.Error
	switch {
	case err == nil || errors.As(err, &ce):
		return err
	case errors.Is(err, vaulterr.ErrPermissionDenied):
		return cli.Fail(cli.ExitDenied, err, "the token's policies do not allow this; a launcher token may only mint for the roles its launcher block names")
	case errors.Is(err, vaulterr.ErrUnavailable) && vaulterr.Certificate(err):
		return cli.Fail(cli.ExitUnavailable, err, "set VAULT_CACERT or -ca-cert to the CA that signed Vault's certificate")
	case errors.Is(err, vaulterr.ErrUnavailable):
		return cli.Fail(cli.ExitUnavailable, err, "check VAULT_ADDR and that Vault is running and unsealed")
	}
	return cli.Fail(cli.ExitFailed, err)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return "issuer " + bi.Main.Version
	}
	return "issuer (devel)"
}
