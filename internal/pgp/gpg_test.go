package pgp

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

func TestDecryptWithGPG(t *testing.T) {
	f := gnupg(t)
	plaintext := []byte("6ecb4627b1bd6d4e8a1a9c0d5f2e3b4c7d8e9fa0b1c2d3e4f5061728394a5b6c01")
	cases := []struct {
		name string
		msg  []byte
		opts GPGOptions
	}{
		{"gpg --encrypt, batch", f.gpgEncrypt(t, plaintext, "alice@example.com"), GPGOptions{Batch: true}},
		{"gpg --encrypt, interactive mode", f.gpgEncrypt(t, plaintext, "alice@example.com"), GPGOptions{}},
		{"armored", f.gpgEncrypt(t, plaintext, "alice@example.com", "--armor"), GPGOptions{Batch: true}},
		{"signed", f.gpgEncrypt(t, plaintext, "alice@example.com", "--sign", "--local-user", "alice@example.com"), GPGOptions{Batch: true}},
		{"our Encrypt", encryptTo(t, plaintext, f.alice.binary), GPGOptions{Batch: true}},
		{"passphrase by pipe", f.gpgEncrypt(t, plaintext, "bob@example.com"), GPGOptions{Passphrase: []byte(bobPassphrase)}},
		{"our Encrypt, passphrase", encryptTo(t, plaintext, f.bob.armored), GPGOptions{Passphrase: []byte(bobPassphrase)}},
		{"empty passphrase, unprotected key", f.gpgEncrypt(t, plaintext, "alice@example.com"), GPGOptions{Passphrase: []byte{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			c.opts.Home, c.opts.Stderr = f.home, &stderr
			got, err := DecryptWithGPG(context.Background(), c.msg, c.opts)
			if err != nil || !bytes.Equal(got, plaintext) {
				t.Fatalf("DecryptWithGPG = %q, %v\nstderr: %s", got, err, stderr.String())
			}
			if bytes.Contains(stderr.Bytes(), plaintext) {
				t.Fatal("plaintext reached stderr")
			}
		})
	}
}

func TestDecryptWithGPGHonoursGNUPGHOME(t *testing.T) {
	f := gnupg(t)
	t.Setenv("GNUPGHOME", f.home)
	msg := f.gpgEncrypt(t, []byte("via env"), "alice@example.com")
	got, err := DecryptWithGPG(context.Background(), msg, GPGOptions{Batch: true, Stderr: &bytes.Buffer{}})
	if err != nil || string(got) != "via env" {
		t.Fatalf("DecryptWithGPG = %q, %v", got, err)
	}
}

func TestDecryptWithGPGFailures(t *testing.T) {
	f := gnupg(t)
	plaintext := []byte("THE-PLAINTEXT-MUST-NOT-LEAK")
	bobMsg := f.gpgEncrypt(t, plaintext, "bob@example.com")
	aliceMsg := f.gpgEncrypt(t, plaintext, "alice@example.com")
	stranger, err := openpgp.NewEntity("Stranger", "", "stranger@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var strangerMsg bytes.Buffer
	if err := Encrypt(&strangerMsg, plaintext, &Key{entity: stranger}); err != nil {
		t.Fatal(err)
	}
	stored, err := gpgRun(f.home, plaintext, "--store")
	if err != nil {
		t.Fatal(err)
	}
	symmetric, err := gpgRun(f.home, plaintext, "--pinentry-mode", "loopback", "--passphrase", "sym", "--symmetric")
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(aliceMsg)
	tampered[len(tampered)-5] ^= 0x01
	big := f.gpgEncrypt(t, make([]byte, MaxPlaintextSize+1), "alice@example.com")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	cases := []struct {
		name    string
		ctx     context.Context
		msg     []byte
		opts    GPGOptions
		want    error
		mention string
	}{
		{"wrong passphrase", nil, bobMsg, GPGOptions{Passphrase: []byte("Tr0ub4dor&3")}, ErrBadPassphrase, "status 2"},
		{"no pinentry", nil, bobMsg, GPGOptions{Batch: true}, ErrPinentry, "GPG_TTY"},
		{"no pinentry, interactive mode", nil, bobMsg, GPGOptions{}, ErrPinentry, "GPG_TTY"},
		{"no secret key", nil, strangerMsg.Bytes(), GPGOptions{Batch: true}, ErrNoSecretKey, strings.ToLower(strangerKeyID(stranger))},
		{"unencrypted", nil, stored, GPGOptions{Batch: true}, ErrNotEncrypted, ""},
		{"symmetric", nil, symmetric, GPGOptions{Passphrase: []byte("sym")}, ErrNotEncrypted, ""},
		{"tampered", nil, tampered, GPGOptions{Batch: true}, nil, "gpg exited with status"},
		{"not openpgp", nil, []byte("hello"), GPGOptions{Batch: true}, ErrNotMessage, "status 2"},
		{"too large", nil, big, GPGOptions{Batch: true}, ErrPlaintextTooLarge, ""},
		{"canceled context", canceled, aliceMsg, GPGOptions{Batch: true}, context.Canceled, ""},
		{"no gpg", nil, aliceMsg, GPGOptions{Program: "/nonexistent/gpg"}, ErrGPGNotFound, "install gnupg"},
		{"newline in passphrase", nil, bobMsg, GPGOptions{Passphrase: []byte("a\nb")}, nil, "line break"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := c.ctx
			if ctx == nil {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
			}
			var stderr bytes.Buffer
			c.opts.Home, c.opts.Stderr = f.home, &stderr
			got, err := DecryptWithGPG(ctx, c.msg, c.opts)
			if err == nil {
				t.Fatalf("decrypted %q", got)
			}
			if got != nil {
				t.Fatal("plaintext returned with an error")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v\nstderr: %s", err, c.want, stderr.String())
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("err = %q, want it to mention %q", err, c.mention)
			}
			if strings.Contains(err.Error(), string(plaintext)) || bytes.Contains(stderr.Bytes(), plaintext) {
				t.Errorf("plaintext leaked: err %q, stderr %q", err, stderr.String())
			}
			if p := string(c.opts.Passphrase); len(p) > 3 && strings.Contains(err.Error(), p) {
				t.Errorf("passphrase leaked: %q", err)
			}
		})
	}
}

func strangerKeyID(e *openpgp.Entity) string {
	k, _ := e.EncryptionKey(time.Now())
	return k.PublicKey.KeyIdString()
}

func TestGPGStatusMapping(t *testing.T) {
	// Outcomes that are hard to provoke with a real gpg in a test (no
	// terminal, no pinentry) are checked on the status lines gpg 2.2 writes.
	cases := []struct {
		status string
		want   error
	}{
		{"[GNUPG:] ERROR pkdecrypt_failed 83886179", ErrCanceled},      // source 5 (gpg-agent), code 99
		{"[GNUPG:] ERROR pkdecrypt_failed 83886165", ErrPinentry},      // code 85
		{"[GNUPG:] ERROR pkdecrypt_failed 83886091", ErrBadPassphrase}, // code 11
		{"[GNUPG:] BAD_PASSPHRASE 0123456789ABCDEF", ErrBadPassphrase},
		{"[GNUPG:] MISSING_PASSPHRASE", ErrPassphraseRequired},
		{"[GNUPG:] ERROR pkdecrypt_failed 83918950", ErrPinentry},      // ENOTTY
		{"[GNUPG:] ERROR pkdecrypt_failed 67108875", ErrBadPassphrase}, // as gpg 2.2.40 writes it
		{"[GNUPG:] ENC_TO 0123456789ABCDEF 18 0\n[GNUPG:] NO_SECKEY 0123456789ABCDEF", ErrNoSecretKey},
		{"[GNUPG:] NODATA 1", ErrNotMessage},
		{"[GNUPG:] BEGIN_DECRYPTION\n[GNUPG:] DECRYPTION_FAILED", ErrDecryptionFailed},
		{"", nil},
	}
	for _, c := range cases {
		e := parseStatus([]byte(c.status)).failure(2)
		if (c.want == nil && e.Reason != nil) || (c.want != nil && !errors.Is(e, c.want)) {
			t.Errorf("%q: reason %v, want %v", c.status, e.Reason, c.want)
		}
		if !strings.HasPrefix(e.Error(), "gpg exited with status 2") || e.Hint == "" {
			t.Errorf("%q: error %q", c.status, e)
		}
	}
	ok := "[GNUPG:] ENC_TO 0123456789ABCDEF 18 0\n[GNUPG:] BEGIN_DECRYPTION\n[GNUPG:] DECRYPTION_OKAY\n[GNUPG:] GOODMDC\n[GNUPG:] END_DECRYPTION\n"
	if err := parseStatus([]byte(ok)).verify(); err != nil {
		t.Errorf("verify(success) = %v", err)
	}
	if err := parseStatus([]byte(ok + "[GNUPG:] BADMDC\n")).verify(); !errors.Is(err, ErrDecryptionFailed) {
		t.Errorf("verify(BADMDC) = %v", err)
	}
	if err := parseStatus([]byte("[GNUPG:] PLAINTEXT 62 0\n")).verify(); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("verify(plain) = %v", err)
	}
}

func TestBoundedSink(t *testing.T) {
	s := &boundedSink{buf: make([]byte, 0, 5)} // limit 4
	if n, err := s.Write([]byte("abcd")); n != 4 || err != nil || s.tooLarge {
		t.Fatalf("Write within limit: %d, %v", n, err)
	}
	if _, err := s.Write([]byte("e")); err == nil || !s.tooLarge {
		t.Fatal("Write past limit accepted")
	}
	s = &boundedSink{buf: make([]byte, 0, 5)}
	if _, err := s.ReadFrom(strings.NewReader("abcd")); err != nil || string(s.buf) != "abcd" {
		t.Fatalf("ReadFrom within limit: %q, %v", s.buf, err)
	}
	s = &boundedSink{buf: make([]byte, 0, 5)}
	if _, err := s.ReadFrom(strings.NewReader("abcde")); err == nil || !s.tooLarge {
		t.Fatal("ReadFrom past limit accepted")
	}
	s.wipe()
	if !bytes.Equal(s.buf[:cap(s.buf)], make([]byte, 5)) {
		t.Fatal("wipe left data")
	}
}
