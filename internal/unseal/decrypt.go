package unseal

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyturn/keyturn/internal/pgp"
)

// MaxEncryptedFile bounds a share or root token file. Vault's are under
// 2 KiB; a share of the largest secret split accepts is under 100 KiB.
const MaxEncryptedFile = 2 * pgp.MaxMessageSize

// ErrNotShareFile means a file is not an encrypted message at all.
var ErrNotShareFile = errors.New("not an encrypted share file")

// Decrypter decrypts share files, through the operator's gpg by default or
// in process with private key files. The passphrase, when one is needed,
// never passes through argv or the environment.
type Decrypter struct {
	// GPG configures the gpg run when PrivateKeys is empty. Its Passphrase,
	// if set, is fed to gpg over a pipe (loopback pinentry); otherwise gpg
	// asks through the agent as `gpg -d` would.
	GPG pgp.GPGOptions

	// PrivateKeys, if set, are the contents of private key files; a file is
	// decrypted with the first key it is encrypted to.
	PrivateKeys [][]byte

	// Passphrase unlocks protected private keys. If it is nil when a key
	// needs one, Prompt is asked once and its answer kept until Close.
	Passphrase []byte
	Prompt     func() ([]byte, error)
}

// ReadEncryptedFile reads a file written by init, rekey or split (or any
// binary, armored, hex or base64 OpenPGP message) and returns the binary
// message.
func ReadEncryptedFile(path string) ([]byte, error) {
	data, err := readLimited(path, MaxEncryptedFile)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	msg, err := pgp.DecodeMessage(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w: %w", path, ErrNotShareFile, err)
	}
	return msg, nil
}

// Decrypt returns the plaintext of a binary OpenPGP message; wipe it with
// pgp.ZeroBytes when done.
func (d *Decrypter) Decrypt(ctx context.Context, msg []byte) ([]byte, error) {
	if len(d.PrivateKeys) == 0 {
		return pgp.DecryptWithGPG(ctx, msg, d.GPG)
	}
	var lastErr error
	for _, key := range d.PrivateKeys {
		pt, err := pgp.DecryptWithKey(msg, key, d.Passphrase)
		if errors.Is(err, pgp.ErrPassphraseRequired) && d.Passphrase == nil && d.Prompt != nil {
			pass, perr := d.Prompt()
			if perr != nil {
				return nil, perr
			}
			d.Passphrase = pass
			pt, err = pgp.DecryptWithKey(msg, key, d.Passphrase)
		}
		if errors.Is(err, pgp.ErrNotForKey) {
			lastErr = err
			continue
		}
		return pt, err
	}
	return nil, lastErr
}

// DecryptShare reads, decrypts and checks one share file.
func (d *Decrypter) DecryptShare(ctx context.Context, path string) (*Share, error) {
	msg, err := ReadEncryptedFile(path)
	if err != nil {
		return nil, err
	}
	pt, err := d.Decrypt(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", path, err)
	}
	s, err := NewShare(pt)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", path, err)
	}
	return s, nil
}

// Close wipes the passphrase.
func (d *Decrypter) Close() {
	pgp.ZeroBytes(d.Passphrase)
	pgp.ZeroBytes(d.GPG.Passphrase)
}
