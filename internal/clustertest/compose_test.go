package clustertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/vaulttest"
)

// compose runs Debian's docker-compose (v1) on the blueprint as shipped.
type compose struct {
	file, project string
	env           []string
}

func (d *compose) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-f", d.file, "-p", d.project}, args...)...)
	cmd.Env = append(os.Environ(), d.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (d *compose) must(ctx context.Context, t testing.TB, args ...string) string {
	t.Helper()
	out, err := d.run(ctx, args...)
	if err != nil {
		t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestComposeBlueprint brings up compose/docker-compose.yml itself: three
// Vault nodes with certificates from compose/tls.sh, unsealed by two
// operators; the launcher service mints; the app starts through prestart.
func TestComposeBlueprint(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is required (apt-get install -y docker-compose)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := vaulttest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	d := &compose{
		file:    filepath.Join(root, "compose", "docker-compose.yml"),
		project: "kttest" + hex.EncodeToString(b),
		env: []string{
			"KEYTURN_TLS=" + filepath.Join(dir, "tls"),
			"KEYTURN_LAUNCHER=" + filepath.Join(dir, "launcher"),
		},
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			out, _ := d.run(ctx, "--profile", "tools", "logs", "--no-color")
			t.Logf("--- docker-compose logs ---\n%s", out)
		}
		if out, err := d.run(ctx, "--profile", "tools", "--profile", "s3", "down", "-v", "--remove-orphans", "-t", "2"); err != nil {
			t.Logf("docker-compose down: %v\n%s", err, out)
		}
	})
	tls := exec.CommandContext(ctx, filepath.Join(root, "compose", "tls.sh"), filepath.Join(dir, "tls"))
	if out, err := tls.CombinedOutput(); err != nil {
		t.Fatalf("compose/tls.sh: %v\n%s", err, out)
	}

	d.must(ctx, t, "up", "-d", "vault-1", "vault-2", "vault-3")
	var addrs []string
	for _, n := range []string{"vault-1", "vault-2", "vault-3"} {
		hp := strings.TrimSpace(d.must(ctx, t, "port", n, "8200"))
		addrs = append(addrs, "https://"+hp)
	}
	c := ExternalCluster(t, addrs, filepath.Join(dir, "tls", "ca.pem"))
	waitStatus(ctx, t, c, time.Minute, func(out string) bool { return strings.Count(out, "uninitialized") == 3 })
	c.Init(ctx, t)
	waitStatus(ctx, t, c, time.Minute, func(out string) bool {
		return strings.Count(out, " active ") == 1 && strings.Count(out, " standby ") == 2
	})
	c.Prepare(ctx, t)

	sec, err := c.Root.Auth().Token().CreateWithRoleWithContext(ctx, &api.TokenCreateRequest{}, "keyturn-launcher-ci")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "launcher"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "launcher", "token"), []byte(sec.Auth.ClientToken))

	d.must(ctx, t, "--profile", "tools", "run", "--rm", "launcher")
	d.must(ctx, t, "up", "-d", "app")
	var logs string
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(logs, "app: ready") {
		if time.Now().After(deadline) {
			t.Fatalf("the app did not start:\n%s", logs)
		}
		time.Sleep(time.Second)
		logs = d.must(ctx, t, "logs", "--no-color", "app")
	}
	if !strings.Contains(logs, "app: DB_PASSWORD is set (7 characters)") || strings.Contains(logs, "bootstrap credential") {
		t.Fatalf("app log:\n%s", logs)
	}
	// The one-time ID was consumed: prestart removed its file.
	if out := d.must(ctx, t, "exec", "-T", "app", "ls", "/run/keyturn/boot"); strings.Contains(out, "secret-id") {
		t.Errorf("the secret ID file is still there after the start:\n%s", out)
	}
	// PID 1 of the app container is prestart.
	if out := d.must(ctx, t, "exec", "-T", "app", "cat", "/proc/1/cmdline"); !strings.HasPrefix(out, "/usr/local/bin/prestart") {
		t.Errorf("PID 1 is %q", out)
	}
}
