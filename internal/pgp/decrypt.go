package pgp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

const (
	// MaxPlaintextSize bounds what a decryption returns. Vault's encrypted
	// shares hold 66 hex characters and root tokens under 100; anything near
	// this size is not a share, and the bound stops a small compressed
	// message from inflating without limit.
	MaxPlaintextSize = 64 << 10

	// MaxMessageSize bounds the encrypted input. A share encrypted to a
	// 4096-bit RSA key is under 1 KiB.
	MaxMessageSize = 1 << 20
)

// Errors from decryption; test with errors.Is. They never carry plaintext.
var (
	ErrPlaintextTooLarge  = errors.New("decrypted data exceeds 64 KiB")
	ErrMessageTooLarge    = errors.New("message exceeds 1 MiB")
	ErrNotEncrypted       = errors.New("message is not encrypted to a public key")
	ErrNotForKey          = errors.New("message is not encrypted to this key")
	ErrPassphraseRequired = errors.New("private key is protected by a passphrase, and none was given")
	ErrBadPassphrase      = errors.New("wrong passphrase")
	ErrNotMessage         = errors.New("not an openpgp message")
	ErrDecryptionFailed   = errors.New("decryption failed")
)

// DecryptWithKey decrypts a binary OpenPGP message (see DecodeMessage for
// other encodings) with a private key file's content: armored
// (`gpg --export-secret-keys --armor`), binary, or base64 of binary. A
// protected key is unlocked with passphrase; only the subkey the message is
// encrypted to is unlocked. The plaintext is returned in memory only; wipe it
// with ZeroBytes when done.
func DecryptWithKey(ciphertext, privateKey, passphrase []byte) ([]byte, error) {
	entities, err := readPrivateKeys(privateKey)
	if err != nil {
		return nil, fmt.Errorf("decrypt: read private key: %w", err)
	}
	plaintext, err := decryptWith(ciphertext, entities, passphrase)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return plaintext, nil
}

func readPrivateKeys(data []byte) (openpgp.EntityList, error) {
	bin, err := keyPackets(data, openpgp.PrivateKeyType)
	if err != nil {
		return nil, err
	}
	entities, err := readEntities(bin)
	if err != nil {
		return nil, err
	}
	for _, e := range entities {
		if e.PrivateKey != nil {
			return entities, nil
		}
		for _, sk := range e.Subkeys {
			if sk.PrivateKey != nil {
				return entities, nil
			}
		}
	}
	return nil, ErrNotPrivateKey
}

func decryptWith(ciphertext []byte, keyring openpgp.EntityList, passphrase []byte) ([]byte, error) {
	if len(ciphertext) > MaxMessageSize {
		return nil, ErrMessageTooLarge
	}
	if len(ciphertext) == 0 || ciphertext[0]&0x80 == 0 {
		return nil, fmt.Errorf("%w (want binary packets; see DecodeMessage)", ErrNotMessage)
	}
	// go-crypto calls prompt with the still-locked keys the message is
	// encrypted to, and calls it again for as long as it returns no error,
	// so every path below either unlocks keys once or fails.
	prompted := false
	prompt := func(keys []openpgp.Key, symmetric bool) ([]byte, error) {
		if prompted || len(keys) == 0 {
			return nil, notForKey(ciphertext)
		}
		prompted = true
		if len(passphrase) == 0 {
			return nil, ErrPassphraseRequired
		}
		for _, k := range keys {
			if err := k.PrivateKey.Decrypt(passphrase); err != nil {
				return nil, fmt.Errorf("unlock key %016x: %w", k.PublicKey.KeyId, ErrBadPassphrase)
			}
		}
		return nil, nil
	}
	md, err := openpgp.ReadMessage(bytes.NewReader(ciphertext), keyring, prompt, nil)
	switch {
	case err == nil:
	case errors.Is(err, pgperrors.ErrKeyIncorrect):
		return nil, notForKey(ciphertext)
	case errors.Is(err, ErrNotForKey), errors.Is(err, ErrBadPassphrase), errors.Is(err, ErrPassphraseRequired):
		return nil, err
	default:
		return nil, fmt.Errorf("read message: %w", err)
	}
	if !md.IsEncrypted || md.DecryptedWith.Entity == nil {
		// A bare literal packet would "decrypt" to whatever it holds; a
		// share must have come encrypted to the operator's key.
		return nil, ErrNotEncrypted
	}
	// Integrity (MDC or AEAD tag) is checked only at the end of the body,
	// so the body is read to EOF before anything is returned.
	plaintext, err := readBounded(md.UnverifiedBody, MaxPlaintextSize)
	switch {
	case errors.Is(err, ErrPlaintextTooLarge):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("read message body: %w: %w", ErrDecryptionFailed, err)
	}
	return plaintext, nil
}

