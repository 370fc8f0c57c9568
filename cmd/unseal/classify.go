package main

import (
	"errors"
	"fmt"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/pgp"
	"github.com/keyturn/keyturn/internal/unseal"
	"github.com/keyturn/keyturn/internal/vaulterr"
)

// turnFailure counts the nodes that could not take a share, by outcome.
type turnFailure struct {
	total, rejected, unreachable, notJoined, failed int
}

func (f *turnFailure) Error() string {
	bad := f.rejected + f.unreachable + f.notJoined + f.failed
	return fmt.Sprintf("%d of %d nodes could not take the share", bad, f.total)
}

// statusFailure: status found nodes down or sealed.
type statusFailure struct{ total, down, sealed int }

func (f *statusFailure) Error() string {
	return fmt.Sprintf("%d of %d nodes unreachable, %d sealed", f.down, f.total, f.sealed)
}

// passphraseError: no passphrase could be had, because there is no
// terminal to ask on or the answer was empty.
type passphraseError struct{ noTerminal bool }

func (e *passphraseError) Error() string { return pgp.ErrPassphraseRequired.Error() }
func (e *passphraseError) Unwrap() error { return pgp.ErrPassphraseRequired }

// classify gives every error its exit code and hints; it is the one place
// where unseal decides them.
func classify(err error) error {
	var (
		ce *cli.Error
		tf *turnFailure
		sf *statusFailure
		pe *passphraseError
	)
	switch {
	case err == nil || errors.As(err, &ce):
		return err
	case errors.As(err, &tf) && tf.rejected > 0:
		return cli.Fail(cli.ExitDenied, err, tf.hints()...)
	case errors.As(err, &tf) && tf.unreachable+tf.notJoined > 0:
		return cli.Fail(cli.ExitUnavailable, err, tf.hints()...)
	case errors.As(err, &tf):
		return cli.Fail(cli.ExitFailed, err, tf.hints()...)
	case errors.As(err, &sf):
		return cli.Fail(cli.ExitUnavailable, err)
	case errors.As(err, &pe):
		if pe.noTerminal {
			return cli.Fail(cli.ExitDenied, err, "no terminal to ask on: give -passphrase-file FILE")
		}
		return cli.Fail(cli.ExitDenied, err)
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
	case vaulterr.Certificate(err):
		return cli.Fail(cli.ExitUnavailable, err, "set -ca-cert or VAULT_CACERT to the CA that signed Vault's certificate")
	case unseal.IsUnavailable(err):
		return cli.Fail(cli.ExitUnavailable, err, "check the address and that the node is running and unsealed")
	}
	return err
}

// hints explain each kind of node that could not take the share. In
// classify, a rejected share (exit 3) outranks unavailable nodes (exit 4),
// which outrank other failures (exit 1).
func (f *turnFailure) hints() []string {
	var hints []string
	if f.rejected > 0 {
		hints = append(hints, "a node rejected the share: it is not a share of this Vault's current keys (another cluster, or replaced by a rekey), or it completed a wrong combination")
	}
	if f.unreachable > 0 {
		hints = append(hints, "unreachable nodes: check the address, -ca-cert, and that Vault runs there")
	}
	if f.notJoined > 0 {
		hints = append(hints, "nodes that had not joined: raft followers join once a leader is unsealed; run key again then, or with a longer -wait while the other key holders run theirs")
	}
	return hints
}
