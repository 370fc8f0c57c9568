//go:build linux

package hide

import (
	"os"
	"strconv"
	"testing"
)

func TestSupervising(t *testing.T) {
	for args, want := range map[*[]string]bool{
		{"-supervise", "--", "app"}:       true,
		{"--supervise=true", "--", "app"}: true,
		{"-secret", "X=y", "--", "app"}:   false,
		{"--", "app", "-supervise"}:       false,
		{"-supervise=false", "--", "app"}: false,
		{"-supervise=t", "--", "app"}:     true,
		{"-supervise=TRUE", "--", "app"}:  true,
		{"-supervise=0", "--", "app"}:     false,
	} {
		if got := Supervising(*args); got != want {
			t.Errorf("Supervising(%q) = %v, want %v", *args, got, want)
		}
	}
}

// The marker only works with a pipe: a file or terminal named by it from
// outside is ignored, and the marker is removed either way.
func TestReceiveIgnoresNonPipe(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "creds")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("VAULT_TOKEN=injected")
	f.Seek(0, 0)
	t.Setenv("VAULT_TOKEN", "")
	t.Setenv(MarkerEnv, strconv.Itoa(int(f.Fd())))
	ok, err := Receive()
	if ok || err != ErrNotPipe {
		t.Fatalf("Receive = %v, %v; want false, ErrNotPipe", ok, err)
	}
	if v := os.Getenv("VAULT_TOKEN"); v != "" {
		t.Fatalf("VAULT_TOKEN = %q from a file", v)
	}
	if _, set := os.LookupEnv(MarkerEnv); set {
		t.Fatal("marker left in the environment")
	}
}

// Values arrive from the pipe; names outside Names are dropped.
func TestReceiveFromPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("VAULT_SECRET_ID=s-1\x00LD_PRELOAD=/evil.so\x00VAULT_ROLE_ID=r-1")
	w.Close()
	t.Setenv("VAULT_SECRET_ID", "")
	t.Setenv("VAULT_ROLE_ID", "")
	t.Setenv("LD_PRELOAD", "")
	t.Setenv(MarkerEnv, strconv.Itoa(int(r.Fd())))
	ok, err := Receive()
	if !ok || err != nil {
		t.Fatalf("Receive = %v, %v", ok, err)
	}
	if os.Getenv("VAULT_SECRET_ID") != "s-1" || os.Getenv("VAULT_ROLE_ID") != "r-1" {
		t.Fatal("credentials not received")
	}
	if os.Getenv("LD_PRELOAD") != "" {
		t.Fatal("a name that is no credential was accepted")
	}
}
