package pgp

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// Seed corpora live in testdata/fuzz/<target>/. They were made with
// go-crypto: throwaway Curve25519 and RSA-2048 keys (one protected with the
// passphrase "pw" under a deliberately cheap S2K, so that fuzzing is not
// dominated by key derivation) and a share-shaped message to each.

func FuzzReadPublicKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ReadPublicKey(data)
		if err != nil {
			if key != nil {
				t.Fatalf("key returned with error %v", err)
			}
			return
		}
		if fp := key.Fingerprint(); len(fp) != 40 && len(fp) != 64 {
			t.Fatalf("fingerprint %q", fp)
		}
		// What we hand to Vault must read back as the same key.
		again, err := ReadPublicKey([]byte(key.Base64()))
		if err != nil {
			t.Fatalf("Base64() of an accepted key does not parse: %v", err)
		}
		if again.Fingerprint() != key.Fingerprint() {
			t.Fatalf("fingerprint changed on round trip: %s -> %s", key.Fingerprint(), again.Fingerprint())
		}
	})
}

func FuzzDecryptWithKey(f *testing.F) {
	f.Add([]byte{0x85}, []byte{0x95}, []byte("pw"))
	f.Fuzz(func(t *testing.T, ciphertext, privateKey, passphrase []byte) {
		plaintext, err := DecryptWithKey(ciphertext, privateKey, passphrase)
		if err != nil {
			if plaintext != nil {
				t.Fatalf("plaintext returned with error %v", err)
			}
			return
		}
		if len(plaintext) > MaxPlaintextSize {
			t.Fatalf("plaintext of %d bytes exceeds the bound", len(plaintext))
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte("c1c04c03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		bin, err := DecodeMessage(data)
		if err != nil {
			if bin != nil {
				t.Fatalf("data returned with error %v", err)
			}
			return
		}
		if len(bin) == 0 || bin[0]&0x80 == 0 {
			t.Fatalf("decoded to non-packet data %x", bin)
		}
		// Decoding is idempotent on its own output and on hex of it.
		for _, in := range [][]byte{bin, []byte(hex.EncodeToString(bin))} {
			again, err := DecodeMessage(in)
			if err != nil || !bytes.Equal(again, bin) {
				t.Fatalf("re-decoding gave %x, %v", again, err)
			}
		}
	})
}
