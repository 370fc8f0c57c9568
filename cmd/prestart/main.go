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
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/audit"
	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/hide"
	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/prestart"
	"github.com/keyturn/keyturn/internal/source"
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
                                               (&bind=strict: only blobs bound to their object;
                                               &raw: keep trailing newlines); ?legacy reads
                                               S3 Encryption Client v1 objects (docs/s3.md);
                                               s3:// is read by prestart-s3, which prestart
                                               runs in its place from beside itself or PATH
    -secrets 'exec:COMMAND ARGS'               run COMMAND, read an env file from its stdout
    -cert DIR=MOUNT/issue/ROLE?common_name=NAME[&ttl=D&alt_names=...]
                                               issue a certificate into DIR/cert.pem,
                                               DIR/key.pem and DIR/ca.pem (0600, atomic);
                                               renewed at 2/3 of its life with -supervise
    -spec FILE                                 an HCL file declaring secret, secrets and cert
                                               blocks: the image's own contract (flags add to it)
    -override                                  a later source wins a name clash (default: error)
    -allow-name NAME                           accept NAME from secret data although it changes how
                                               programs load or run (LD_*, PATH, BASH_ENV, NODE_OPTIONS,
                                               PYTHON*, ...; docs/s3.md has the list); -secret NAME=REF
                                               needs no -allow-name (repeatable)
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
left, and rewrites -token-sink (and restarts or signals an app given the token
with -pass-token). While Vault is sealed, unreachable or answering 5xx the app
keeps running on its values; renewals, logins and re-reads are retried with
backoff (1s doubling to 30s, jittered) for as long as prestart runs. A failed
-on-change action is retried too. On exit it revokes the token and with it
every lease it created. If prestart dies, the app is SIGKILLed. prestart keeps its credentials and token out of the app's reach: it re-executes
itself without them in its environment and is not dumpable (no /proc/PID/mem,
environ or core dump for processes of its user).
    -supervise            stay as the app's supervisor
    -poll D               how often to re-read KV secrets (default 5m; 0: never)
    -on-change ACTION     restart (default: stop signal, -grace, SIGKILL, start
                          again with the new environment) or signal:NAME (e.g.
                          signal:SIGHUP: the app re-reads -env-file itself)
    -stop-signal NAME     signal that stops the app for a restart (default SIGTERM)
    -grace D              time between the stop signal and SIGKILL (default 10s), for
                          a restart and for a SIGTERM or SIGINT to prestart: after it
                          the app's process group is SIGKILLed, the token revoked
    -no-revoke            keep the token and leases alive after exit
    -metrics-addr ADDR    serve Prometheus metrics on ADDR/metrics; ":9102" binds
                          127.0.0.1 only, "0.0.0.0:9102" every interface
    -on-login-refused A   when Vault refuses a new login after the token expired
                          (secret ID used up or revoked): keep (default: the app
                          runs on, degraded, keyturn_degraded 1) or stop (stop the
                          app, exit 3)

Audit trail:
    -audit FILE|-         append one JSON line per event to FILE (created 0600) or,
                          with -, to stderr (stdout is the app's and -print's):
                          start, login, read, renew, relogin, change, restart,
                          signal, revoke, cert, degraded, recovered, exec, exit;
                          with time, host, pid and tags; never a value, token,
                          secret ID or lease ID (docs/audit.md). If FILE cannot be
                          opened or written, nothing starts (exit 1); once a
                          supervised app runs, a failed write is logged and
                          counted (keyturn_audit_write_failures_total)
    -audit-tag KEY=VALUE  a label on every line (repeatable)

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
         an S3 object is corrupt, an exec: source failed, prestart-s3 not found)
    2    usage error
    3    credentials refused: one-time ID used, expired or tampered; permission denied;
         an S3 object under a KMS key not in ?kms=, moved or tampered with
    4    Vault, S3 or KMS unavailable (sealed, unreachable) after retrying until -timeout
    126  COMMAND cannot be executed
    127  COMMAND not found
