package pgp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func TestReadPublicKeyForms(t *testing.T) {
	f := gnupg(t)
	for _, k := range []testKey{f.alice, f.bob} {
		t.Run(k.email, func(t *testing.T) {
			b64 := base64.StdEncoding.EncodeToString(k.binary)
			var wrapped strings.Builder // as `base64 -w76` prints it
			for i := 0; i < len(b64); i += 76 {
				wrapped.WriteString(b64[i:min(i+76, len(b64))] + "\n")
			}
			forms := map[string][]byte{
				"armored":           k.armored,
				"armored, CRLF":     bytes.ReplaceAll(k.armored, []byte("\n"), []byte("\r\n")),
				"binary":            k.binary,
				"base64":            []byte(b64),
				"base64 wrapped":    []byte(wrapped.String()),
				"base64 unpadded":   []byte(strings.TrimRight(b64, "=")),
				"base64 + newlines": []byte("\n  " + b64 + "\n\n"),
			}
			for name, data := range forms {
				key, err := ReadPublicKey(data)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if key.Fingerprint() != k.fingerprint {
					t.Errorf("%s: fingerprint %s, gpg says %s", name, key.Fingerprint(), k.fingerprint)
				}
				wantUID := strings.ToUpper(k.email[:1]) + k.email[1:strings.Index(k.email, "@")] + " <" + k.email + ">"
				if key.UserID() != wantUID {
					t.Errorf("%s: user id %q, want %q", name, key.UserID(), wantUID)
				}
				if key.Entity() == nil || key.Entity().PrivateKey != nil {
					t.Errorf("%s: bad entity", name)
				}
			}
		})
	}
}

func TestPublicKeyBase64IsWhatVaultParses(t *testing.T) {
	f := gnupg(t)
	key, err := ReadPublicKey(f.bob.armored)
	if err != nil {
		t.Fatal(err)
	}
	// Vault's HTTP API decodes pgp_keys entries with the standard base64
	// decoder and reads a single entity from the packets, nothing else.
	raw, err := base64.StdEncoding.DecodeString(key.Base64())
	if err != nil {
		t.Fatal(err)
	}
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("Vault-style parse of Base64(): %v", err)
	}
	if got := hexFingerprint(e); got != f.bob.fingerprint {
		t.Fatalf("fingerprint after round trip %s, want %s", got, f.bob.fingerprint)
	}
	if _, ok := e.EncryptionKey(e.PrimaryKey.CreationTime.AddDate(0, 0, 1)); !ok {
		t.Fatal("re-serialized key lost its encryption subkey")
	}
	if !bytes.Equal(raw, key.Bytes()) {
		t.Fatal("Base64 and Bytes disagree")
	}
	again, err := ReadPublicKey([]byte(key.Base64()))
	if err != nil || again.Fingerprint() != key.Fingerprint() {
		t.Fatalf("ReadPublicKey(Base64()) = %v, %v", again, err)
	}
	// gpg accepts the re-serialized key as well.
	other := shortHome(t)
	if _, err := gpgRun(other, raw, "--import"); err != nil {
		t.Fatalf("gpg --import of Bytes(): %v", err)
	}
	fpr, err := gpgFingerprint(other, "bob@example.com")
	if err != nil || fpr != f.bob.fingerprint {
		t.Fatalf("gpg sees %s, %v; want %s", fpr, err, f.bob.fingerprint)
	}
}

func TestReadPublicKeyRejects(t *testing.T) {
	f := gnupg(t)
	two, err := gpgRun(f.home, nil, "--export", "alice@example.com", "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	twoArmored, err := gpgRun(f.home, nil, "--export", "--armor", "alice@example.com", "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	msg := f.gpgEncrypt(t, []byte("x"), "alice@example.com", "--armor")
	cases := []struct {
		name    string
		data    []byte
		want    error
		message string
	}{
		{"two keys, binary", two, ErrNotOneKey, "found 2 keys"},
		{"two keys, armored", twoArmored, ErrNotOneKey, "found 2 keys"},
		{"two keys, base64", []byte(base64.StdEncoding.EncodeToString(two)), ErrNotOneKey, "found 2 keys"},
		{"two armored blocks", append(append([]byte{}, f.alice.armored...), f.bob.armored...), ErrNotOneKey, "2 armored blocks"},
		{"secret key, armored", f.alice.secret, ErrNotPublicKey, "private key"},
		{"secret key, binary", f.alice.secretBin, ErrNotPublicKey, "private key"},
		{"signing-only key", f.carol.armored, ErrNoEncryptionKey, f.carol.fingerprint},
		{"expired key", f.old.armored, ErrKeyExpired, "2020-12-31"},
		{"revoked key", f.dave.binary, ErrKeyRevoked, "revoked"},
		{"empty", nil, ErrNoKey, ""},
		{"white space", []byte(" \n\t"), ErrNoKey, ""},
		{"too large", make([]byte, MaxKeySize+1), ErrKeyTooLarge, ""},
		{"not base64", []byte("this is not a key"), nil, "neither armored, binary nor base64"},
		{"base64 of text", []byte(base64.StdEncoding.EncodeToString([]byte("hello"))), ErrNoKey, ""},
		{"truncated binary", f.alice.binary[:len(f.alice.binary)/2], nil, "parse key"},
		{"trailing garbage", append(append([]byte{}, f.alice.binary...), 0x99, 0x00), nil, "parse key"},
		{"armored message", msg, nil, "PGP MESSAGE"},
		{"bad armor checksum", corruptArmor(f.alice.armored), nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key, err := ReadPublicKey(c.data)
			if err == nil {
				t.Fatalf("accepted (fingerprint %s)", key.Fingerprint())
			}
			if key != nil {
				t.Fatal("key returned with an error")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.message) {
				t.Errorf("err = %q, want it to mention %q", err, c.message)
			}
			if !strings.HasPrefix(err.Error(), "read public key: ") {
				t.Errorf("err = %q lacks context", err)
			}
		})
	}
}

// corruptArmor flips a character in the middle of the base64 body, so the
// armor's CRC (or the packets) no longer match.
func corruptArmor(armored []byte) []byte {
	out := bytes.Clone(armored)
	lines := bytes.Split(out, []byte("\n"))
	mid := lines[len(lines)/2]
	if mid[0] == 'A' {
		mid[0] = 'B'
	} else {
		mid[0] = 'A'
	}
	return out
}

func hexFingerprint(e *openpgp.Entity) string { return fingerprint(e) }

func TestReadPublicKeyValidityWindow(t *testing.T) {
	f := gnupg(t)
	key := mustKey(t, f.alice.binary)
	created := key.Entity().PrimaryKey.CreationTime
	if _, err := readPublicKey(f.alice.binary, created.Add(-time.Hour)); !errors.Is(err, ErrKeyNotYetValid) {
		t.Errorf("key read before its creation: err = %v, want %v", err, ErrKeyNotYetValid)
	}
	// The expired key was valid during 2020.
	mid2020 := time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)
	if k, err := readPublicKey(f.old.binary, mid2020); err != nil || k.Fingerprint() != f.old.fingerprint {
		t.Errorf("expired key read in its lifetime: %v", err)
	}
	if _, err := readPublicKey(f.old.binary, mid2020.AddDate(1, 0, 0)); !errors.Is(err, ErrKeyExpired) {
		t.Errorf("expired key: err = %v", err)
	}
}