// notForKey names the key ids the message is encrypted to, so the operator
// can tell which key to use.
func notForKey(ciphertext []byte) error {
	ids := recipients(ciphertext)
	if len(ids) == 0 {
		return ErrNotForKey
	}
	return fmt.Errorf("%w (it is for key id %s)", ErrNotForKey, strings.Join(ids, ", "))
}

// recipients lists the key ids of the message's public-key-encrypted session
// key packets, in hex; 0 means a hidden recipient.
func recipients(ciphertext []byte) []string {
	var ids []string
	packets := packet.NewReader(bytes.NewReader(ciphertext))
	for len(ids) < 16 {
		p, err := packets.Next()
		if err != nil {
			break
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			break
		}
		ids = append(ids, fmt.Sprintf("%016x", ek.KeyId))
	}
	return ids
}

// DecodeMessage returns the binary packets of an encrypted message given in
// any form an operator may hold one: binary, ASCII armor, hex (Vault's
// "keys"), or base64 (Vault's "keys_base64", possibly wrapped over lines).
// The result must begin with a public-key-encrypted session key packet, as
// every encrypted share does.
func DecodeMessage(data []byte) ([]byte, error) {
	if len(data) > 2*MaxMessageSize {
		return nil, ErrMessageTooLarge
	}
	bin, err := decodeMessage(data)
	if err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	return bin, nil
}

func decodeMessage(data []byte) ([]byte, error) {
	if len(data) > 0 && data[0]&0x80 != 0 {
		if !startsWithSessionKey(data) {
			return nil, fmt.Errorf("%w (binary data does not start with an encrypted session key)", ErrNotMessage)
		}
		return data, nil
	}
	text := bytes.TrimSpace(data)
	if len(text) == 0 {
		return nil, fmt.Errorf("%w (empty)", ErrNotMessage)
	}
	if bytes.HasPrefix(text, []byte("-----BEGIN PGP")) {
		bin, err := dearmor(text, "PGP MESSAGE")
		if err != nil {
			return nil, err
		}
		if !startsWithSessionKey(bin) {
			return nil, fmt.Errorf("%w (armored data does not start with an encrypted session key)", ErrNotMessage)
		}
		return bin, nil
	}
	// Hex first: a hex string is also valid base64, but a base64 message of
	// any length is almost never made of hex digits only. Text decodes as
	// base64 surprisingly often, hence the session key check.
	if bin, err := hex.DecodeString(string(text)); err == nil && startsWithSessionKey(bin) {
		return bin, nil
	}
	if bin, err := decodeBase64(text); err == nil && startsWithSessionKey(bin) {
		return bin, nil
	}
	return nil, fmt.Errorf("%w (not binary, armored, hex or base64 of an encrypted message)", ErrNotMessage)
}

func startsWithSessionKey(bin []byte) bool {
	if len(bin) == 0 || bin[0]&0x80 == 0 {
		return false
	}
	p, err := packet.NewReader(bytes.NewReader(bin)).Next()
	_, ok := p.(*packet.EncryptedKey)
	return err == nil && ok
}

// readBounded reads r to EOF into a buffer allocated once, so the plaintext
// is not scattered over discarded copies as a growing buffer would leave it.
func readBounded(r io.Reader, limit int) ([]byte, error) {
	buf := make([]byte, limit+1)
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			ZeroBytes(buf)
			return nil, err
		}
	}
	if n > limit {
		ZeroBytes(buf)
		return nil, ErrPlaintextTooLarge
	}
	out := bytes.Clone(buf[:n])
	ZeroBytes(buf)
	return out, nil
}

// ZeroBytes overwrites b with zeros. Call it on decrypted shares once they
// are used. It is best effort: it clears this slice's backing array only,
// and cannot reach copies the Go runtime or libraries may have made (a slice
// that grew, a string conversion, buffers inside the OpenPGP code, memory
// the garbage collector has not yet reused, swap).
func ZeroBytes(b []byte) {
	clear(b)
	// Keep the clearing from being optimized away as a dead store.
	runtime.KeepAlive(b)
}