`

func main() {
	os.Exit(start(os.Args[1:]))
}

// start is main without the exit, so the script tests run the same path.
func start(args []string) int { return startWith(args, s3Reader) }

// startWith is start with the s3:// reader this build has (nil in the
// lean build), so that the tests also run the lean path.
func startWith(args []string, s3 prestart.ReaderFunc) int {
	ctx, signalsReady, stop := watchSignals()
	defer stop()
	ui := &cli.UI{Name: "prestart", Stderr: os.Stderr}
	// The command line (and the spec file) is read once, before anything
	// else: it touches no credential and no environment.
	p, version, err := parseFlags(args, os.Stdout)
	switch {
	case errors.Is(err, cli.ErrHelp):
		return cli.ExitOK
	case err != nil:
		return ui.Report(exitCode(err))
	case version:
		fmt.Println(versionString())
		return cli.ExitOK
	}
	if err := delegate(p, args, s3); err != nil {
		return ui.Report(exitCode(err))
	}
	if code, ok := hideCredentials(args); !ok {
		return code
	}
	<-signalsReady
	return run(ctx, p, prestart.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ()}, s3)
}

// watchSignals returns a context cancelled on SIGINT or SIGTERM, so that a
// start stopped midway revokes its token. The runtime enables a signal by
// handing it to a thread of its own and waiting for that thread, about
// 0.1 ms on every start, so the handler is installed in the background
// while the command line is read; ready is closed once it is in place, and
// the start waits for it before it opens the audit trail or uses a
// credential.
func watchSignals() (ctx context.Context, ready <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, os.Interrupt, syscall.SIGTERM)
		close(done)
		select {
		case <-c:
			cancel()
		case <-ctx.Done():
		}
		signal.Stop(c)
	}()
	return ctx, done, cancel
}

// hideCredentials runs before anything uses a credential. A supervisor
// outlives its start, so its bootstrap credentials must not stay where the
// application (same user) can read them: the process re-executes itself
// with them out of its environment and then becomes non-dumpable (package
// hide says how and why). It returns false, with the exit code, if that fails: running on
// with readable credentials is what -supervise must not do.
func hideCredentials(args []string) (int, bool) {
	ui := &cli.UI{Name: "prestart", Stderr: os.Stderr}
	// A marker that names no pipe is ignored (and removed), never trusted.
	received, err := hide.Receive()
	if err != nil && !errors.Is(err, hide.ErrNotPipe) {
		return ui.Report(exitCode(err)), false
	}
	if !hide.Supervising(args) {
		return 0, true
	}
	// After a hand-over the credentials are back in Go's copy of the
	// environment only; handing them over again would loop.
	if !received {
		if err := hide.Handoff(); err != nil {
			return ui.Report(exitCode(err)), false
		}
	}
	if err := hide.Harden(); err != nil {
		return ui.Report(exitCode(err)), false
	}
	return 0, true
}

func run(ctx context.Context, p *prestart.Plan, std prestart.IO, s3 prestart.ReaderFunc) int {
	ui := &cli.UI{Name: "prestart", Stderr: std.Stderr}
	// The trail is opened before anything else is tried: a start that
	// cannot be audited does not log in.
	aud, err := audit.Open(p.AuditFile, std.Stderr, audit.Options{Tags: p.AuditTags})
	if err != nil {
		return ui.Report(exitCode(err))
	}
	std.Audit = aud
	var opts []prestart.Option
	if s3 != nil {
		opts = append(opts, prestart.WithReader("s3", s3))
	}
	err = prestart.Run(ctx, p, std, opts...)
	code := ui.Report(exitCode(err))
	aud.Emit(exitEvent(p, err, code))
	aud.Close()
	return code
}

// exitEvent is the audit trail's last line of a run that did not exec.
func exitEvent(p *prestart.Plan, err error, code int) audit.Exit {
	ev := audit.Exit{Mode: p.Mode(), Code: code}
	var st *prestart.ExitStatus
	switch {
	case errors.As(err, &st):
		// The app's own status, which it has explained itself.
		if st.Signal != 0 {
			ev.AppSignal = unix.SignalName(st.Signal)
		}
	case err != nil:
		ev.Error = err.Error()
	}
	return ev
}

// parseFlags builds the plan from the command line and the spec file.
func parseFlags(args []string, stdout io.Writer) (*prestart.Plan, bool, error) {
	p := &prestart.Plan{}
	var version bool
	fs := flagSet(p, &version)
	if err := cli.Parse(fs, args, usage, stdout); err != nil {
		return nil, false, err
	}
	p.Command = fs.Args()
	if version {
		return p, true, nil
	}
	return p, false, p.Complete()
}

// flagSet registers every flag onto p; the usage text documents each.
func flagSet(p *prestart.Plan, version *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("prestart", flag.ContinueOnError)
	p.Vault.Register(fs, true)
	c := &p.Credentials
	fs.StringVar(&c.RoleIDFile, "role-id-file", "", "")
	fs.StringVar(&c.SecretIDFile, "secret-id-file", "", "")
	fs.BoolVar(&c.KeepSecretIDFile, "keep-secret-id-file", false, "")
	fs.StringVar(&c.Role, "role", "", "")
	fs.StringVar(&c.Mount, "mount", approle.DefaultMount, "")
	// Both flags feed one list, in command-line order: with -override the
	// later source wins, so the order is the user's.
	fs.Func("secret", "", appendParsed(&p.Requests, source.ParseSecret))
	fs.Func("secrets", "", appendParsed(&p.Requests, source.ParseSecrets))
	fs.Func("cert", "", appendParsed(&p.Certs, pkicert.Parse))
	fs.StringVar(&p.SpecFile, "spec", "", "")
	fs.BoolVar(&p.Override, "override", false, "")
	fs.DurationVar(&p.Timeout, "timeout", 60*time.Second, "")
	fs.StringVar(&p.EnvFile, "env-file", "", "")
	fs.StringVar(&p.FromEnvFile, "from-env-file", "", "")
	fs.StringVar(&p.Print, "print", "", "")
	fs.StringVar(&p.TokenSink, "token-sink", "", "")
	fs.BoolVar(&p.PassToken, "pass-token", false, "")
	fs.BoolVar(&p.Pristine, "pristine", false, "")
	fs.Var((*cli.Multi)(&p.KeepEnv), "keep-env", "")
	fs.Var((*cli.Multi)(&p.AllowNames), "allow-name", "")
	fs.BoolVar(&p.DryRun, "dry-run", false, "")
	sv := &p.Supervise
	fs.BoolVar(&sv.Enabled, "supervise", false, "")
	fs.DurationVar(&sv.Poll, "poll", 5*time.Minute, "")
	fs.StringVar(&sv.OnChange, "on-change", "restart", "")
	fs.DurationVar(&sv.Grace, "grace", 10*time.Second, "")
	fs.StringVar(&sv.StopSignal, "stop-signal", "SIGTERM", "")
	fs.BoolVar(&sv.NoRevoke, "no-revoke", false, "")
	fs.StringVar(&sv.MetricsAddr, "metrics-addr", "", "")
	fs.StringVar(&sv.OnLoginRefused, "on-login-refused", "keep", "")
	fs.StringVar(&p.AuditFile, "audit", "", "")
	p.AuditTags = map[string]string{}
	fs.Func("audit-tag", "", func(v string) error { return audit.AddTag(p.AuditTags, v) })
	fs.StringVar(&p.LogLevel, "log-level", "warn", "")
	fs.BoolVar(version, "version", false, "")
	return fs
}

// appendParsed returns a flag function that parses each value onto list.
func appendParsed[T any](list *[]T, parse func(string) (T, error)) func(string) error {
	return func(v string) error {
		x, err := parse(v)
		if err != nil {
			return err
		}
		*list = append(*list, x)
		return nil
	}
}

func versionString() string { return "prestart " + cli.Version() }
