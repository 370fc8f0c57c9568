package envelope

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse: Parse never panics, returns either an envelope or an error
// (never both), errors are one of the sentinels, and an accepted input is
// in canonical form: re-encoding the parsed header reproduces the input.
func FuzzParse(f *testing.F) {
	f.Add([]byte(nil))
	f.Add([]byte(Magic))
	f.Add(append([]byte(Magic), 1, 0, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := Parse(b)
		if err != nil {
			if env != nil {
				t.Fatal("Parse returned an envelope and an error")
			}
			if !errors.Is(err, ErrNotEnvelope) && !errors.Is(err, ErrUnsupportedVersion) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error is not a sentinel: %v", err)
			}
			return
		}
		if env == nil {
			t.Fatal("Parse returned neither an envelope nor an error")
		}
		again := appendHeader(nil, env.Header, env.Nonce, len(env.Ciphertext))
		again = append(again, env.Ciphertext...)
		if !bytes.Equal(again, b) {
			t.Fatal("accepted input is not canonical")
		}
		// Any data key must fail to open an input that was not sealed
		// under it; the point here is that Open does not panic.
		if _, err := Open(env, make([]byte, DataKeySize)); err != nil && !errors.Is(err, ErrAuthentication) {
			t.Fatalf("Open on a parsed envelope: %v", err)
		}
	})
}

// FuzzOpen: sealing then opening returns the plaintext, and flipping any
// single byte of the sealed envelope makes Parse or Open fail.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("DB_PASSWORD='orange1'\n"), "s3://b/app.env", uint(0), byte(1))
	f.Add([]byte(""), "s3://b/k", uint(1000), byte(0x80))
	f.Fuzz(func(t *testing.T, plaintext []byte, object string, pos uint, mask byte) {
		h := testHeader()
		h.Context[ObjectContextKey] = object
		var nonce [NonceSize]byte
		copy(nonce[:], plaintext)
		b, err := seal(h, testKey(), plaintext, nonce)
		if err != nil {
			if errors.Is(err, ErrInvalidHeader) || errors.Is(err, ErrTooLarge) {
				return // e.g. an empty or non-UTF-8 object string
			}
			t.Fatal(err)
		}
		got, err := parseOpen(b, testKey())
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Fatal("round trip changed the plaintext")
		}
		if mask == 0 {
			mask = 1
		}
		i := int(pos % uint(len(b)))
		b[i] ^= mask
		if _, err := parseOpen(b, testKey()); err == nil {
			t.Fatalf("flipping byte %d of %d with %#x was accepted", i, len(b), mask)
		}
	})
}
