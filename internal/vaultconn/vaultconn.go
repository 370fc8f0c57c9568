// Package vaultconn builds a Vault API client exactly as the Vault CLI does:
// api.DefaultConfig and the VAULT_* environment, overridden by the same flag
// names (-address, -ca-cert, -namespace, ...). A flag beats the environment,
// which beats the default.
//
// The token comes from VAULT_TOKEN or -token-file, never from a flag value:
// argv is readable by every user of the machine through /proc.
package vaultconn

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
)

// Flags are the Vault connection flags every keyturn binary accepts.
type Flags struct {
	Address       string
	CACert        string
	CAPath        string
	ClientCert    string
	ClientKey     string
	TLSServerName string
	Namespace     string
	TokenFile     string
	skipVerify    optBool
	withToken     bool
}

// optBool remembers whether the flag was given, so that an unset
// -tls-skip-verify leaves VAULT_SKIP_VERIFY in charge.
type optBool struct{ set, v bool }

func (b *optBool) String() string   { return strconv.FormatBool(b.v) }
func (b *optBool) IsBoolFlag() bool { return true }
func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.set, b.v = true, v
	return nil
}

// Register adds the flags to fs. withToken adds -token-file.
func (f *Flags) Register(fs *flag.FlagSet, withToken bool) {
	fs.StringVar(&f.Address, "address", "", "")
	fs.StringVar(&f.CACert, "ca-cert", "", "")
	fs.StringVar(&f.CAPath, "ca-path", "", "")
	fs.StringVar(&f.ClientCert, "client-cert", "", "")
	fs.StringVar(&f.ClientKey, "client-key", "", "")
	fs.StringVar(&f.TLSServerName, "tls-server-name", "", "")
	fs.StringVar(&f.Namespace, "namespace", "", "")
	fs.StringVar(&f.Namespace, "ns", "", "")
	fs.Var(&f.skipVerify, "tls-skip-verify", "")
	if withToken {
		f.withToken = true
		fs.StringVar(&f.TokenFile, "token-file", "", "")
	}
}

// FlagsUsage is the usage text block for the flags Register adds.
const FlagsUsage = `Vault connection (as the Vault CLI; a flag beats the environment):
    -address URL          Vault address                    [VAULT_ADDR]
    -ca-cert FILE         CA certificate to verify Vault   [VAULT_CACERT]
    -ca-path DIR          directory of CA certificates     [VAULT_CAPATH]
    -client-cert FILE     client certificate               [VAULT_CLIENT_CERT]
    -client-key FILE      client key                       [VAULT_CLIENT_KEY]
    -tls-server-name NAME SNI name                         [VAULT_TLS_SERVER_NAME]
    -tls-skip-verify      do not verify Vault's certificate (unsafe) [VAULT_SKIP_VERIFY]
    -namespace NS         Vault Enterprise namespace       [VAULT_NAMESPACE]
`

// TokenUsage documents -token-file.
const TokenUsage = `    -token-file FILE      read the Vault token from FILE   [VAULT_TOKEN]
`

// Option configures Client.
type Option func(*options)

type options struct {
	logger     hclog.Logger
	maxRetries *int
	noToken    bool
	timeout    time.Duration
	concurrent int
}

// WithConcurrency says the caller makes up to n requests at once. The
// client then keeps n idle connections instead of the pooled transport's
// GOMAXPROCS+1: over HTTP/1.1 (a plain-HTTP Vault; over TLS Vault speaks
// HTTP/2 and one connection carries every request) a connection returned
// to a full idle pool is closed, and the next request dials a new one.
func WithConcurrency(n int) Option { return func(o *options) { o.concurrent = n } }

// WithDefaultTimeout bounds every request by d unless VAULT_CLIENT_TIMEOUT
// says otherwise (Vault's own default is 60s).
func WithDefaultTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithLogger routes the HTTP client's request log to l. Vault's client logs
// methods and URLs only; tokens travel in headers and are not logged.
func WithLogger(l hclog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMaxRetries sets the HTTP client's own retries (default 2, as the CLI).
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries = &n } }

// WithoutToken drops any VAULT_TOKEN, for clients that log in themselves.
func WithoutToken() Option { return func(o *options) { o.noToken = true } }

// Client returns a client configured from the environment and the flags.
// The second result is true when TLS verification was turned off, so the
// caller can warn about it.
func (f *Flags) Client(opts ...Option) (*api.Client, bool, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, false, fmt.Errorf("vault configuration from the environment: %w", cfg.Error)
	}
	if f.Address != "" {
		cfg.Address = f.Address
	}
	tls := &api.TLSConfig{
		CACert:        firstNonEmpty(f.CACert, os.Getenv(api.EnvVaultCACert)),
		CAPath:        firstNonEmpty(f.CAPath, os.Getenv(api.EnvVaultCAPath)),
		ClientCert:    firstNonEmpty(f.ClientCert, os.Getenv(api.EnvVaultClientCert)),
		ClientKey:     firstNonEmpty(f.ClientKey, os.Getenv(api.EnvVaultClientKey)),
		TLSServerName: firstNonEmpty(f.TLSServerName, os.Getenv(api.EnvVaultTLSServerName)),
	}
	if f.skipVerify.set {
		tls.Insecure = f.skipVerify.v
	} else if v := os.Getenv(api.EnvVaultSkipVerify); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, false, fmt.Errorf("%s=%q is not a boolean", api.EnvVaultSkipVerify, v)
		}
		tls.Insecure = b
	}
	if err := cfg.ConfigureTLS(tls); err != nil {
		return nil, false, fmt.Errorf("vault TLS configuration: %w", err)
	}
	// ConfigureTLS only ever turns verification off; DefaultConfig has
	// already applied VAULT_SKIP_VERIFY, so -tls-skip-verify=false must
	// turn it back on here.
	if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		tr.TLSClientConfig.InsecureSkipVerify = tls.Insecure
	} else if !ok {
		return nil, false, fmt.Errorf("vault TLS configuration: unexpected HTTP transport %T", cfg.HttpClient.Transport)
	}
	if tr := cfg.HttpClient.Transport.(*http.Transport); o.concurrent > tr.MaxIdleConnsPerHost {
		tr.MaxIdleConnsPerHost = o.concurrent
	}
	if o.logger != nil {
		cfg.Logger = o.logger.Named("http")
	}
	if o.maxRetries != nil {
		cfg.MaxRetries = *o.maxRetries
	}
	if o.timeout > 0 && os.Getenv(api.EnvVaultClientTimeout) == "" {
		cfg.Timeout = o.timeout
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, false, fmt.Errorf("vault client: %w", err)
	}
	// The default looks up VAULT_WRAP_TTL for every request, which would
	// wrap reads the user never meant to wrap; keyturn wraps per request.
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	if f.Namespace != "" {
		c.SetNamespace(f.Namespace)
	}
	switch {
	case o.noToken:
		c.ClearToken()
	case f.TokenFile != "":
		tok, err := ReadTokenFile(f.TokenFile)
		if err != nil {
			return nil, false, err
		}
		c.SetToken(tok)
	}
	return c, tls.Insecure, nil
}

// ReadTokenFile reads a token from a file: at most 4 KiB, surrounding
// white space removed, an empty file refused.
func ReadTokenFile(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, 4097))
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if len(b) > 4096 {
		return "", fmt.Errorf("token file %s: larger than 4 KiB", path)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
