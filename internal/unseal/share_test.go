package unseal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestNewShareAcceptsWhatVaultAccepts(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 33)
	for _, text := range []string{
		hex.EncodeToString(raw),                     // what Vault encrypts
		hex.EncodeToString(raw) + "\n",              // as gpg may print it
		strings.ToUpper(hex.EncodeToString(raw)),    // hex in capitals
		base64.StdEncoding.EncodeToString(raw),      // "Unseal Key N" form
		hex.EncodeToString(raw[:16]),                // AES-128 key, shares=1
		base64.StdEncoding.EncodeToString(raw[:32]), // AES-256 key, shares=1
	} {
		pt := []byte(text)
		s, err := NewShare(pt)
		if err != nil {
			t.Fatalf("%d characters refused: %v", len(text), err)
		}
		body, err := s.jsonBody("")
		if err != nil {
			t.Fatal(err)
		}
		want := `{"key":"` + strings.TrimSpace(text) + `"}`
		if string(body) != want {
			t.Fatalf("body %q, want %q", body, want)
		}
		s.Wipe()
		if !bytes.Equal(pt, make([]byte, len(pt))) {
			t.Fatal("Wipe left the plaintext in memory")
		}
	}
}

func TestNewShareRefusesOtherText(t *testing.T) {
	for _, text := range []string{
		"",
		"   \n",
		hex.EncodeToString(make([]byte, 15)), // too short for a key
		hex.EncodeToString(make([]byte, 34)), // too long
		"hvs.CAESIJ4Bv1PXd0oYFeNmKbjJ0hx",    // a token, not a share
		"not a share at all, but a sentence that must not be echoed",
	} {
		pt := []byte(text)
		_, err := NewShare(pt)
		if !errors.Is(err, ErrNotShare) {
			t.Fatalf("%q: %v, want ErrNotShare", text, err)
		}
		if strings.TrimSpace(text) != "" && strings.Contains(err.Error(), strings.TrimSpace(text)) {
			t.Fatalf("the error repeats the plaintext: %v", err)
		}
		if !bytes.Equal(pt, make([]byte, len(pt))) {
			t.Fatalf("%q: a refused plaintext was not wiped", text)
		}
	}
}

func TestShareBodyWithNonce(t *testing.T) {
	s, err := NewShare([]byte(hex.EncodeToString(make([]byte, 33))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Wipe()
	body, err := s.jsonBody("9a1f2c3d-0000-4bcd-8123-abcdefabcdef")
	if err != nil || !strings.HasSuffix(string(body), `,"nonce":"9a1f2c3d-0000-4bcd-8123-abcdefabcdef"}`) {
		t.Fatalf("body %q err %v", body, err)
	}
	if _, err := s.jsonBody(`x","key":"y`); err == nil {
		t.Fatal("a nonce that would break out of its JSON string was accepted")
	}
}
