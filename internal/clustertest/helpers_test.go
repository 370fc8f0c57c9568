package clustertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keyturn/keyturn/internal/dockertest"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// cpSpec is an app container whose entrypoint is cpemu running one of the
// recipes in compose/, with the bootstrap credentials as files.
func cpSpec(t testing.TB, c *Cluster, name, recipe, roleID, wrapped string) dockertest.Spec {
	root, err := vaulttest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(root, "compose", recipe))
	if err != nil {
		t.Fatal(err)
	}
	return dockertest.Spec{
		Name:       name,
		Image:      dockertest.Image("app"),
		Env:        map[string]string{"VAULT_ADDR": VaultAddr, "VAULT_CACERT": CAPath},
		Entrypoint: []string{"/usr/local/bin/cpemu", "/etc/containerpilot.json5"},
		Files: []dockertest.File{
			{Path: CAPath, Data: c.CA.PEM, Mode: 0o644},
			{Path: "/usr/local/bin/cpemu", Data: helper(t, "cpemu"), Mode: 0o755},
			{Path: "/etc/containerpilot.json5", Data: cfg, Mode: 0o644},
			{Path: "/run/keyturn/boot/role-id", Data: []byte(roleID)},
			{Path: "/run/keyturn/boot/secret-id", Data: []byte(wrapped)},
		},
		Wait: wait.ForLog("app: ready").WithStartupTimeout(90 * time.Second),
	}
}

func tlsprobe(t testing.TB) []byte { return helper(t, "tlsprobe") }

// helper builds one of the test's helper commands (testdata/NAME) as a
// static binary for the containers.
func helper(t testing.TB, name string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
