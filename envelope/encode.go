package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// validateHeader checks the rules Parse enforces, so that Seal never
// writes an envelope Parse would refuse. Errors name the field, never its
// content.
func validateHeader(h Header) error {
	if len(h.KeyARN) == 0 || len(h.KeyARN) > MaxKeyARNLen {
		return fmt.Errorf("key ARN length %d out of range 1..%d", len(h.KeyARN), MaxKeyARNLen)
	}
	if !utf8.ValidString(h.KeyARN) {
		return errors.New("key ARN is not valid UTF-8")
	}
	if _, err := ParseKeyARN(h.KeyARN); err != nil {
		return err
	}
	if len(h.Context) == 0 || len(h.Context) > MaxContextEntries {
		return fmt.Errorf("%d encryption context entries, want 1..%d", len(h.Context), MaxContextEntries)
	}
	total := 0
	for k, v := range h.Context {
		if len(k) == 0 || len(k) > MaxContextKeyLen {
			return fmt.Errorf("encryption context key length %d out of range 1..%d", len(k), MaxContextKeyLen)
		}
		if len(v) == 0 || len(v) > MaxContextValueLen {
			return fmt.Errorf("encryption context value length %d out of range 1..%d", len(v), MaxContextValueLen)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return errors.New("encryption context is not valid UTF-8")
		}
		total += len(k) + len(v)
	}
	if total > MaxContextTotal {
		return fmt.Errorf("encryption context of %d bytes exceeds %d", total, MaxContextTotal)
	}
	if _, ok := h.Context[ObjectContextKey]; !ok {
		return fmt.Errorf("encryption context lacks %s", ObjectContextKey)
	}
	if len(h.EncryptedDataKey) == 0 || len(h.EncryptedDataKey) > MaxEncryptedKeyLen {
		return fmt.Errorf("encrypted data key length %d out of range 1..%d", len(h.EncryptedDataKey), MaxEncryptedKeyLen)
	}
	return nil
}

// appendHeader appends the canonical encoding of a valid header, followed
// by the nonce and the ciphertext length, to b.
func appendHeader(b []byte, h Header, nonce [NonceSize]byte, ciphertextLen int) []byte {
	b = append(b, Magic...)
	b = append(b, Version)
	b = appendString16(b, h.KeyARN)
	keys := make([]string, 0, len(h.Context))
	for k := range h.Context {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, byte(len(keys)))
	for _, k := range keys {
		b = appendString16(b, k)
		b = appendString16(b, h.Context[k])
	}
	b = appendString16(b, string(h.EncryptedDataKey))
	b = append(b, nonce[:]...)
	return binary.BigEndian.AppendUint32(b, uint32(ciphertextLen))
}

func appendString16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// Parse decodes an envelope without decrypting anything. The returned
// envelope's Ciphertext and EncryptedDataKey alias b. On error the
// envelope is nil.
func Parse(b []byte) (*Envelope, error) {
	if !HasMagic(b) {
		return nil, ErrNotEnvelope
	}
	r := reader{b: b, off: len(Magic)}
	v, ok := r.byte()
	if !ok {
		return nil, r.truncated("version")
	}
	if v != Version {
		return nil, fmt.Errorf("%w: %d (this build reads %d)", ErrUnsupportedVersion, v, Version)
	}
	env := &Envelope{}
	arn, err := r.string16("key ARN", 1, MaxKeyARNLen)
	if err != nil {
		return nil, err
	}
	env.KeyARN = arn
	n, ok := r.byte()
	if !ok {
		return nil, r.truncated("context count")
	}
	if n == 0 || int(n) > MaxContextEntries {
		return nil, fmt.Errorf("%w: %d encryption context entries, want 1..%d", ErrMalformed, n, MaxContextEntries)
	}
	env.Context = make(map[string]string, n)
	prev, total := "", 0
	for i := range int(n) {
		k, err := r.string16("context key", 1, MaxContextKeyLen)
		if err != nil {
			return nil, err
		}
		if i > 0 && k <= prev {
			// Also catches duplicates: one encoding per header.
			return nil, fmt.Errorf("%w: encryption context key %d is not after key %d (duplicate or unsorted)", ErrMalformed, i, i-1)
		}
		val, err := r.string16("context value", 1, MaxContextValueLen)
		if err != nil {
			return nil, err
		}
		total += len(k) + len(val)
		env.Context[k] = val
		prev = k
	}
	if total > MaxContextTotal {
		return nil, fmt.Errorf("%w: encryption context of %d bytes exceeds %d", ErrMalformed, total, MaxContextTotal)
	}
	edk, err := r.bytes16("encrypted data key", 1, MaxEncryptedKeyLen)
	if err != nil {
		return nil, err
	}
	env.EncryptedDataKey = edk
	nonce, ok := r.next(NonceSize)
	if !ok {
		return nil, r.truncated("nonce")
	}
	copy(env.Nonce[:], nonce)
	clen, ok := r.next(4)
	if !ok {
		return nil, r.truncated("ciphertext length")
	}
	c := int(binary.BigEndian.Uint32(clen))
	if c < TagSize || c > maxCiphertextLength {
		return nil, fmt.Errorf("%w: ciphertext length %d out of range %d..%d", ErrMalformed, c, TagSize, maxCiphertextLength)
	}
	ct, ok := r.next(c)
	if !ok {
		return nil, r.truncated("ciphertext")
	}
	env.Ciphertext = ct
	if rest := len(b) - r.off; rest != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after ciphertext", ErrMalformed, rest)
	}
	// The remaining rules (key ARN shape, object context) are the ones
	// Seal enforces; checking them here keeps Seal and Parse symmetric.
	if err := validateHeader(env.Header); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return env, nil
}

// reader walks the input; it never reads past the end.
type reader struct {
	b   []byte
	off int
}

func (r *reader) next(n int) ([]byte, bool) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, false
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p, true
}

func (r *reader) byte() (byte, bool) {
	p, ok := r.next(1)
	if !ok {
		return 0, false
	}
	return p[0], true
}

func (r *reader) truncated(field string) error {
	return fmt.Errorf("%w: truncated at %s (offset %d of %d bytes)", ErrMalformed, field, r.off, len(r.b))
}

func (r *reader) bytes16(field string, minLen, maxLen int) ([]byte, error) {
	l, ok := r.next(2)
	if !ok {
		return nil, r.truncated(field + " length")
	}
	n := int(binary.BigEndian.Uint16(l))
	if n < minLen || n > maxLen {
		return nil, fmt.Errorf("%w: %s length %d out of range %d..%d", ErrMalformed, field, n, minLen, maxLen)
	}
	p, ok := r.next(n)
	if !ok {
		return nil, r.truncated(field)
	}
	return p, nil
}

func (r *reader) string16(field string, minLen, maxLen int) (string, error) {
	p, err := r.bytes16(field, minLen, maxLen)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(p) {
		return "", fmt.Errorf("%w: %s is not valid UTF-8", ErrMalformed, field)
	}
	return string(p), nil
}
