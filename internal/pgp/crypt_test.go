package pgp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func mustKey(t testing.TB, data []byte) *Key {
	t.Helper()
	k, err := ReadPublicKey(data)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEncryptInteropWithGPG(t *testing.T) {
	f := gnupg(t)
	for _, k := range []testKey{f.alice, f.bob} {
		t.Run(k.email, func(t *testing.T) {
			key := mustKey(t, k.binary)
			plaintext := []byte("a share for " + k.email)
			var msg bytes.Buffer
			if err := Encrypt(&msg, plaintext, key); err != nil {
				t.Fatal(err)
			}
			checkVaultShape(t, msg.Bytes())
			if got := f.gpgDecrypt(t, msg.Bytes(), k.passphrase); !bytes.Equal(got, plaintext) {
				t.Fatalf("gpg -d gave %q, want %q", got, plaintext)
			}
		})
	}
}

// checkVaultShape asserts what Vault's shares look like: binary, one
// public-key-encrypted session key, integrity-protected data, no signature.
func checkVaultShape(t *testing.T, msg []byte) {
	t.Helper()
	if len(msg) == 0 || msg[0]&0x80 == 0 {
		t.Fatal("message is not binary")
	}
	r := packet.NewReader(bytes.NewReader(msg))
	p, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(*packet.EncryptedKey); !ok {
		t.Fatalf("first packet is %T, want a public-key encrypted session key", p)
	}
	p, err = r.Next()
	if err != nil {
		t.Fatal(err)
	}
	se, ok := p.(*packet.SymmetricallyEncrypted)
	if !ok || !se.IntegrityProtected || se.Version != 1 {
		t.Fatalf("second packet is %T (%+v), want SEIPD v1", p, p)
	}
}

func TestVaultFlowWithShell(t *testing.T) {
	// What Vault does at init: encrypt the lowercase hex of each 33-byte
	// share and hand out base64; what its docs tell operators to run:
	// base64 --decode | gpg -dq.
	f := gnupg(t)
	share := make([]byte, 33)
	if _, err := rand.Read(share); err != nil {
		t.Fatal(err)
	}
	hexShare := hex.EncodeToString(share)
	b64, err := EncryptBase64([]byte(hexShare), mustKey(t, f.alice.armored))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `printf '%s' "$KEY_B64" | base64 --decode | gpg -dq`)
	cmd.Env = append(gpgEnv(f.home), "KEY_B64="+b64)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("shell decrypt: %v\n%s", err, stderr.String())
	}
	if string(out) != hexShare || len(out) != 66 {
		t.Fatalf("shell decrypt gave %q, want %q", out, hexShare)
	}
	// The same string through both of our decryption paths.
	msg, err := DecodeMessage([]byte(b64))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecryptWithKey(msg, f.alice.secret, nil)
	if err != nil || string(got) != hexShare {
		t.Fatalf("DecryptWithKey = %q, %v", got, err)
	}
	got, err = DecryptWithGPG(context.Background(), msg, GPGOptions{Home: f.home, Batch: true, Stderr: &stderr})
	if err != nil || string(got) != hexShare {
		t.Fatalf("DecryptWithGPG = %q, %v", got, err)
	}
}

