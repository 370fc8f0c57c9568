package scripttest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GnuPG is one operator's own keyring: a short temporary GNUPGHOME (the
// agent's socket path must stay under about 100 characters, which
// t.TempDir() paths can exceed) with one key made by the real gpg. The agent
// has no pinentry, so gpg can never stop a test to ask; a protected key
// needs its passphrase given over loopback.
type GnuPG struct {
	Home        string
	UID         string
	Passphrase  string
	Fingerprint string
}

// NewGnuPG makes the keyring and a key for "Name <name@example.com>". algo
// is a gpg --quick-gen-key algorithm ("future-default" for ed25519/cv25519,
// "rsa2048", ...). The keyring and its agent are removed when tb ends. A
// missing or broken gpg fails the test.
func NewGnuPG(tb testing.TB, name, passphrase, algo string) *GnuPG {
	tb.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		tb.Fatalf("gpg is required; install gnupg (apt-get install -y gnupg): %v", err)
	}
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		tb.Fatal(err)
	}
	display := strings.ToUpper(name[:1]) + name[1:]
	g := &GnuPG{Home: home, UID: fmt.Sprintf("%s <%s@example.com>", display, strings.ToLower(name)), Passphrase: passphrase}
	tb.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = g.env()
		_ = cmd.Run()
		os.RemoveAll(home)
	})
	conf := "default-cache-ttl 0\nmax-cache-ttl 0\nallow-loopback-pinentry\npinentry-program /nonexistent/pinentry\n"
	if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	if _, err := g.Run(nil, "--pinentry-mode", "loopback", "--passphrase", passphrase, "--quick-gen-key", g.UID, algo, "default", "never"); err != nil {
		tb.Fatal(err)
	}
	out, err := g.Run(nil, "--with-colons", "--fingerprint", g.UID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" && len(f) > 9 {
			g.Fingerprint = strings.ToLower(f[9])
			break
		}
	}
	if g.Fingerprint == "" {
		tb.Fatalf("gpg showed no fingerprint for %s", g.UID)
	}
	if algo != "default" && algo != "future-default" {
		// --quick-gen-key adds an encryption subkey only for the default
		// algorithms; a key for shares needs one.
		if _, err := g.Run(nil, "--pinentry-mode", "loopback", "--passphrase", passphrase, "--quick-add-key", g.Fingerprint, algo, "encr", "never"); err != nil {
			tb.Fatal(err)
		}
	}
	return g
}

func (g *GnuPG) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GNUPGHOME=") && !strings.HasPrefix(kv, "GPG_AGENT_INFO=") {
			env = append(env, kv)
		}
	}
	return append(env, "GNUPGHOME="+g.Home)
}

// Run runs gpg in batch mode on this keyring and returns its stdout.
func (g *GnuPG) Run(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command("gpg", append([]string{"--batch", "--yes", "--quiet"}, args...)...)
	cmd.Env = g.env()
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gpg %s: %w\n%s", args[0], err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// PublicKey is `gpg --export --armor`.
func (g *GnuPG) PublicKey() ([]byte, error) { return g.Run(nil, "--export", "--armor", g.UID) }

// SecretKey is `gpg --export-secret-keys --armor`, still protected by the
// passphrase.
func (g *GnuPG) SecretKey() ([]byte, error) {
	return g.Run(nil, "--pinentry-mode", "loopback", "--passphrase", g.Passphrase, "--export-secret-keys", "--armor", g.UID)
}

// DecryptFile does what Vault's documentation tells operators to do with a
// key file: `base64 -d < FILE | gpg -dq`. The plaintext is for tests to
// register as a secret or compare; never print it.
func (g *GnuPG) DecryptFile(path string) ([]byte, error) {
	b64, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	msg, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	if err != nil {
		return nil, fmt.Errorf("%s is not base64: %w", path, err)
	}
	args := []string{"--decrypt"}
	if g.Passphrase != "" {
		args = append([]string{"--pinentry-mode", "loopback", "--passphrase", g.Passphrase}, args...)
	}
	return g.Run(msg, args...)
}

// unsealScript is the per-script state of the unseal commands.
