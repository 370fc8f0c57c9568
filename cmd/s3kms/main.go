// Command s3kms is for operators of teams without Vault: it keeps an env
// file in S3 encrypted under AWS KMS (a keyturn envelope by default, or a
// plain object under SSE-KMS), changes one variable at a time with
// conditional writes, lists, compares and restores versions, re-encrypts
// under new keys, and writes one KMS blob per object, one object per secret.
// Containers read what it writes with prestart -secrets s3://...
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

	"github.com/keyturn/keyturn/envelope"
	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/source/s3src"
)

const usage = `Usage:
    s3kms push     s3://BUCKET/KEY -kms-key KEY [-in FILE] [-sse]
    s3kms pull     s3://BUCKET/KEY [-version ID] [-format env|dotenv|json|shell] [-o FILE] [-legacy]
    s3kms set      s3://BUCKET/KEY NAME         the value is read from stdin or a prompt
    s3kms unset    s3://BUCKET/KEY NAME
    s3kms versions s3://BUCKET/KEY [-format text|json]
    s3kms diff     s3://BUCKET/KEY [-from ID] [-to ID]
    s3kms rollback s3://BUCKET/KEY -to ID
    s3kms rotate   s3://BUCKET/KEY [-kms-key NEWKEY] [-kms-allow OLDKEY]
    s3kms put-blob s3://BUCKET/PREFIX/NAME -kms-key KEY [-unbound]   the value: stdin or a prompt
    s3kms migrate  s3://BUCKET/KEY -kms-key KEY [-kms-allow OLDKEY] [-dry-run]
    s3kms -version

push stores an env file (from -in FILE or stdin, never from a flag) as a
keyturn envelope: encrypted on this machine with AES-256-GCM under a fresh KMS
data key bound to s3://BUCKET/KEY. -sse stores it as a plain object under
SSE-KMS instead (S3 encrypts it; anyone allowed to GET it reads it). The file
may use NAME=value, export NAME=value, 'single' or "double" quotes and
comments; it is stored normalised as NAME='value' lines, which a shell can
source. Plaintext never touches the disk.

pull prints the env file (env: NAME='value', the default; dotenv; json;
shell: export lines for eval). -o FILE writes it with mode 0600, atomically,
only once it is complete. -legacy also reads a legacy S3 Encryption Client
v1 object (AES-CBC, not authenticated), with a warning.

set and unset change one variable: read, change, and write back with If-Match
on the ETag that was read, so that of two operators changing the object at
once one wins and the other gets a conflict (exit 1) and can run again; no
change is silently lost. set creates the object when it does not exist (under
-kms-key, or with -sse). The value is stdin up to one trailing newline, or,
when stdin is a terminal, typed at a prompt that does not echo it.

versions lists the object's versions, newest first. diff names the variables
added (+), removed (-) and changed (~) between two versions, never a value;
-to defaults to the current version, -from to the one before -to. rollback
authenticates version ID and makes it the current one again (a new version).
rotate re-encrypts under a new data key, and under -kms-key when given.

put-blob stores a value as a raw KMS ciphertext blob, as 'aws kms encrypt'
writes it: one KMS blob per object, one object per secret under
s3://BUCKET/SERVICE/, read by prestart -secrets 's3://BUCKET/SERVICE/?blobs&kms=KEY'.
It is made with the KMS encryption context
keyturn:object=s3://BUCKET/PREFIX/NAME so that it decrypts only as that object: a copy to another name is refused. -unbound leaves the
context out (any reader can decrypt it wherever it is copied).

migrate re-encrypts an object in any form keyturn reads (S3 Encryption Client
v1 or v2, SSE-KMS, a plain env file, an envelope) into a keyturn envelope under
-kms-key, in place, with a write conditional on the ETag it read; the old
object stays in the bucket's version history. -kms-allow names the key the
object is under now (default: -kms-key). -dry-run prints what it would do.

Options:
    -kms-key KEY       key ID, key ARN, alias/NAME or alias ARN to encrypt under
                       [KEYTURN_KMS_KEY]; {env} is replaced by -env, as in
                       alias/app-{env}
    -kms-allow KEY     a key the object may be encrypted under when it is read
                       (repeatable, {env} allowed); defaults to -kms-key. An
                       envelope under any other key is refused before KMS is
                       asked to decrypt anything
    -env NAME          fills {env} in -kms-key and -kms-allow
    -s3-path-style     path-style S3 URLs, for MinIO and other S3-compatible
                       stores [AWS_S3_USE_PATH_STYLE=true]
    -log-level LEVEL   trace, debug, info, warn, error or off (default warn)

AWS is configured as for the AWS CLI: AWS_PROFILE, the shared config and
credentials files, AWS_REGION, roles, and endpoint overrides (AWS_ENDPOINT_URL,
AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_KMS). Commands that write print the new
version ID on stdout, for prestart's ?version= pin; versions prints IDs that
paste into ?version= as they are ("+" included).

Examples:
    $ s3kms push s3://secrets/app/prod.env -kms-key 'alias/app-{env}' -env prod < prod.env
    $ echo "$NEW_PASSWORD" | s3kms set s3://secrets/app/prod.env DB_PASSWORD -kms-key alias/app-prod
    $ s3kms pull s3://secrets/app/prod.env -kms-key alias/app-prod -format shell
    $ s3kms diff s3://secrets/app/prod.env -kms-key alias/app-prod
    $ s3kms rotate s3://secrets/app/prod.env -kms-allow alias/app-old -kms-key alias/app-prod
    $ s3kms migrate s3://secrets/app/prod.env -kms-allow alias/legacy -kms-key alias/app-prod -dry-run
    $ prestart -secrets 's3://secrets/app/prod.env?kms=alias/app-prod' -- ./app

Exit status:
    0  success
    1  failed: missing object or version, corrupt object (does not parse,
       truncated), unsupported format (legacy S3 Encryption Client), or a
       conflict with a concurrent writer
    2  usage error
    3  refused: KMS key not in the allow-list, object tampered with or moved
       from another key, authentication failure, access denied
    4  S3 or KMS unreachable after the AWS SDK's retries
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// commands maps verbs to their implementations. mb (make a versioned
// bucket, for MinIO and demos) is kept out of the usage text on purpose:
// buckets are usually made by whoever owns the account.
var commands = map[string]func(ctx context.Context, c *command, args []string) error{
	"push":     cmdPush,
	"pull":     cmdPull,
	"set":      cmdSet,
	"unset":    cmdUnset,
	"versions": cmdVersions,
	"diff":     cmdDiff,
	"rollback": cmdRollback,
	"rotate":   cmdRotate,
	"put-blob": cmdPutBlob,
	"migrate":  cmdMigrate,
	"mb":       cmdMakeBucket,
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ui := &cli.UI{Name: "s3kms", Stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.ExitUsage
	}
	var err error
	switch verb := args[0]; verb {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return cli.ExitOK
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, version())
		return cli.ExitOK
	default:
		fn, ok := commands[verb]
		if !ok {
			err = cli.Fail(cli.ExitUsage, fmt.Errorf("unknown command %q", verb),
				"commands: push, pull, set, unset, versions, diff, rollback, rotate, put-blob, migrate; run s3kms -help")
			break
		}
		err = fn(ctx, newCommand(verb, stdin, stdout, stderr), args[1:])
	}
	if errors.Is(err, cli.ErrHelp) {
		return cli.ExitOK
	}
	return ui.Report(classify(err))
}

// classify gives s3src's kinds of failure their exit codes and hints.
func classify(err error) error {
	var ce *cli.Error
	if err == nil || errors.As(err, &ce) {
		return err
	}
	var hints []string
	if h := s3src.Hint(err); h != "" {
		hints = append(hints, h)
	}
	switch {
	case errors.Is(err, s3src.ErrRefused):
		return cli.Fail(cli.ExitDenied, err, hints...)
	case errors.Is(err, retry.ErrUnavailable):
		return cli.Fail(cli.ExitUnavailable, err, hints...)
	case errors.Is(err, envelope.ErrInvalidAllowList):
		return cli.Fail(cli.ExitUsage, err)
	}
	return cli.Fail(cli.ExitFailed, err, hints...)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return "s3kms " + bi.Main.Version
	}
	return "s3kms (devel)"
}
