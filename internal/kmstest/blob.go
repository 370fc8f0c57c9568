package kmstest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"slices"
)

// Ciphertext blobs are this server's own format, opaque to clients as in
// AWS:
//
//	1 byte   format, 0x01
//	1 byte   L = length of the key ID
//	L bytes  key ID
//	12 bytes nonce
//	rest     AES-256-GCM ciphertext and tag under the key's material
//
// The additional data is the first 2+L bytes followed by the canonical
// encryption context, so neither the key ID nor the context can be
// changed without Decrypt failing.
const blobFormat = 0x01

var errBadBlob = errors.New("malformed ciphertext blob")

// blobKeyID returns the key ID a blob was made with.
func blobKeyID(blob []byte) (string, error) {
	if len(blob) < 2 || blob[0] != blobFormat {
		return "", errBadBlob
	}
	n := int(blob[1])
	if n == 0 || len(blob) < 2+n+12+16 {
		return "", errBadBlob
	}
	return string(blob[2 : 2+n]), nil
}

func sealBlob(k *key, plaintext []byte, ctx map[string]string) ([]byte, error) {
	aead, err := newGCM(k.material)
	if err != nil {
		return nil, err
	}
	head := append([]byte{blobFormat, byte(len(k.id))}, k.id...)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce) // never fails since Go 1.24
	out := append(slices.Clip(head), nonce...)
	return aead.Seal(out, nonce, plaintext, additionalData(head, ctx)), nil
}

func openBlob(k *key, blob []byte, ctx map[string]string) ([]byte, error) {
	id, err := blobKeyID(blob)
	if err != nil {
		return nil, err
	}
	if id != k.id {
		return nil, errBadBlob
	}
	aead, err := newGCM(k.material)
	if err != nil {
		return nil, err
	}
	head := blob[:2+len(id)]
	nonce := blob[len(head) : len(head)+aead.NonceSize()]
	return aead.Open(nil, nonce, blob[len(head)+aead.NonceSize():], additionalData(head, ctx))
}

// additionalData appends the encryption context in a canonical form:
// entries sorted by key, each length-prefixed, so that the same context
// given in any order authenticates the same way (as in KMS).
func additionalData(head []byte, ctx map[string]string) []byte {
	ad := slices.Clone(head)
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(keys)))
	for _, k := range keys {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(k)))
		ad = append(ad, k...)
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(ctx[k])))
		ad = append(ad, ctx[k]...)
	}
	return ad
}

func newGCM(material []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(material)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
