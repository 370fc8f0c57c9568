// Package pgp holds the OpenPGP operations the unseal tool needs around
// Vault's PGP-protected unseal keys: reading an operator's public key in
// whatever form they have it, encrypting a share to it exactly as Vault does,
// and decrypting a share either through the operator's own gpg (agent,
// pinentry, smartcard) or with a private key file and passphrase.
//
// Plaintext only ever lives in memory: decryption returns a []byte that the
// caller should wipe with ZeroBytes when done. Inputs (keys, messages) are
// treated as untrusted: sizes are bounded and parse errors are returned, never
// panics. Error messages never contain plaintext or key material.
//
// The OpenPGP implementation is github.com/ProtonMail/go-crypto, the one
// Vault itself uses.
package pgp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// MaxKeySize bounds the key data ReadPublicKey and DecryptWithKey accept.
// Real keys are a few KiB; photo IDs can reach some hundred KiB.
const MaxKeySize = 1 << 20

// Errors describing why a key was refused; test with errors.Is.
var (
	ErrNoKey           = errors.New("no openpgp key found")
	ErrNotOneKey       = errors.New("want exactly one key")
	ErrKeyTooLarge     = errors.New("key data exceeds 1 MiB")
	ErrNotPublicKey    = errors.New("data holds a private key; give the public key (gpg --export)")
	ErrNotPrivateKey   = errors.New("data holds no private key (export it with gpg --export-secret-keys)")
	ErrKeyRevoked      = errors.New("key is revoked")
	ErrKeyExpired      = errors.New("key has expired")
	ErrKeyNotYetValid  = errors.New("key is not valid yet")
	ErrNoEncryptionKey = errors.New("key has no valid encryption subkey")
)

// Key is a validated public key that can receive encrypted shares.
type Key struct {
	entity *openpgp.Entity
	binary []byte // public-only serialization, what Vault's pgp_keys carry (in base64)
}

// ReadPublicKey parses exactly one public key given as ASCII armor, as the
// binary packets of `gpg --export`, or as base64 of those packets (the form
// Vault's HTTP API takes). It refuses private keys, several keys, and keys
// that cannot currently receive encrypted messages: revoked, expired, or
// without an encryption-capable (sub)key.
func ReadPublicKey(data []byte) (*Key, error) {
	k, err := readPublicKey(data, time.Now())
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	return k, nil
}

func readPublicKey(data []byte, now time.Time) (*Key, error) {
	bin, err := keyPackets(data, openpgp.PublicKeyType)
	if err != nil {
		return nil, err
	}
	entities, err := readEntities(bin)
	if err != nil {
		return nil, err
	}
	if len(entities) != 1 {
		return nil, fmt.Errorf("found %d keys: %w", len(entities), ErrNotOneKey)
	}
	e := entities[0]
	if e.PrivateKey != nil {
		return nil, ErrNotPublicKey
	}
	if err := checkUsable(e, now); err != nil {
		return nil, fmt.Errorf("key %s: %w", fingerprint(e), err)
	}

	// Re-serialize rather than keep the input: this drops anything the
	// parser skipped and yields the canonical public-only form, as Vault's
	// CLI does before it sends a key to the server.
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("serialize key %s: %w", fingerprint(e), err)
	}
	return &Key{entity: e, binary: buf.Bytes()}, nil
}

func checkUsable(e *openpgp.Entity, now time.Time) error {
	if e.Revoked(now) {
		return ErrKeyRevoked
	}
	if created := e.PrimaryKey.CreationTime; created.After(now) {
		return fmt.Errorf("%w (created %s, in the future; check the clock)", ErrKeyNotYetValid, created.UTC().Format(time.RFC3339))
	}
	selfSig, _ := e.PrimarySelfSignature()
	if selfSig != nil && selfSig.KeyLifetimeSecs != nil && e.PrimaryKey.KeyExpired(selfSig, now) {
		expiry := e.PrimaryKey.CreationTime.Add(time.Duration(*selfSig.KeyLifetimeSecs) * time.Second)
		return fmt.Errorf("%w on %s", ErrKeyExpired, expiry.UTC().Format(time.DateOnly))
	}
	if _, ok := e.EncryptionKey(now); !ok {
		return fmt.Errorf("%w (missing, expired or revoked, or the user id is revoked)", ErrNoEncryptionKey)
	}
	return nil
}

