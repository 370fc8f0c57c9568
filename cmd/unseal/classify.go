package main

import (
	"errors"
	"strings"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/pgp"
	"github.com/keyturn/keyturn/internal/unseal"
)

// classify gives errors from the packages their exit codes and hints.
func classify(err error) error {
	var ce *cli.Error
	if err == nil || errors.As(err, &ce) {
		return err
	}
	switch {
	case errors.Is(err, pgp.ErrGPGNotFound):
		return cli.Fail(cli.ExitFailed, err, "install gnupg, or decrypt in process with -private-key FILE")
	case errors.Is(err, pgp.ErrBadPassphrase), errors.Is(err, pgp.ErrCanceled),
		errors.Is(err, pgp.ErrPassphraseRequired), errors.Is(err, pgp.ErrPinentry):
		return cli.Fail(cli.ExitDenied, err, "the private key could not be unlocked")
	case errors.Is(err, pgp.ErrNotForKey), errors.Is(err, pgp.ErrNoSecretKey):
		return cli.Fail(cli.ExitDenied, err, "this file is encrypted to another key: check that it is your file, and your key (GNUPGHOME, -private-key)")
	case errors.Is(err, pgp.ErrDecryptionFailed), errors.Is(err, pgp.ErrNotEncrypted),
		errors.Is(err, pgp.ErrNotMessage), errors.Is(err, unseal.ErrNotShare), errors.Is(err, unseal.ErrNotShareFile):
		return cli.Fail(cli.ExitDenied, err, "the file is damaged or not a share file")
	case errors.Is(err, unseal.ErrRejected):
		return cli.Fail(cli.ExitDenied, err, "the share does not belong to this Vault's current keys (another cluster, or replaced by a rekey)")
	case errors.Is(err, unseal.ErrAlreadyInitialized):
		return cli.Fail(cli.ExitFailed, err, "init is for a new Vault; to replace the shares of an initialised one use unseal rekey")
	case unseal.IsUnavailable(err):
		hints := []string{"check the address and that the node is running and unsealed"}
		if strings.Contains(err.Error(), "certificate") {
			hints = []string{"set -ca-cert or VAULT_CACERT to the CA that signed Vault's certificate"}
		}
		return cli.Fail(cli.ExitUnavailable, err, hints...)
	}
	return err
}
