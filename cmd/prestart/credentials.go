package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/secfile"
	"github.com/keyturn/keyturn/internal/vaultconn"
)

// maxCredentialFile bounds what is read from a credential file: a wrapping
// token or secret ID is far smaller, so anything bigger is the wrong file.
const maxCredentialFile = 4096

// session is a logged-in Vault client.
type session struct {
	client *api.Client
	auth   *api.Secret // nil when the token came from VAULT_TOKEN
	// ownToken is true when prestart logged in itself, so the token is
	// its own to revoke.
	ownToken bool
	// login can log in again (it keeps the unwrapped secret ID).
	login *approle.Auth
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// oneTimeCredential finds the wrapped or bare secret ID: -secret-id-file,
// then VAULT_WRAPPED_SECRET_ID, then VAULT_SECRET_ID.
func oneTimeCredential(o *options) (approle.Credential, error) {
	if o.secretIDFile != "" {
		var b []byte
		var err error
		if o.keepSecretID {
			b, err = readBounded(o.secretIDFile)
		} else {
			b, err = secfile.ReadAndRemove(o.secretIDFile, maxCredentialFile)
		}
		if err != nil {
			return approle.Credential{}, cli.Fail(cli.ExitFailed, err)
		}
		return parseCredential(string(b))
	}
	if v := os.Getenv("VAULT_WRAPPED_SECRET_ID"); v != "" {
		return approle.Credential{WrappingToken: strings.TrimSpace(v)}, nil
	}
	if v := os.Getenv("VAULT_SECRET_ID"); v != "" {
		return approle.Credential{SecretID: strings.TrimSpace(v)}, nil
	}
	return approle.Credential{}, nil
}

// parseCredential reads a credential file: the VAULT_WRAPPED_SECRET_ID=
// or VAULT_SECRET_ID= line `issuer mint -format env` writes, or a bare
// value, which is a secret ID when it is a UUID and a wrapping token
// otherwise.
func parseCredential(s string) (approle.Credential, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\n\r") {
		return approle.Credential{}, cli.Fail(cli.ExitFailed, errors.New("secret ID file holds more than one line"))
	}
	if v, ok := strings.CutPrefix(s, "VAULT_WRAPPED_SECRET_ID="); ok {
		return approle.Credential{WrappingToken: v}, nil
	}
	if v, ok := strings.CutPrefix(s, "VAULT_SECRET_ID="); ok {
		return approle.Credential{SecretID: v}, nil
	}
	if s == "" {
		return approle.Credential{}, cli.Fail(cli.ExitFailed, errors.New("secret ID file is empty"))
	}
	if uuidRE.MatchString(s) {
		return approle.Credential{SecretID: s}, nil
	}
	return approle.Credential{WrappingToken: s}, nil
}

func readBounded(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read credential file: %w", err)
	}
	if fi.Size() > maxCredentialFile {
		return nil, fmt.Errorf("credential file %s is larger than %d bytes", path, maxCredentialFile)
	}
	return os.ReadFile(path)
}

func roleID(o *options) (string, error) {
	if o.roleIDFile != "" {
		b, err := readBounded(o.roleIDFile)
		if err != nil {
			return "", cli.Fail(cli.ExitFailed, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return strings.TrimSpace(os.Getenv("VAULT_ROLE_ID")), nil
}

func retryPolicy(o *options, log hclog.Logger) retry.Policy {
	return retry.Policy{
		Timeout:   o.timeout,
		Initial:   200 * time.Millisecond,
		Max:       5 * time.Second,
		Retryable: func(err error) bool { return errors.Is(err, approle.ErrUnavailable) },
		OnRetry: func(n int, err error, wait time.Duration) {
			log.Warn("backend unavailable, retrying", "attempt", n, "wait", wait.Round(time.Millisecond), "error", err)
		},
	}
}

// login returns a client holding a token: from an AppRole login when a
// role ID is given, otherwise from VAULT_TOKEN or -token-file.
func login(ctx context.Context, o *options, log hclog.Logger, ui *cli.UI) (*session, error) {
	rid, err := roleID(o)
	if err != nil {
		return nil, err
	}
	cred, err := oneTimeCredential(o)
	if err != nil {
		return nil, err
	}
	opts := []vaultconn.Option{vaultconn.WithLogger(log), vaultconn.WithMaxRetries(0)}
	if rid != "" {
		opts = append(opts, vaultconn.WithoutToken())
	}
	c, insecure, err := o.vault.Client(opts...)
	if err != nil {
		return nil, cli.Fail(cli.ExitUsage, err)
	}
	if insecure {
		ui.Warnf("TLS verification of Vault's certificate is off (-tls-skip-verify or VAULT_SKIP_VERIFY)")
	}
	hasCred := cred.SecretID != "" || cred.WrappingToken != ""
	switch {
	case rid == "" && hasCred:
		return nil, cli.Fail(cli.ExitUsage, errors.New("a secret ID needs a role ID"), "set VAULT_ROLE_ID or -role-id-file")
	case rid == "" && c.Token() == "":
		return nil, cli.Fail(cli.ExitUsage, errors.New("no credentials"),
			"set VAULT_ROLE_ID and VAULT_WRAPPED_SECRET_ID (from 'issuer mint'), or VAULT_TOKEN")
	case rid == "":
		log.Debug("using the token from the environment; no login")
		return &session{client: c}, nil
	case !hasCred:
		return nil, cli.Fail(cli.ExitUsage, errors.New("a role ID but no secret ID"),
			"set VAULT_WRAPPED_SECRET_ID (from 'issuer mint'), VAULT_SECRET_ID or -secret-id-file")
	}
	var aopts []approle.LoginOption
	if o.role != "" {
		aopts = append(aopts, approle.WithRoleName(o.role))
	}
	auth, err := approle.NewAuth(o.mount, rid, cred, aopts...)
	if err != nil {
		return nil, cli.Fail(cli.ExitUsage, err)
	}
	var sec *api.Secret
	err = retry.Do(ctx, retryPolicy(o, log), func(ctx context.Context) error {
		var err error
		sec, err = auth.Login(ctx, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.SetToken(sec.Auth.ClientToken)
	log.Info("logged in", "mount", o.mount, "secret_id_accessor", auth.Accessor,
		"token_accessor", sec.Auth.Accessor, "ttl", time.Duration(sec.Auth.LeaseDuration)*time.Second, "renewable", sec.Auth.Renewable)
	return &session{client: c, auth: sec, ownToken: true, login: auth}, nil
}
