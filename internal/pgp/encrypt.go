package pgp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// encryptConfig mirrors what Vault produces (it passes a nil config): an
// unsigned, uncompressed SEIPD v1 message, which every gpg since 1.4 reads.
// AES-256 is preferred when the key lists it; go-crypto falls back to the
// key's preferences otherwise. AEAD stays off because gpg 2.2 cannot read
// RFC 9580 SEIPD v2.
var encryptConfig = &packet.Config{
	DefaultCipher:          packet.CipherAES256,
	DefaultCompressionAlgo: packet.CompressionNone,
}

// Encrypt writes plaintext to w as a binary, unsigned OpenPGP message for
// the key to, the same shape of message Vault writes for each unseal key.
func Encrypt(w io.Writer, plaintext []byte, to *Key) error {
	if to == nil || to.entity == nil {
		return errors.New("encrypt: no recipient key")
	}
	pw, err := openpgp.Encrypt(w, []*openpgp.Entity{to.entity}, nil, nil, encryptConfig)
	if err != nil {
		return fmt.Errorf("encrypt to %s: %w", to.Fingerprint(), err)
	}
	if _, err := pw.Write(plaintext); err != nil {
		return fmt.Errorf("encrypt to %s: %w", to.Fingerprint(), err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("encrypt to %s: %w", to.Fingerprint(), err)
	}
	return nil
}

// EncryptBase64 returns the base64 of Encrypt's output, the form of Vault's
// keys_base64 and encoded root tokens: `base64 -d | gpg -dq` reverses it.
func EncryptBase64(plaintext []byte, to *Key) (string, error) {
	var buf bytes.Buffer
	if err := Encrypt(&buf, plaintext, to); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
