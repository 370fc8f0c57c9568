package launch

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestEnvDropsBootstrapCredentials(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/root", "VAULT_ADDR=https://v", "VAULT_TOKEN=t", "VAULT_ROLE_ID=r",
		"VAULT_SECRET_ID=s", "VAULT_WRAPPED_SECRET_ID=w", "DB_PASSWORD=old"}
	got := Env(base, map[string]string{"DB_PASSWORD": "new", "API_KEY": "k"}, EnvOptions{})
	want := []string{"PATH=/bin", "HOME=/root", "VAULT_ADDR=https://v", "API_KEY=k", "DB_PASSWORD=new"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestEnvPristineAndPassToken(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/root", "AWS_SECRET_ACCESS_KEY=x", "VAULT_TOKEN=old"}
	got := Env(base, map[string]string{"A": "1"}, EnvOptions{Pristine: true, Keep: []string{"PATH", "VAULT_TOKEN"}, Token: "tok"})
	want := []string{"PATH=/bin", "A=1", "VAULT_TOKEN=tok"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestResolveCodes(t *testing.T) {
	var le *Error
	if _, err := Resolve("keyturn-no-such-command"); !errors.As(err, &le) || le.Code != 127 {
		t.Fatalf("missing command: %v", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "notexec")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(p); !errors.As(err, &le) || le.Code != 126 {
		t.Fatalf("non-executable file: %v", err)
	}
	if path, err := Resolve("sh"); err != nil || !filepath.IsAbs(path) {
		t.Fatalf("sh: %q %v", path, err)
	}
}
