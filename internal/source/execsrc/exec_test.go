package execsrc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyturn/keyturn/internal/envfile"
	"github.com/keyturn/keyturn/internal/source"
)

func read(t *testing.T, r *Reader, ref string) (*source.Result, error) {
	t.Helper()
	parsed, err := source.ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Read(ctx, parsed)
}

func TestReadPorterTool(t *testing.T) {
	var stderr bytes.Buffer
	r := &Reader{Stderr: &stderr, Environ: []string{"PATH=/usr/bin:/bin", "REGION=us-west-2"}}
	// Porter's secrets-retriever -region us-west-2, as a shell one-liner.
	res, err := read(t, r, `exec:sh -c 'echo "# comment on SUPER_SECRET_SECRET"; echo SUPER_SECRET_SECRET=dont_tell_anyone; echo; echo FOO=bar; echo "region $1" >&2' x "-region us-west-2"`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || res.Data["SUPER_SECRET_SECRET"] != "dont_tell_anyone" || res.Data["FOO"] != "bar" {
		t.Fatalf("data %q", res.Data)
	}
	if got := stderr.String(); got != "region -region us-west-2\n" {
		t.Fatalf("stderr %q", got)
	}
}

func TestReadFailsClosed(t *testing.T) {
	var stderr bytes.Buffer
	r := &Reader{Stderr: &stderr, Environ: []string{"PATH=/usr/bin:/bin", "X=hunter2-not-an-env-file"}}
	_, err := read(t, r, `exec:sh -c 'echo A=1; echo "vault is down" >&2; exit 3'`)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || ee.Command != "sh" {
		t.Fatalf("got %v", err)
	}
	if stderr.String() != "vault is down\n" {
		t.Fatalf("stderr not passed through: %q", stderr.String())
	}
	if _, err := read(t, r, "exec:/nonexistent/tool"); err == nil {
		t.Fatal("a missing command loaded")
	}
	if _, err := read(t, r, `exec:sh -c 'echo "$X"'`); !errors.Is(err, envfile.ErrSyntax) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %v", err)
	}
	if _, err := read(t, r, `exec:sh -c 'head -c 2000000 /dev/zero | tr "\0" A'`); !errors.Is(err, envfile.ErrTooBig) {
		t.Fatalf("got %v", err)
	}
	if _, err := read(t, r, `exec:sh -c 'echo A=1`); err == nil {
		t.Fatal("unbalanced quote accepted")
	}
}

func TestReadDropsBootstrapCredentials(t *testing.T) {
	r := &Reader{Environ: []string{"PATH=/usr/bin:/bin", "VAULT_WRAPPED_SECRET_ID=w", "VAULT_SECRET_ID=s", "VAULT_TOKEN=t", "VAULT_ROLE_ID=r", "KEEP=k"}}
	res, err := read(t, r, `exec:sh -c 'echo "SEEN=${VAULT_WRAPPED_SECRET_ID}${VAULT_SECRET_ID}${VAULT_TOKEN}${VAULT_ROLE_ID}${KEEP}"'`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Data["SEEN"] != "k" {
		t.Fatalf("the command saw %q", res.Data["SEEN"])
	}
}

func TestReadTimeout(t *testing.T) {
	r := &Reader{}
	parsed, _ := source.ParseRef("exec:sleep 30")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := r.Read(ctx, parsed); err == nil {
		t.Fatal("no error")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the command was not stopped at the deadline")
	}
}

// TestReadTimeoutStopsTheGroup: a shell stopped at the deadline leaves its
// own children behind, and one of them holding the output pipe would keep
// the read waiting for it; the whole group is stopped instead.
func TestReadTimeoutStopsTheGroup(t *testing.T) {
	r := &Reader{Environ: []string{"PATH=/usr/bin:/bin"}}
	parsed, _ := source.ParseRef(`exec:sh -c "sleep 30; echo A=1"`)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := r.Read(ctx, parsed); err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the read returned after %v: the shell's child was not stopped", d)
	}
}

func TestSplit(t *testing.T) {
	argv, err := Split(`tool -region "us west" 'a b' c\ d`)
	if err != nil || strings.Join(argv, "|") != "tool|-region|us west|a b|c d" {
		t.Fatalf("%q %v", argv, err)
	}
	if _, err := Split("   "); err == nil {
		t.Fatal("empty command accepted")
	}
}

// TestConcurrentSourcesShareStderr: exec: sources are read concurrently and
// write their diagnostics to one Stderr; every line must arrive whole.
func TestConcurrentSourcesShareStderr(t *testing.T) {
	var stderr bytes.Buffer
	r := &Reader{Stderr: &stderr, Environ: []string{"PATH=/usr/bin:/bin"}}
	var reqs []source.Request
	for i := range 4 {
		req, err := source.ParseSecrets(fmt.Sprintf(`exec:sh -c 'for j in $(seq 200); do echo "source%d line $j" >&2; done; echo V%d=x'`, i, i))
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	env, _, err := source.Collect(context.Background(), source.Readers{"exec": r}, reqs, false)
	if err != nil || len(env.Vars()) != 4 {
		t.Fatalf("%v %v", env, err)
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d stderr lines, want 800", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "source") || len(strings.Fields(l)) != 3 {
			t.Fatalf("mangled stderr line %q", l)
		}
	}
}
