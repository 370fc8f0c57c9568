package unseal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/keyturn/keyturn/internal/pgp"
)

// Vault's sys/unseal accepts a key that decodes (hex first, then base64) to
// 16..33 bytes: an AES key of 16 to 32 bytes, plus the x coordinate byte of
// a Shamir share.
const (
	minVaultKey = 16
	maxVaultKey = 33
)

// ErrNotShare means a decrypted file did not hold a share. The message never
// says what it held instead.
var ErrNotShare = errors.New("the decrypted file does not hold an unseal key share (want hex or base64 of 16 to 33 bytes)")

// Share is one decrypted unseal key share in the text form Vault encrypted
// it in (lowercase hex) or base64, exactly what sys/unseal and
// sys/rekey/update take. It exists in memory only: call Wipe when done.
type Share struct {
	buf  []byte // the whole decrypted plaintext, wiped by Wipe
	text []byte // buf without surrounding white space
}

// NewShare takes ownership of a decrypted plaintext and checks that it is a
// key Vault would accept. On error the plaintext has been wiped.
func NewShare(plaintext []byte) (*Share, error) {
	s := &Share{buf: plaintext, text: bytes.TrimSpace(plaintext)}
	raw, err := decodeShareText(s.text)
	if err != nil {
		s.Wipe()
		return nil, err
	}
	n := len(raw)
	pgp.ZeroBytes(raw)
	if n < minVaultKey || n > maxVaultKey {
		s.Wipe()
		return nil, ErrNotShare
	}
	return s, nil
}

// Wipe overwrites the share's memory. The Share must not be used afterwards.
func (s *Share) Wipe() {
	if s == nil {
		return
	}
	pgp.ZeroBytes(s.buf)
	s.buf, s.text = nil, nil
}

// jsonBody returns {"key":"<share>"[,"nonce":"<nonce>"]} in a fresh slice
// for the caller to wipe. The share text is hex or base64, so it needs no
// JSON escaping; the nonce is checked to be a plain UUID-like string.
func (s *Share) jsonBody(nonce string) ([]byte, error) {
	for _, r := range nonce {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return nil, fmt.Errorf("nonce %q has unexpected characters", nonce)
		}
	}
	body := make([]byte, 0, len(s.text)+len(nonce)+24)
	body = append(body, `{"key":"`...)
	body = append(body, s.text...)
	body = append(body, '"')
	if nonce != "" {
		body = append(body, `,"nonce":"`...)
		body = append(body, nonce...)
		body = append(body, '"')
	}
	return append(body, '}'), nil
}

// decodeShareText decodes a share written as hex (what Vault encrypts) or
// base64 (what Vault prints as "Unseal Key N"). The result must be wiped.
func decodeShareText(text []byte) ([]byte, error) {
	if len(text) == 0 {
		return nil, ErrNotShare
	}
	if len(text)%2 == 0 && isHex(text) {
		raw := make([]byte, len(text)/2)
		if _, err := hex.Decode(raw, text); err != nil {
			pgp.ZeroBytes(raw)
			return nil, ErrNotShare
		}
		return raw, nil
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(raw, text)
	if err != nil {
		pgp.ZeroBytes(raw)
		return nil, ErrNotShare
	}
	return raw[:n], nil
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