// keyPackets turns armored, base64 or binary key data into binary packets.
// wantArmor is the armor block type expected for this use.
func keyPackets(data []byte, wantArmor string) ([]byte, error) {
	if len(data) > MaxKeySize {
		return nil, ErrKeyTooLarge
	}
	if len(data) > 0 && data[0]&0x80 != 0 {
		// Every OpenPGP packet header has the top bit set; text never does
		// in its first byte. Binary data must not be trimmed: its last byte
		// may well look like white space.
		return data, nil
	}
	text := bytes.TrimSpace(data)
	if len(text) == 0 {
		return nil, ErrNoKey
	}
	if bytes.HasPrefix(text, []byte("-----BEGIN PGP")) {
		return dearmor(text, wantArmor)
	}
	bin, err := decodeBase64(text)
	if err != nil {
		return nil, fmt.Errorf("neither armored, binary nor base64 openpgp data: %w", err)
	}
	if len(bin) == 0 || bin[0]&0x80 == 0 {
		return nil, fmt.Errorf("base64 data does not decode to openpgp packets: %w", ErrNoKey)
	}
	return bin, nil
}

func dearmor(text []byte, wantType string) ([]byte, error) {
	// armor.Decode reads one block and ignores anything after it, so a
	// second key appended as its own block would go unnoticed.
	if n := bytes.Count(text, []byte("-----BEGIN PGP")); n > 1 {
		return nil, fmt.Errorf("found %d armored blocks: %w", n, ErrNotOneKey)
	}
	block, err := armor.Decode(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("decode armor: %w", err)
	}
	if block.Type != wantType {
		switch {
		case wantType == openpgp.PublicKeyType && block.Type == openpgp.PrivateKeyType:
			return nil, ErrNotPublicKey
		case wantType == openpgp.PrivateKeyType && block.Type == openpgp.PublicKeyType:
			return nil, ErrNotPrivateKey
		}
		return nil, fmt.Errorf("armored block is %q, want %q", block.Type, wantType)
	}
	// The body cannot exceed the armored text, which is already bounded.
	bin, err := io.ReadAll(block.Body)
	if err != nil {
		return nil, fmt.Errorf("decode armor: %w", err)
	}
	return bin, nil
}

// decodeBase64 accepts standard base64 with or without padding, ignoring
// line breaks and spaces as `base64 -w76` output and pasted text contain them.
func decodeBase64(text []byte) ([]byte, error) {
	compact := bytes.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, text)
	if b, err := base64.StdEncoding.DecodeString(string(compact)); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(string(compact))
}

// readEntities reads every key in bin, failing on anything unparsable rather
// than skipping it as openpgp.ReadKeyRing does: silently dropping a key would
// hide what the operator actually gave us.
func readEntities(bin []byte) ([]*openpgp.Entity, error) {
	packets := packet.NewReader(bytes.NewReader(bin))
	var entities []*openpgp.Entity
	for {
		e, err := openpgp.ReadEntity(packets)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse key %d: %w", len(entities)+1, err)
		}
		entities = append(entities, e)
	}
	if len(entities) == 0 {
		return nil, ErrNoKey
	}
	return entities, nil
}

func fingerprint(e *openpgp.Entity) string {
	return hex.EncodeToString(e.PrimaryKey.Fingerprint)
}

// Fingerprint is the primary key's fingerprint in lowercase hex, the form
// Vault reports in pgp_fingerprints.
func (k *Key) Fingerprint() string { return fingerprint(k.entity) }

// UserID is the name of the primary identity, typically
// "Full Name <email@example.com>", or "" if the key has none.
func (k *Key) UserID() string {
	if id := k.entity.PrimaryIdentity(); id != nil {
		return id.Name
	}
	return ""
}

// Base64 is the standard base64 of the binary public key: the form Vault's
// HTTP API expects in pgp_keys, root_token_pgp_key and pgp_key.
func (k *Key) Base64() string { return base64.StdEncoding.EncodeToString(k.binary) }

// Bytes returns a copy of the binary public key packets.
func (k *Key) Bytes() []byte { return bytes.Clone(k.binary) }

// Entity exposes the parsed key for operations this package does not wrap.
func (k *Key) Entity() *openpgp.Entity { return k.entity }
