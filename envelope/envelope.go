package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
)

// Format constants. The caps keep a hostile object from making a reader
// allocate or send to KMS more than a real envelope ever needs.
const (
	Magic   = "keyturn\x00"
	Version = 1

	// ObjectContextKey is the encryption context key that binds an envelope
	// to the S3 object holding it. Its value is [ObjectURI](bucket, key).
	ObjectContextKey = "keyturn:object"

	DataKeySize = 32 // AES-256
	NonceSize   = 12 // 96-bit GCM nonce
	TagSize     = 16

	MaxKeyARNLen        = 2048 // AWS's limit for a KeyId
	MaxContextEntries   = 32
	MaxContextKeyLen    = 256
	MaxContextValueLen  = 1024
	MaxContextTotal     = 8192 // sum of all key and value lengths
	MaxEncryptedKeyLen  = 6144 // AWS's limit for a CiphertextBlob
	MaxPlaintextSize    = 16 << 20
	maxCiphertextLength = MaxPlaintextSize + TagSize
)

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	ErrNotEnvelope        = errors.New("envelope: not a keyturn envelope")
	ErrUnsupportedVersion = errors.New("envelope: unsupported format version")
	ErrMalformed          = errors.New("envelope: malformed")
	ErrAuthentication     = errors.New("envelope: authentication failed")
	ErrInvalidHeader      = errors.New("envelope: invalid header")
	ErrInvalidDataKey     = errors.New("envelope: invalid data key")
	ErrTooLarge           = errors.New("envelope: plaintext too large")
	ErrObjectMismatch     = errors.New("envelope: sealed for another object")
	ErrKeyNotAllowed      = errors.New("envelope: KMS key not allowed")
	ErrInvalidAllowList   = errors.New("envelope: invalid KMS key allow-list entry")
)

// Header is the authenticated metadata of an envelope.
type Header struct {
	// KeyARN is the ARN of the KMS key that encrypted the data key, as
	// returned in GenerateDataKey's KeyId. Aliases are not accepted: an
	// alias can be repointed, so it cannot be checked against an
	// allow-list after the fact.
	KeyARN string
	// Context is the KMS encryption context used for the data key. It
	// must contain ObjectContextKey.
	Context map[string]string
	// EncryptedDataKey is the CiphertextBlob from GenerateDataKey.
	EncryptedDataKey []byte
}

// Envelope is a parsed envelope: the header, the nonce and the
// authenticated ciphertext (tag included).
type Envelope struct {
	Header
	Nonce      [NonceSize]byte
	Ciphertext []byte
}

// ObjectURI returns the value of ObjectContextKey for an S3 object.
func ObjectURI(bucket, key string) string {
	return "s3://" + bucket + "/" + key
}

// HasMagic reports whether b starts with the envelope magic, i.e. whether
// a reader should treat the object as an envelope rather than a plain file.
func HasMagic(b []byte) bool {
	return len(b) >= len(Magic) && string(b[:len(Magic)]) == Magic
}

// Seal encrypts plaintext under dataKey (the 32-byte plaintext data key
// from GenerateDataKey) and returns the encoded envelope. The header must
// describe how dataKey was obtained: its key ARN, the encryption context
// given to KMS, and the encrypted data key KMS returned.
func Seal(header Header, dataKey, plaintext []byte) ([]byte, error) {
	// A random nonce is safe here: each envelope is sealed under a fresh
	// data key from GenerateDataKey, so a key sees one message and nonce
	// reuse cannot happen. Drawing it at random rather than fixing it
	// keeps that true even if a caller ever seals twice with one data key
	// (2^32 messages per key before the collision risk matters).
	var nonce [NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("envelope: read nonce: %w", err)
	}
	return seal(header, dataKey, plaintext, nonce)
}

// seal is Seal with a chosen nonce, for known-answer tests.
func seal(header Header, dataKey, plaintext []byte, nonce [NonceSize]byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(plaintext), MaxPlaintextSize)
	}
	if err := validateHeader(header); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHeader, err)
	}
	aead, err := newAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	aad := appendHeader(nil, header, nonce, len(plaintext)+TagSize)
	// The output starts with a copy of the header: crypto/cipher forbids
	// dst and additionalData from overlapping.
	out := make([]byte, len(aad), len(aad)+len(plaintext)+TagSize)
	copy(out, aad)
	return aead.Seal(out, nonce[:], plaintext, aad), nil
}

// Open authenticates and decrypts env with dataKey, the plaintext data key
// KMS returned for env.EncryptedDataKey. It fails with ErrAuthentication if
// the data key is wrong or any byte of the envelope was changed.
func Open(env *Envelope, dataKey []byte) ([]byte, error) {
	if env == nil {
		return nil, fmt.Errorf("%w: nil envelope", ErrMalformed)
	}
	if err := validateHeader(env.Header); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(env.Ciphertext) < TagSize || len(env.Ciphertext) > maxCiphertextLength {
		return nil, fmt.Errorf("%w: ciphertext length %d out of range", ErrMalformed, len(env.Ciphertext))
	}
	aead, err := newAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	// Parse only accepts the canonical encoding, so re-encoding the parsed
	// fields yields exactly the header bytes that were read.
	aad := appendHeader(nil, env.Header, env.Nonce, len(env.Ciphertext))
	pt, err := aead.Open(nil, env.Nonce[:], env.Ciphertext, aad)
	if err != nil {
		// Deliberately no detail: GCM cannot tell a wrong key from a
		// modified byte, and neither should the caller's logs.
		return nil, ErrAuthentication
	}
	return pt, nil
}

// DecryptContext returns the encryption context to pass to KMS Decrypt for
// an envelope read from objectURI (see ObjectURI). It fails with
// ErrObjectMismatch when the envelope was sealed for another object, which
// is what an envelope copied between objects looks like. Deriving the
// object from where the bytes were read, not from the header alone, is what
// makes KMS refuse a moved envelope.
func (e *Envelope) DecryptContext(objectURI string) (map[string]string, error) {
	got, ok := e.Context[ObjectContextKey]
	if !ok {
		return nil, fmt.Errorf("%w: no %s in encryption context", ErrMalformed, ObjectContextKey)
	}
	if got != objectURI {
		return nil, fmt.Errorf("%w: sealed for %q, read from %q", ErrObjectMismatch, got, objectURI)
	}
	return maps.Clone(e.Context), nil
}

func newAEAD(dataKey []byte) (cipher.AEAD, error) {
	if len(dataKey) != DataKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidDataKey, len(dataKey), DataKeySize)
	}
	block, err := aes.NewCipher(dataKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDataKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return aead, nil
}
