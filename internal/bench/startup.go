package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// emptyProgram is the start-up baseline: a static Go binary whose only cost
// is the runtime's own start, built with the flags prestart is built with.
const emptyProgram = "package main\n\nfunc main() {}\n"

// staticFlags are the build flags of every binary the benchmark compares.
var staticFlags = []string{"build", "-trimpath", "-ldflags=-s -w"}

// binaries are the programs the benchmark runs.
type binaries struct {
	prestart, issuer, vault, minio string // given
	barevault, bares3, empty       string // built here
	// The floor of any client built on the official one: barevault with
	// vault/api linked but unused, and a program that only links it.
	barevaultAPI, apiOnly string
}

const barevaultPkg = "github.com/keyturn/keyturn/internal/bench/barevault"

// build compiles the bare clients and the empty programs into dir, with
// CGO_ENABLED=0 and staticFlags, as make bench builds prestart and issuer.
func (b *binaries) build(dir string) error {
	b.barevault = filepath.Join(dir, "barevault")
	b.barevaultAPI = filepath.Join(dir, "barevault-api")
	b.bares3 = filepath.Join(dir, "bares3")
	b.apiOnly = filepath.Join(dir, "apionly")
	b.empty = filepath.Join(dir, "empty")
	for bin, pkg := range map[string]string{b.barevault: barevaultPkg, b.bares3: "github.com/keyturn/keyturn/internal/bench/bares3", b.apiOnly: "github.com/keyturn/keyturn/internal/bench/apionly"} {
		if err := goBuild("", bin, pkg); err != nil {
			return err
		}
	}
	if err := goBuild("", b.barevaultAPI, barevaultPkg, "linkvaultapi"); err != nil {
		return err
	}
	src := filepath.Join(dir, "empty-src")
	if err := os.MkdirAll(src, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(emptyProgram), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module empty\n\ngo 1.22\n"), 0o600); err != nil {
		return err
	}
	return goBuild(src, b.empty, ".")
}

func goBuild(dir, out, pkg string, tags ...string) error {
	args := slices.Concat(staticFlags, []string{"-o", out})
	if len(tags) > 0 {
		args = append(args, "-tags="+strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if dir != "" {
		cmd.Env = append(cmd.Env, "GOWORK=off")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v: %s", pkg, err, out)
	}
	return nil
}

// startupCase times prestart -version, which makes no request, against the
// empty program: the price of package initialisation on every start. The
// program that only links vault/api shows how much of it the official
// client takes before prestart's own code.
func startupCase(b *binaries) *benchCase {
	return &benchCase{id: "startup", title: "start-up alone: prestart -version against an empty Go program and one that only links vault/api", contenders: []contender{
		{name: "prestart -version", prepare: func() (*exec.Cmd, error) { return exec.Command(b.prestart, "-version"), nil }},
		{name: "vault/api alone", prepare: func() (*exec.Cmd, error) { return exec.Command(b.apiOnly), nil }},
		{name: "empty Go program", prepare: func() (*exec.Cmd, error) { return exec.Command(b.empty), nil }},
	}}
}