func TestDecryptWithKey(t *testing.T) {
	f := gnupg(t)
	plaintext := []byte("6ecb4627b1bd6d4e8a1a9c0d5f2e3b4c7d8e9fa0b1c2d3e4f5061728394a5b6c01")
	aliceMsg := f.gpgEncrypt(t, plaintext, "alice@example.com")
	bobMsg := f.gpgEncrypt(t, plaintext, "bob@example.com")
	for _, c := range []struct {
		name       string
		msg, key   []byte
		passphrase []byte
	}{
		{"alice armored key", aliceMsg, f.alice.secret, nil},
		{"alice binary key", aliceMsg, f.alice.secretBin, nil},
		{"alice base64 key", aliceMsg, []byte(base64.StdEncoding.EncodeToString(f.alice.secretBin)), nil},
		{"alice key, needless passphrase", aliceMsg, f.alice.secret, []byte("unused")},
		{"bob armored key", bobMsg, f.bob.secret, []byte(bobPassphrase)},
		{"bob binary key", bobMsg, f.bob.secretBin, []byte(bobPassphrase)},
		{"signed and encrypted", f.gpgEncrypt(t, plaintext, "bob@example.com", "--sign", "--local-user", "alice@example.com"), f.bob.secret, []byte(bobPassphrase)},
		{"uncompressed", f.gpgEncrypt(t, plaintext, "alice@example.com", "--compress-algo", "none"), f.alice.secret, nil},
		{"our own Encrypt", encryptTo(t, plaintext, f.bob.armored), f.bob.secret, []byte(bobPassphrase)},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecryptWithKey(c.msg, c.key, c.passphrase)
			if err != nil || !bytes.Equal(got, plaintext) {
				t.Fatalf("DecryptWithKey = %q, %v", got, err)
			}
		})
	}
}

func encryptTo(t testing.TB, plaintext, publicKey []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encrypt(&buf, plaintext, mustKey(t, publicKey)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecryptWithKeyFailures(t *testing.T) {
	f := gnupg(t)
	plaintext := []byte("THE-PLAINTEXT-MUST-NOT-LEAK")
	bobMsg := f.gpgEncrypt(t, plaintext, "bob@example.com")
	aliceMsg := f.gpgEncrypt(t, plaintext, "alice@example.com")
	stored, err := gpgRun(f.home, plaintext, "--store")
	if err != nil {
		t.Fatal(err)
	}
	symmetric, err := gpgRun(f.home, plaintext, "--pinentry-mode", "loopback", "--passphrase", bobPassphrase, "--symmetric")
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(aliceMsg)
	tampered[len(tampered)-5] ^= 0x01
	big := f.gpgEncrypt(t, make([]byte, MaxPlaintextSize+1), "alice@example.com")
	bobSubkey := strings.ToLower(f.bobSubkeyID(t))

	cases := []struct {
		name       string
		msg, key   []byte
		passphrase []byte
		want       error
		mention    string
	}{
		{"wrong passphrase", bobMsg, f.bob.secret, []byte("Tr0ub4dor&3"), ErrBadPassphrase, "unlock key"},
		{"no passphrase", bobMsg, f.bob.secret, nil, ErrPassphraseRequired, ""},
		{"other key", bobMsg, f.alice.secret, nil, ErrNotForKey, bobSubkey},
		{"public key given", aliceMsg, f.alice.armored, nil, ErrNotPrivateKey, ""},
		{"public key binary", aliceMsg, f.alice.binary, nil, ErrNotPrivateKey, ""},
		{"unencrypted message", stored, f.alice.secret, nil, ErrNotEncrypted, ""},
		{"symmetric message", symmetric, f.bob.secret, []byte(bobPassphrase), ErrNotForKey, ""},
		{"tampered", tampered, f.alice.secret, nil, ErrDecryptionFailed, "read message"},
		{"too large", big, f.alice.secret, nil, ErrPlaintextTooLarge, ""},
		{"armored message", armorOf(t, aliceMsg), f.alice.secret, nil, ErrNotMessage, "DecodeMessage"},
		{"empty message", nil, f.alice.secret, nil, ErrNotMessage, ""},
		{"huge message", append([]byte{0x85}, make([]byte, MaxMessageSize)...), f.alice.secret, nil, ErrMessageTooLarge, ""},
		{"garbage key", aliceMsg, []byte("garbage"), nil, nil, "read private key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecryptWithKey(c.msg, c.key, c.passphrase)
			if err == nil {
				t.Fatalf("decrypted %q", got)
			}
			if got != nil {
				t.Fatal("plaintext returned with an error")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("err = %q, want it to mention %q", err, c.mention)
			}
			if strings.Contains(err.Error(), string(plaintext)) || strings.Contains(err.Error(), bobPassphrase) ||
				(len(c.passphrase) > 3 && strings.Contains(err.Error(), string(c.passphrase))) {
				t.Errorf("error leaks secret material: %q", err)
			}
		})
	}
}

func (f *gnupgFixture) bobSubkeyID(t testing.TB) string {
	t.Helper()
	out, err := gpgRun(f.home, nil, "--with-colons", "--list-keys", "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if fields := strings.Split(line, ":"); fields[0] == "sub" && len(fields) > 4 {
			return fields[4]
		}
	}
	t.Fatal("bob has no subkey")
	return ""
}

