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

func TestLookPathCodes(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "notexec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(dir, "tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cmd string
		env       []string
		code      int
	}{
		{"missing", "keyturn-no-such-command", nil, CodeNotFound},
		{"empty", "", nil, CodeNotFound},
		{"missing path", filepath.Join(dir, "missing"), nil, CodeNotFound},
		{"not executable", notExec, nil, CodeNotExecutable},
		{"directory", dir, nil, CodeNotExecutable},
		{"not executable in the child's PATH", "notexec", []string{"PATH=" + dir}, CodeNotExecutable},
		// The child's PATH decides, not this process's: sh is in ours.
		{"not in the child's PATH", "sh", []string{"PATH=" + dir}, CodeNotFound},
		{"relative PATH entry skipped", "tool", []string{"PATH=" + rel}, CodeNotFound},
	} {
		_, err := LookPath(tc.cmd, tc.env)
		var le *Error
		if !errors.As(err, &le) || le.Code != tc.code {
			t.Errorf("%s: got %v, want code %d", tc.name, err, tc.code)
		}
	}
	// The messages a shell user knows, the same in exec and supervise mode.
	if _, err := LookPath("keyturn-no-such-command", nil); err == nil || err.Error() != `command "keyturn-no-such-command" not found` {
		t.Errorf("message %v", err)
	}
	if _, err := LookPath(notExec, nil); err == nil || err.Error() != `command "`+notExec+`" cannot be executed: permission denied` {
		t.Errorf("message %v", err)
	}
	if got, err := LookPath("tool", []string{"PATH=/nonexistent:" + dir}); err != nil || got != tool {
		t.Fatalf("tool in the child's PATH: %q %v", got, err)
	}
	if got, err := LookPath("sh", []string{"HOME=/"}); err != nil || !filepath.IsAbs(got) {
		t.Fatalf("no PATH in env falls back to ours: %q %v", got, err)
	}
}
