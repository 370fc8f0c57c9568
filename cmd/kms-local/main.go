// Command kms-local runs keyturn's AWS KMS test server as a standalone
// process, so that `make demo` and anyone trying keyturn without an AWS
// account have a KMS to point the AWS SDK and CLI at. It is not a KMS: it
// keeps keys in memory (or in a local file) and verifies no signatures, so
// it belongs on loopback.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/keyturn/keyturn/internal/kmstest"
)

const usage = `Usage: kms-local [-addr HOST:PORT] [-key alias/NAME]... [-keys-file FILE]

Serve the AWS KMS JSON API (Encrypt, Decrypt, GenerateDataKey, DescribeKey,
ListAliases, CreateKey, CreateAlias, UpdateAlias) for local use. Keys are
symmetric AES-256-GCM keys. Without -keys-file they are random and live only
as long as the process, so blobs from one run cannot be decrypted by the next.
Requests must be SigV4-signed (any credentials); the signature is not checked,
the access key ID is used as the caller's identity.

Options:
  -addr HOST:PORT     listen address (default 127.0.0.1:4599; port 0 picks one)
  -key alias/NAME     create a random key with this alias, unless the keys
                      file already has the alias (repeatable)
  -keys-file FILE     load keys from FILE, which must be mode 0600 (below)
  -region REGION      region in ARNs; requests signed for another region are
                      refused (default us-east-1)
  -account ID         12-digit account ID in ARNs (default 111122223333)
  -log-level LEVEL    trace, debug, info, warn or error (default info);
                      requests are logged at info

On startup the endpoint and one line per key are printed on stdout:

  endpoint http://127.0.0.1:4599
  key arn:aws:kms:us-east-1:111122223333:key/9a1f...  alias/app-dev

Requests are logged on stderr (operation, caller, key, outcome; never
plaintexts or keys). The server runs until SIGINT or SIGTERM.

Keys file (JSON; "material" is the base64 of 32 random bytes, e.g. from
head -c 32 /dev/urandom | base64; keep the file 0600):

  {"keys": [{
      "id": "0b6f1d64-7d1c-4f6e-9d2c-3f1b8e0a5c21",
      "material": "q83vEjRWeJq8...base64...=",
      "aliases": ["alias/app-dev"],
      "description": "demo key",
      "allow": {"AKIDOPS": ["*"], "AKIDAPP": ["Decrypt"]}
  }]}

"allow" maps access key IDs to the operations they may call on the key
(Encrypt, Decrypt, GenerateDataKey, DescribeKey, CreateAlias, UpdateAlias,
or "*"); without it every caller may do everything.

Example:

  kms-local -addr 127.0.0.1:4599 -key alias/app-dev &
  export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:4599 AWS_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=AKIDLOCAL AWS_SECRET_ACCESS_KEY=unused
  aws kms encrypt --key-id alias/app-dev --plaintext fileb://secret.txt

Exit status: 0 after a signal, 1 if the server fails, 2 for usage errors.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type aliasFlags []string

func (a *aliasFlags) String() string { return strings.Join(*a, ",") }
func (a *aliasFlags) Set(s string) error {
	*a = append(*a, s)
	return nil
}

type options struct {
	addr, keysFile, region, account string
	aliases                         aliasFlags
	level                           hclog.Level
}

// run is the whole program. It reads nothing from stdin; the parameter
// keeps the signature shared by keyturn's commands.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return serve(ctx, args, stdout, stderr, nil)
}

// serve is run with a channel that, when not nil, receives the listening
// address once the server accepts connections (for tests).
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- string) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "kms-local: error: %v\n", err)
		fmt.Fprintln(stderr, "kms-local: hint: run kms-local -h for usage")
		return 2
	}
	if err := listenAndServe(ctx, opts, stdout, stderr, ready); err != nil {
		fmt.Fprintf(stderr, "kms-local: error: %v\n", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("kms-local", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in the house style below
	fs.StringVar(&o.addr, "addr", "127.0.0.1:4599", "")
	fs.Var(&o.aliases, "key", "")
	fs.StringVar(&o.keysFile, "keys-file", "", "")
	fs.StringVar(&o.region, "region", "us-east-1", "")
	fs.StringVar(&o.account, "account", "111122223333", "")
	logLevel := fs.String("log-level", "info", "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.level = hclog.LevelFromString(*logLevel)
	if o.level == hclog.NoLevel {
		return nil, fmt.Errorf("-log-level %q: want trace, debug, info, warn or error", *logLevel)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return nil, fmt.Errorf("-addr: %w", err)
	}
	if len(o.account) != 12 || strings.Trim(o.account, "0123456789") != "" {
		return nil, fmt.Errorf("-account: want 12 digits, got %q", o.account)
	}
	for _, a := range o.aliases {
		if !strings.HasPrefix(a, "alias/") || len(a) == len("alias/") {
			return nil, fmt.Errorf("-key %q: want alias/NAME", a)
		}
	}
	if o.region == "" {
		return nil, errors.New("-region must not be empty")
	}
	return o, nil
}

func listenAndServe(ctx context.Context, o *options, stdout, stderr io.Writer, ready chan<- string) error {
	logger := hclog.New(&hclog.LoggerOptions{Name: "kms-local", Level: o.level, Output: stderr})
	h := kmstest.NewHandler(kmstest.WithRegion(o.region), kmstest.WithAccount(o.account),
		kmstest.WithLogf(func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...)) }))
	if o.keysFile != "" {
		specs, err := loadKeysFile(o.keysFile)
		if err != nil {
			return err
		}
		for _, s := range specs {
			if _, err := h.CreateKey(s); err != nil {
				return fmt.Errorf("%s: %w", o.keysFile, err)
			}
		}
	}
	for _, a := range o.aliases {
		if _, err := h.Key(a); err == nil {
			continue // the keys file already has it
		}
		if _, err := h.CreateKey(kmstest.KeySpec{Aliases: []string{a}, Description: "kms-local " + a}); err != nil {
			return fmt.Errorf("-key %s: %w", a, err)
		}
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	if host, _, _ := net.SplitHostPort(o.addr); !isLoopback(host) {
		logger.Warn("listening on a non-loopback address; anyone who can reach it can decrypt", "addr", ln.Addr().String())
	}
	endpoint := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "endpoint %s\n", endpoint)
	for _, k := range h.Keys() {
		fmt.Fprintf(stdout, "key %s  %s\n", k.ARN, strings.Join(k.Aliases, " "))
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// keysFile is the documented JSON layout of -keys-file.
type keysFile struct {
	Keys []struct {
		ID          string              `json:"id"`
		Material    []byte              `json:"material"`
		Aliases     []string            `json:"aliases"`
		Description string              `json:"description"`
		Allow       map[string][]string `json:"allow"`
	} `json:"keys"`
}

func loadKeysFile(path string) ([]kmstest.KeySpec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o lets others read the key material; chmod 600 it", path, fi.Mode().Perm())
	}
	dec := json.NewDecoder(io.LimitReader(f, 1<<20))
	dec.DisallowUnknownFields()
	var kf keysFile
	if err := dec.Decode(&kf); err != nil {
		// The JSON error names a position, never the file's content.
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	specs := make([]kmstest.KeySpec, 0, len(kf.Keys))
	for i, k := range kf.Keys {
		if k.ID == "" || len(k.Material) != 32 {
			return nil, fmt.Errorf("%s: key %d: \"id\" and a 32-byte base64 \"material\" are required", path, i+1)
		}
		specs = append(specs, kmstest.KeySpec{ID: k.ID, Material: k.Material, Aliases: k.Aliases, Description: k.Description, Allow: k.Allow})
	}
	return specs, nil
}