func armorOf(t testing.TB, msg []byte) []byte {
	t.Helper()
	out, err := gpgRun(shortHome(t), msg, "--enarmor")
	if err != nil {
		t.Fatal(err)
	}
	// --enarmor labels the block ARMORED FILE; what gpg --armor writes is
	// PGP MESSAGE, and only the label differs.
	return bytes.ReplaceAll(out, []byte("PGP ARMORED FILE"), []byte("PGP MESSAGE"))
}

func TestDecodeMessage(t *testing.T) {
	f := gnupg(t)
	msg := encryptTo(t, []byte("x"), f.alice.binary)
	armored, err := gpgRun(f.home, []byte("x"), "--trust-model", "always", "--armor", "--encrypt", "--recipient", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	armoredBin, err := DecodeMessage(armored)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecryptWithKey(armoredBin, f.alice.secret, nil); err != nil || string(got) != "x" {
		t.Fatalf("armored message: %q, %v", got, err)
	}
	b64 := base64.StdEncoding.EncodeToString(msg)
	for name, in := range map[string][]byte{
		"binary":         msg,
		"hex":            []byte(hex.EncodeToString(msg)),
		"hex upper":      []byte(strings.ToUpper(hex.EncodeToString(msg)) + "\n"),
		"base64":         []byte(b64),
		"base64 wrapped": []byte(b64[:40] + "\n" + b64[40:] + "\n"),
	} {
		got, err := DecodeMessage(in)
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("%s: DecodeMessage = %x, %v", name, got, err)
		}
	}
	for name, in := range map[string][]byte{
		"empty":          nil,
		"text":           []byte("hello world"),
		"base64 of text": []byte(base64.StdEncoding.EncodeToString([]byte("hello"))),
		"public key":     f.alice.armored,
	} {
		if got, err := DecodeMessage(in); err == nil {
			t.Errorf("%s: DecodeMessage accepted it: %x", name, got)
		}
	}
}

func TestEncryptErrors(t *testing.T) {
	if err := Encrypt(&bytes.Buffer{}, []byte("x"), nil); err == nil {
		t.Fatal("Encrypt to nil key succeeded")
	}
	if _, err := EncryptBase64([]byte("x"), &Key{}); err == nil {
		t.Fatal("EncryptBase64 to empty key succeeded")
	}
	// A key that expires between reading and encrypting is refused by go-crypto.
	e, err := openpgp.NewEntity("Eve", "", "eve@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Subkeys = nil // no encryption subkey left
	if err := Encrypt(&bytes.Buffer{}, []byte("x"), &Key{entity: e}); err == nil {
		t.Fatal("Encrypt to a key without encryption subkey succeeded")
	}
}

func TestReadBounded(t *testing.T) {
	for _, n := range []int{0, 1, 10, 11, 100} {
		got, err := readBounded(bytes.NewReader(make([]byte, n)), 10)
		switch {
		case n <= 10 && (err != nil || len(got) != n):
			t.Errorf("%d bytes: %d, %v", n, len(got), err)
		case n > 10 && !errors.Is(err, ErrPlaintextTooLarge):
			t.Errorf("%d bytes: err %v", n, err)
		}
	}
	boom := errors.New("boom")
	if _, err := readBounded(errReader{boom}, 10); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestZeroBytes(t *testing.T) {
	b := []byte("secret")
	ZeroBytes(b)
	if !bytes.Equal(b, make([]byte, 6)) {
		t.Fatalf("ZeroBytes left %q", b)
	}
	ZeroBytes(nil)
}
