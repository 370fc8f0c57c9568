package unseal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/keyturn/keyturn/internal/pgp"
	"github.com/keyturn/keyturn/shamir"
)

// MaxSecret is the largest secret Split takes. Each share is encrypted as
// hex, as Vault does, and a share's plaintext must stay within what
// decryption accepts (pgp.MaxPlaintextSize).
const MaxSecret = pgp.MaxPlaintextSize/2 - shamir.ShareOverhead

// Split divides secret into one share per recipient, any threshold of which
// recover it, and encrypts each share to its recipient exactly as Vault
// encrypts unseal key shares: the lowercase hex of the share in an unsigned
// OpenPGP message, given as base64. The results are the contents of the
// share files, in recipient order; Combine (and Vault's documented
// `base64 -d | gpg -dq`) reverses them.
func Split(secret []byte, threshold int, to []Recipient) ([]string, error) {
	switch {
	case len(secret) == 0:
		return nil, errors.New("the secret is empty")
	case len(secret) > MaxSecret:
		return nil, fmt.Errorf("the secret is larger than %d bytes", MaxSecret)
	case len(to) < 2:
		return nil, errors.New("need at least 2 -pgp-key files: one share each")
	case threshold < 2 || threshold > len(to):
		return nil, fmt.Errorf("-threshold must be between 2 and the number of keys (%d)", len(to))
	}
	shares, err := shamir.Split(secret, len(to), threshold)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range shares {
			pgp.ZeroBytes(s)
		}
	}()
	out := make([]string, len(to))
	text := make([]byte, hex.EncodedLen(len(shares[0])))
	defer pgp.ZeroBytes(text)
	for i, s := range shares {
		hex.Encode(text, s)
		var buf bytes.Buffer
		if err := pgp.Encrypt(&buf, text, to[i].Key); err != nil {
			return nil, err
		}
		out[i] = base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	return out, nil
}

// Combine decrypts share files (given as their binary OpenPGP messages; see
// ReadEncryptedFile) and recovers the secret. It takes the files Split
// writes and Vault's own unseal key shares alike: the plaintext of each is
// the share in hex, or in base64. The result must be wiped by the caller.
//
// Shamir shares carry no checksum: fewer shares than the threshold give a
// wrong secret rather than an error, which the caller cannot tell apart.
func Combine(ctx context.Context, d *Decrypter, msgs [][]byte, names []string) ([]byte, error) {
	if len(msgs) < 2 {
		return nil, errors.New("need at least 2 share files")
	}
	parts := make([][]byte, 0, len(msgs))
	defer func() {
		for _, p := range parts {
			pgp.ZeroBytes(p)
		}
	}()
	for i, m := range msgs {
		pt, err := d.Decrypt(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("decrypt %s: %w", names[i], err)
		}
		raw, err := decodeShareText(bytes.TrimSpace(pt))
		pgp.ZeroBytes(pt)
		if err != nil {
			return nil, fmt.Errorf("%s: the decrypted file is not a share (want hex or base64)", names[i])
		}
		parts = append(parts, raw)
	}
	secret, err := shamir.Combine(parts)
	if err != nil {
		return nil, fmt.Errorf("combine: %w", err)
	}
	return secret, nil
}
