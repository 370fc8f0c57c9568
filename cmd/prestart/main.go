// Command prestart runs inside the container: it turns a one-time,
// response-wrapped secret ID into a Vault token, reads the secrets, and hands
// them to the application (exec with its environment, an env file, or
// stdout).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/launch"
	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/spec"
	"github.com/keyturn/keyturn/internal/vaultconn"
)

const usage = `Usage:
    prestart [flags] -- COMMAND [ARGS...]      exec COMMAND with the secrets in its environment
    prestart [flags] -env-file PATH            write the secrets to PATH (0600) and exit
    prestart [flags] -print shell|dotenv|json  print the secrets and exit
    prestart -from-env-file PATH -- COMMAND    load PATH, remove it, exec COMMAND
    prestart [flags] -dry-run                  show names, sources and versions, never values

Credentials (never flag values: argv is readable by every user):
    VAULT_ROLE_ID or -role-id-file FILE        the role ID
    VAULT_WRAPPED_SECRET_ID                    a wrapping token from 'issuer mint' (preferred)
    VAULT_SECRET_ID                            or a bare secret ID
    -secret-id-file FILE                       or either of them in a file: a bare value, or the
                                               VAULT_WRAPPED_SECRET_ID=... line 'issuer mint -format env'
                                               writes; the file is removed after reading unless
                                               -keep-secret-id-file
    -role NAME                                 accept only a wrapping token minted for role NAME
    -mount PATH                                AppRole mount (default approle)
    Without a role ID, VAULT_TOKEN (or -token-file) is used as the token.

A wrapping token is looked up before it is unwrapped and refused unless it was
created by auth/MOUNT/role/ROLE/secret-id: a token re-wrapped by whoever
intercepted it is never unwrapped.

Secrets:
    -secret NAME=vault://MOUNT/PATH#FIELD      one variable from one field (repeatable)
    -secrets vault://MOUNT/PATH                every field becomes a variable (repeatable):
                                               nested keys are joined with _ (a.b -> A_B),
                                               names upper-cased, other characters become _
    ?version=N                                 pins a KV v2 version
    -secrets 's3://BUCKET/KEY?kms=KEY[&version=ID]'
                                               an env file in S3: keyturn envelope (KMS key
                                               checked against ?kms= before any decrypt),
                                               S3 Encryption Client v2, or plain/SSE-KMS
    -secret 'NAME=s3://BUCKET/KEY?kms=KEY#VAR' one variable of it
    -secrets 's3://BUCKET/PREFIX/?blobs&kms=KEY'  one KMS ciphertext blob per object
    -secrets 'exec:COMMAND ARGS'               run COMMAND, read an env file from its stdout
    -cert DIR=MOUNT/issue/ROLE?common_name=NAME[&ttl=D&alt_names=...]
                                               issue a certificate into DIR/cert.pem,
                                               DIR/key.pem and DIR/ca.pem (0600, atomic);
                                               renewed at 2/3 of its life with -supervise
    -spec FILE                                 an HCL file declaring secret, secrets and cert
                                               blocks: the image's own contract (flags add to it)
    -override                                  a later source wins a name clash (default: error)
    -timeout D                                 keep retrying while Vault is sealed or Vault,
                                               S3 or KMS is unreachable (default 60s), then exit 4
KV v1 and v2 are detected per mount. Any other path (database/creds/ROLE, ...)
is read as is and keeps its lease. AWS settings come as for the AWS CLI
(profiles, AWS_REGION, roles); for MinIO and other S3-compatible stores set
AWS_ENDPOINT_URL_S3 and AWS_S3_USE_PATH_STYLE=true (docs/s3.md).

Delivery:
    -env-file PATH        write NAME='value' lines, mode 0600, atomically; with a
                          COMMAND also exec it
    -print FORMAT         shell (export NAME='...', safe for eval), dotenv or json
    -token-sink PATH      write the Vault token to PATH (0600) for apps that call Vault
    -pass-token           give the child VAULT_TOKEN on purpose
    -pristine             start the child's environment empty, plus -keep-env NAMEs
    -keep-env NAME        keep this variable in a pristine environment (repeatable)
    -dry-run              log in, read, and print names, sources, versions and lease
                          TTLs; it uses up a one-time secret ID
The child never sees VAULT_WRAPPED_SECRET_ID, VAULT_SECRET_ID, VAULT_ROLE_ID or
VAULT_TOKEN (unless -pass-token). If any secret is missing, nothing starts.

Supervise mode (-supervise): prestart stays as the app's parent (PID 1 duties:
every signal but SIGCHLD is forwarded to the app's process group, every zombie
is reaped, prestart exits with the app's status or 128+signal), renews the
token and every lease, re-reads KV secrets every -poll and when a lease ends,
and on a change (debounced 2s) restarts or signals the app after rewriting the
-env-file. At the token's max TTL it logs in again if the secret ID has uses
left; otherwise it stops the app and exits 3. On exit it revokes the token and
with it every lease it created.
    -supervise            stay as the app's supervisor
    -poll D               how often to re-read KV secrets (default 5m; 0: never)
    -on-change ACTION     restart (default: stop signal, -grace, SIGKILL, start
                          again with the new environment) or signal:NAME (e.g.
                          signal:SIGHUP: the app re-reads -env-file itself)
    -stop-signal NAME     signal that stops the app for a restart (default SIGTERM)
    -grace D              time between the stop signal and SIGKILL (default 10s)
    -no-revoke            keep the token and leases alive after exit
    -metrics-addr ADDR    serve Prometheus metrics on ADDR/metrics; ":9102" binds
                          127.0.0.1 only, "0.0.0.0:9102" every interface

Other:
    -log-level LEVEL      trace, debug, info, warn, error or off (default warn)
    -version              print the version
` + "\n" + vaultconn.FlagsUsage + vaultconn.TokenUsage + `
Examples:
    $ VAULT_WRAPPED_SECRET_ID=$(issuer mint -role app) VAULT_ROLE_ID=... \
        prestart -role app -secret DB_PASSWORD=vault://secret/app/db#password -- ./app
    $ prestart -secrets vault://secret/app/config -env-file /run/app.env   # ContainerPilot preStart
    $ prestart -from-env-file /run/app.env -- ./app                        # ContainerPilot main job
    $ eval "$(prestart -secrets vault://secret/app/config -print shell)"

Exit status:
    0    success
    1    the operation failed (a secret or field is missing, a file cannot be written,
         an S3 object is corrupt, an exec: source failed)
    2    usage error
    3    credentials refused: one-time ID used, expired or tampered; permission denied;
         an S3 object under a KMS key not in ?kms=, moved or tampered with
    4    Vault, S3 or KMS unavailable (sealed, unreachable) after retrying until -timeout
    126  COMMAND cannot be executed
    127  COMMAND not found
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	vault        vaultconn.Flags
	roleIDFile   string
	secretIDFile string
	keepSecretID bool
	role         string
	mount        string
	override     bool
	timeout      time.Duration
	envFile      string
	fromEnvFile  string
	print        string
	tokenSink    string
	passToken    bool
	pristine     bool
	keepEnv      cli.Multi
	dryRun       bool
	supervise    bool
	poll         time.Duration
	onChange     string
	grace        time.Duration
	stopSignal   string
	noRevoke     bool
	metricsAddr  string
	logLevel     string
	version      bool
	command      []string
	requests     []source.Request
	certs        []pkicert.Request
	specFile     string
}

func parseFlags(args []string, stdout io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("prestart", flag.ContinueOnError)
	o.vault.Register(fs, true)
	fs.StringVar(&o.roleIDFile, "role-id-file", "", "")
	fs.StringVar(&o.secretIDFile, "secret-id-file", "", "")
	fs.BoolVar(&o.keepSecretID, "keep-secret-id-file", false, "")
	fs.StringVar(&o.role, "role", "", "")
	fs.StringVar(&o.mount, "mount", approle.DefaultMount, "")
	// Both flags feed one list, in command-line order: with -override the
	// later source wins, so the order is the user's.
	fs.Var(reqFlag{o, source.ParseSecret}, "secret", "")
	fs.Var(reqFlag{o, source.ParseSecrets}, "secrets", "")
	fs.Var(certFlag{o}, "cert", "")
	fs.StringVar(&o.specFile, "spec", "", "")
	fs.BoolVar(&o.override, "override", false, "")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "")
	fs.StringVar(&o.envFile, "env-file", "", "")
	fs.StringVar(&o.fromEnvFile, "from-env-file", "", "")
	fs.StringVar(&o.print, "print", "", "")
	fs.StringVar(&o.tokenSink, "token-sink", "", "")
	fs.BoolVar(&o.passToken, "pass-token", false, "")
	fs.BoolVar(&o.pristine, "pristine", false, "")
	fs.Var(&o.keepEnv, "keep-env", "")
	fs.BoolVar(&o.dryRun, "dry-run", false, "")
	fs.BoolVar(&o.supervise, "supervise", false, "")
	fs.DurationVar(&o.poll, "poll", 5*time.Minute, "")
	fs.StringVar(&o.onChange, "on-change", "restart", "")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "")
	fs.StringVar(&o.stopSignal, "stop-signal", "SIGTERM", "")
	fs.BoolVar(&o.noRevoke, "no-revoke", false, "")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "")
	fs.StringVar(&o.logLevel, "log-level", "warn", "")
	fs.BoolVar(&o.version, "version", false, "")
	if err := cli.Parse(fs, args, usage, stdout); err != nil {
		return nil, err
	}
	o.command = fs.Args()
	if o.version {
		return o, nil
	}
	if o.specFile != "" {
		sp, err := spec.Load(o.specFile)
		if err != nil {
			return nil, cli.Fail(cli.ExitUsage, err)
		}
		// The image's contract first; flags add to it (and win a clash
		// only with -override).
		o.requests = append(sp.Requests, o.requests...)
		o.certs = append(sp.Certs, o.certs...)
		o.override = o.override || sp.Override
	}
	return o, o.check()
}

// certFlag parses -cert into options.certs.
type certFlag struct{ o *options }

func (f certFlag) String() string { return "" }
func (f certFlag) Set(v string) error {
	r, err := pkicert.Parse(v)
	if err != nil {
		return err
	}
	f.o.certs = append(f.o.certs, r)
	return nil
}

// reqFlag parses -secret and -secrets into options.requests.
type reqFlag struct {
	o     *options
	parse func(string) (source.Request, error)
}

func (f reqFlag) String() string { return "" }
func (f reqFlag) Set(v string) error {
	r, err := f.parse(v)
	if err != nil {
		return err
	}
	f.o.requests = append(f.o.requests, r)
	return nil
}

// check rejects combinations that cannot mean what the user wants.
func (o *options) check() error {
	if o.fromEnvFile != "" {
		if len(o.requests) > 0 || o.envFile != "" || o.print != "" || o.dryRun || o.tokenSink != "" {
			return cli.Usagef("-from-env-file only loads a file and execs; it takes no -secret, -secrets, -env-file, -print, -token-sink or -dry-run")
		}
		if len(o.command) == 0 {
			return cli.Usagef("-from-env-file needs a command after --")
		}
		return nil
	}
	if len(o.requests) == 0 && len(o.certs) == 0 {
		return cli.Fail(cli.ExitUsage, errors.New("no secrets requested"), "add -secret NAME=vault://MOUNT/PATH#FIELD, -secrets vault://MOUNT/PATH or -cert DIR=pki/issue/ROLE?common_name=NAME")
	}
	if o.print != "" {
		switch o.print {
		case "shell", "dotenv", "json":
		default:
			return cli.Usagef("-print must be shell, dotenv or json, not %q", o.print)
		}
		if len(o.command) > 0 {
			return cli.Usagef("-print writes to stdout and exits; it takes no command")
		}
	}
	if o.dryRun && len(o.command) > 0 {
		return cli.Usagef("-dry-run starts nothing; drop the command")
	}
	if len(o.command) == 0 && o.envFile == "" && o.print == "" && !o.dryRun && o.tokenSink == "" {
		return cli.Fail(cli.ExitUsage, errors.New("nothing to do"), "give a command after --, or -env-file, -print or -dry-run")
	}
	usesVault := len(o.certs) > 0
	for _, r := range o.requests {
		usesVault = usesVault || r.Ref.Scheme == "vault"
	}
	if !usesVault && (o.tokenSink != "" || o.passToken) {
		return cli.Usagef("-token-sink and -pass-token need a vault:// source (there is no Vault token otherwise)")
	}
	if o.supervise {
		if len(o.command) == 0 {
			return cli.Usagef("-supervise needs a command after --")
		}
		if o.print != "" || o.dryRun {
			return cli.Usagef("-supervise runs the command; it takes no -print or -dry-run")
		}
		if _, err := parseOnChange(o.onChange); err != nil {
			return cli.Fail(cli.ExitUsage, err)
		}
		if _, err := parseSignal(o.stopSignal); err != nil {
			return cli.Fail(cli.ExitUsage, err)
		}
		if o.poll < 0 || o.grace < 0 {
			return cli.Usagef("-poll and -grace cannot be negative")
		}
	}
	if o.timeout < 0 {
		return cli.Usagef("-timeout cannot be negative")
	}
	o.mount = strings.Trim(o.mount, "/")
	return nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ui := &cli.UI{Name: "prestart", Stderr: stderr}
	o, err := parseFlags(args, stdout)
	if errors.Is(err, cli.ErrHelp) {
		return cli.ExitOK
	}
	if err != nil {
		return ui.Report(err)
	}
	if o.version {
		fmt.Fprintln(stdout, version())
		return cli.ExitOK
	}
	if o.fromEnvFile != "" {
		return ui.Report(classify(fromEnvFile(o)))
	}
	return ui.Report(classify(fetchAndDeliver(ctx, o, ui, stdout, stderr)))
}

// classify gives every failure its documented exit code.
func classify(err error) error {
	var ce *cli.Error
	var le *launch.Error
	switch {
	case err == nil || errors.As(err, &ce):
		return err
	case errors.As(err, &le):
		return cli.Fail(le.Code, err)
	case errors.Is(err, approle.ErrWrappingToken), errors.Is(err, approle.ErrSecretID):
		return cli.Fail(cli.ExitDenied, err, "a one-time secret ID works once and only until it expires; have the launcher mint a new one (issuer mint)")
	case errors.Is(err, approle.ErrForeignWrapping):
		return cli.Fail(cli.ExitDenied, err, "the token may have been intercepted: revoke it and investigate before minting a new one")
	case errors.Is(err, approle.ErrLockedOut), errors.Is(err, approle.ErrPermissionDenied):
		return cli.Fail(cli.ExitDenied, err)
	case errors.Is(err, approle.ErrUnavailable):
		return cli.Fail(cli.ExitUnavailable, err, "check VAULT_ADDR and that Vault is running and unsealed")
	}
	return err
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return "prestart " + bi.Main.Version
	}
	return "prestart (devel)"
}
