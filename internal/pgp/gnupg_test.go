package pgp

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The tests run the real gpg. The keyring is built once per test binary
// (RSA key generation takes seconds) in a short temporary GNUPGHOME: the
// agent's socket path must stay under about 100 characters, which
// t.TempDir() paths can exceed.

const bobPassphrase = "correct horse battery staple"

type testKey struct {
	email       string
	fingerprint string // as gpg reports it, lowercased
	armored     []byte // gpg --export --armor
	binary      []byte // gpg --export
	secret      []byte // gpg --export-secret-keys --armor, if kept
	secretBin   []byte // gpg --export-secret-keys
	passphrase  string
}

type gnupgFixture struct {
	home  string
	alice testKey // RSA (gpg's default), no passphrase
	bob   testKey // ed25519 + cv25519, passphrase-protected
	carol testKey // signing only, no encryption subkey
	old   testKey // made in 2020 with a one-year lifetime, so expired
	dave  testKey // revoked
}

var (
	fixtureOnce sync.Once
	fixture     *gnupgFixture
	fixtureErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture != nil {
		killAgent(fixture.home)
		os.RemoveAll(fixture.home)
	}
	os.Exit(code)
}

// gnupg returns the shared keyring, failing the test (never skipping) when
// gpg is missing or broken.
func gnupg(t testing.TB) *gnupgFixture {
	t.Helper()
	fixtureOnce.Do(func() { fixture, fixtureErr = buildFixture() })
	if fixtureErr != nil {
		t.Fatalf("gnupg test keyring: %v", fixtureErr)
	}
	return fixture
}

func buildFixture() (*gnupgFixture, error) {
	if _, err := exec.LookPath("gpg"); err != nil {
		return nil, fmt.Errorf("gpg is required for these tests; install gnupg (apt-get install -y gnupg): %w", err)
	}
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		return nil, err
	}
	f := &gnupgFixture{home: home}
	// Without caching, every use of Bob's key needs the passphrase, so
	// tests of missing and wrong passphrases do not depend on test order.
	// No usable pinentry: a test run from a terminal must never stop to ask.
	conf := "default-cache-ttl 0\nmax-cache-ttl 0\nallow-loopback-pinentry\npinentry-program /nonexistent/pinentry\n"
	if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte(conf), 0o600); err != nil {
		return f, err
	}
	gen := func(k *testKey, uid, pass string, extra []string, algo, usage, expire string) error {
		k.email = uid[strings.Index(uid, "<")+1 : len(uid)-1]
		k.passphrase = pass
		args := append([]string{"--pinentry-mode", "loopback", "--passphrase", pass}, extra...)
		args = append(args, "--quick-gen-key", uid, algo, usage, expire)
		if _, err := gpgRun(home, nil, args...); err != nil {
			return err
		}
		return nil
	}
	steps := []struct {
		k                   *testKey
		uid, pass           string
		extra               []string
		algo, usage, expire string
	}{
		{&f.alice, "Alice <alice@example.com>", "", nil, "default", "default", "never"},
		{&f.bob, "Bob <bob@example.com>", bobPassphrase, nil, "future-default", "default", "never"},
		{&f.carol, "Carol <carol@example.com>", "", nil, "ed25519", "sign", "never"},
		{&f.old, "Old <old@example.com>", "", []string{"--faked-system-time", "20200101T000000!"}, "future-default", "default", "1y"},
		{&f.dave, "Dave <dave@example.com>", "", nil, "future-default", "default", "never"},
	}
	for _, s := range steps {
		if err := gen(s.k, s.uid, s.pass, s.extra, s.algo, s.usage, s.expire); err != nil {
			return f, err
		}
	}
	// gpg keeps a revocation certificate for every key it makes, with the
	// armor header escaped by a leading colon against accidental import.
	for _, k := range []*testKey{&f.alice, &f.bob, &f.carol, &f.old, &f.dave} {
		if k.fingerprint, err = gpgFingerprint(home, k.email); err != nil {
			return f, err
		}
	}
	rev, err := os.ReadFile(filepath.Join(home, "openpgp-revocs.d", strings.ToUpper(f.dave.fingerprint)+".rev"))
	if err != nil {
		return f, err
	}
	rev = bytes.Replace(rev, []byte(":-----BEGIN"), []byte("-----BEGIN"), 1)
	if _, err := gpgRun(home, rev, "--import"); err != nil {
		return f, err
	}
	for _, k := range []*testKey{&f.alice, &f.bob, &f.carol, &f.old, &f.dave} {
		if k.armored, err = gpgRun(home, nil, "--export", "--armor", k.email); err != nil {
			return f, err
		}
		if k.binary, err = gpgRun(home, nil, "--export", k.email); err != nil {
			return f, err
		}
		sec := []string{"--pinentry-mode", "loopback", "--passphrase", k.passphrase, "--export-secret-keys"}
		if k.secret, err = gpgRun(home, nil, append(sec, "--armor", k.email)...); err != nil {
			return f, err
		}
		if k.secretBin, err = gpgRun(home, nil, append(sec, k.email)...); err != nil {
			return f, err
		}
		if len(k.binary) == 0 || len(k.secretBin) == 0 {
			return f, fmt.Errorf("gpg exported nothing for %s", k.email)
		}
	}
	return f, nil
}

// gpgEnv is the environment for gpg runs in tests: the test keyring, and
// nothing that could reach a real agent or terminal.
func gpgEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GNUPGHOME=") || strings.HasPrefix(kv, "GPG_AGENT_INFO=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GNUPGHOME="+home)
}

// gpgRun runs gpg in batch mode on the test keyring and returns stdout.
func gpgRun(home string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command("gpg", append([]string{"--batch", "--yes", "--quiet"}, args...)...)
	cmd.Env = gpgEnv(home)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gpg %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// gpgFingerprint asks gpg for the primary key's fingerprint.
func gpgFingerprint(home, who string) (string, error) {
	out, err := gpgRun(home, nil, "--with-colons", "--fingerprint", who)
	if err != nil {
		return "", err
	}
	inPrimary := false
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Split(line, ":")
		switch fields[0] {
		case "pub":
			inPrimary = true
		case "sub":
			inPrimary = false
		case "fpr":
			if inPrimary && len(fields) > 9 {
				return strings.ToLower(fields[9]), nil
			}
		}
	}
	return "", fmt.Errorf("no fingerprint for %s in:\n%s", who, out)
}

// shortHome makes an extra, empty GNUPGHOME for one test, short enough for
// gpg-agent's socket path, and removes it (and any agent) afterwards.
func shortHome(t testing.TB) string {
	t.Helper()
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killAgent(home)
		os.RemoveAll(home)
	})
	return home
}

func killAgent(home string) {
	cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
	cmd.Env = gpgEnv(home)
	_ = cmd.Run()
}

// gpgEncrypt encrypts with gpg itself to the given recipient.
func (f *gnupgFixture) gpgEncrypt(t testing.TB, plaintext []byte, to string, extra ...string) []byte {
	t.Helper()
	args := append([]string{"--trust-model", "always", "--encrypt", "--recipient", to}, extra...)
	out, err := gpgRun(f.home, plaintext, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gpgDecrypt decrypts with gpg -dq, supplying a passphrase when given.
func (f *gnupgFixture) gpgDecrypt(t testing.TB, ciphertext []byte, passphrase string) []byte {
	t.Helper()
	args := []string{"--decrypt"}
	if passphrase != "" {
		args = append([]string{"--pinentry-mode", "loopback", "--passphrase", passphrase}, args...)
	}
	out, err := gpgRun(f.home, ciphertext, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
