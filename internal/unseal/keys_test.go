package unseal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/internal/scripttest"
)

func TestReadRecipients(t *testing.T) {
	alice := scripttest.NewGnuPG(t, "alice", "", "future-default")
	bob := scripttest.NewGnuPG(t, "bob", "", "future-default")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	apub, _ := alice.PublicKey()
	bpub, _ := bob.PublicKey()
	a := write("alice.asc", apub)
	b := write("bob.asc", bpub)
	rs, err := ReadRecipients([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].OutName() != "alice.asc.key" || rs[1].Key.Fingerprint() != bob.Fingerprint || rs[1].Key.UserID() != "Bob <bob@example.com>" {
		t.Fatalf("recipients %s %s %q", rs[0].OutName(), rs[1].Key.Fingerprint(), rs[1].Key.UserID())
	}
	a2 := write("copy/alice-too.asc", apub)
	if _, err := ReadRecipients([]string{a, b, a2}); err == nil || !strings.Contains(err.Error(), "same key") {
		t.Fatalf("same key twice: %v", err)
	}
	b2 := write("other/alice.asc", bpub)
	if _, err := ReadRecipients([]string{a, b2}); err == nil || !strings.Contains(err.Error(), "would both write alice.asc.key") {
		t.Fatalf("colliding names: %v", err)
	}
	rt := write("root-token", apub)
	if _, err := ReadRecipients([]string{rt}); err == nil || !strings.Contains(err.Error(), "root token file") {
		t.Fatalf("root-token name: %v", err)
	}
	if _, err := ReadRecipients([]string{filepath.Join(dir, "missing.asc")}); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestPrepareOutDir(t *testing.T) {
	base := t.TempDir()
	out := filepath.Join(base, "keys")
	if err := PrepareOutDir(out, []string{"a.key"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created %v %v, want mode 0700", fi.Mode(), err)
	}
	if err := os.WriteFile(filepath.Join(out, "a.key"), []byte("old share"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := PrepareOutDir(out, []string{"b.key", "a.key"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("existing file: %v", err)
	}
	if err := PrepareOutDir(filepath.Join(base, "no", "such"), nil); err == nil {
		t.Fatal("missing parent accepted")
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Fatalf("the probe file was left behind: %v", entries)
	}
}

func TestCheckInitPlan(t *testing.T) {
	for _, c := range []struct {
		shares, threshold, keys int
		ok                      bool
	}{
		{3, 2, 3, true},
		{1, 1, 1, true},
		{5, 5, 5, true},
		{3, 2, 2, false}, // keys != shares
		{3, 1, 3, false}, // threshold 1 with several keys
		{3, 4, 3, false},
		{0, 0, 0, false},
		{2, 0, 2, false},
	} {
		err := CheckInitPlan(c.shares, c.threshold, c.keys)
		if (err == nil) != c.ok {
			t.Errorf("shares %d threshold %d keys %d: %v", c.shares, c.threshold, c.keys, err)
		}
	}
}

func TestRekeyFileNames(t *testing.T) {
	alice := scripttest.NewGnuPG(t, "alice", "", "future-default")
	pub, _ := alice.PublicKey()
	p := filepath.Join(t.TempDir(), "alice.asc")
	os.WriteFile(p, pub, 0o600)
	rs, err := ReadRecipients([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	got := RekeyFileNames([]string{strings.ToUpper(alice.Fingerprint), "abcd", "abcd"}, rs)
	want := []string{"alice.asc.key", "abcd.key", "abcd-2.key"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("names %q, want %q", got, want)
	}
}
