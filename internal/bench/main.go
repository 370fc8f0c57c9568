// Command bench measures how long it takes to get from a one-time AppRole
// credential to a running application that holds its secret, three ways, on
// one loopback dev Vault in one run, alternating them so that machine noise
// hits all three alike:
//
//   - prestart: unwrap (after the creation_path check), log in, read, execve;
//   - Vault Agent in process-supervisor mode (auto_auth approle with a
//     wrapped secret ID, one env_template, exec), built from the same Vault;
//   - the shell way: vault write auth/approle/login, vault kv
//     get, exec.
//
// Before that it times prestart -version, which makes no request, against
// an empty Go program (startup.go): the price of package initialisation on
// every container start.
//
// It prints the medians and the ratios, the size of prestart's static
// binary, and prestart's resident memory in supervise mode. It is a
// benchmark, not a test: nothing here passes or fails on a time.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"
)

func main() {
	n := flag.Int("n", 15, "rounds (each runs all three once)")
	prestart := flag.String("prestart", "bin/prestart-static", "prestart binary (static build)")
	vault := flag.String("vault", "bin/vault", "vault binary")
	startupN := flag.Int("startup", 200, "rounds of the start-up case (prestart -version vs an empty Go program); 0 skips it")
	startupOnly := flag.Bool("startup-only", false, "run only the start-up case, which needs no Vault")
	flag.Parse()
	if *startupN > 0 || *startupOnly {
		p, err := filepath.Abs(*prestart)
		if err == nil {
			err = startup(max(*startupN, 1), p)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: error: start-up:", err)
			os.Exit(1)
		}
		if *startupOnly {
			return
		}
		fmt.Println()
	}
	if err := run(*n, *prestart, *vault); err != nil {
		fmt.Fprintln(os.Stderr, "bench: error:", err)
		os.Exit(1)
	}
}

type env struct {
	dir, vault, prestart, addr string
	root                       *api.Client
	roleID                     string
}

func run(n int, prestartBin, vaultBin string) error {
	var err error
	e := &env{}
	if e.prestart, err = filepath.Abs(prestartBin); err != nil {
		return err
	}
	if e.vault, err = filepath.Abs(vaultBin); err != nil {
		return err
	}
	for _, b := range []string{e.prestart, e.vault} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%w (run `make bench`, which builds it)", err)
		}
	}
	if e.dir, err = os.MkdirTemp("", "keyturn-bench"); err != nil {
		return err
	}
	defer os.RemoveAll(e.dir)
	stop, err := e.startVault()
	if err != nil {
		return err
	}
	defer stop()
	if err := e.setup(); err != nil {
		return err
	}
	methods := []struct {
		name string
		fn   func() (time.Duration, error)
	}{
		{"prestart", e.runPrestart},
		{"vault agent (exec mode)", e.runAgent},
		{"shell (vault login + kv get + exec)", e.runShell},
	}
	times := make([][]time.Duration, len(methods))
	// One warm-up round each, not counted: page cache and Vault's own
	// first-request costs.
	for _, m := range methods {
		if _, err := m.fn(); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
	for i := 0; i < n; i++ {
		for j := range methods {
			k := (i + j) % len(methods)
			d, err := methods[k].fn()
			if err != nil {
				return fmt.Errorf("%s: %w", methods[k].name, err)
			}
			times[k] = append(times[k], d)
		}
	}
	fmt.Printf("start-to-exec of a trivial app with one KV secret, loopback dev Vault, %d alternating rounds\n\n", n)
	med := make([]time.Duration, len(methods))
	for k, m := range methods {
		med[k] = median(times[k])
		fmt.Printf("  %-38s median %9.2f ms   min %9.2f ms   max %9.2f ms\n", m.name, ms(med[k]), ms(minD(times[k])), ms(maxD(times[k])))
	}
	fmt.Printf("\n  vault agent / prestart  = %6.1fx\n", float64(med[1])/float64(med[0]))
	fmt.Printf("  shell / prestart        = %6.1fx\n", float64(med[2])/float64(med[0]))
	if fi, err := os.Stat(e.prestart); err == nil {
		fmt.Printf("\n  prestart static binary (CGO_ENABLED=0 -trimpath -ldflags='-s -w'): %.1f MB\n", float64(fi.Size())/1e6)
	}
	if rss, err := e.superviseRSS(); err != nil {
		fmt.Printf("  prestart -supervise RSS: not measured (%v)\n", err)
	} else {
		fmt.Printf("  prestart -supervise RSS after start: %.1f MB\n", float64(rss)/1024)
	}
	return nil
}

func (e *env) startVault() (func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	token := "root-" + randHex(16)
	cmd := exec.Command(e.vault, "server", "-dev", "-dev-no-store-token", "-dev-listen-address=127.0.0.1:"+strconv.Itoa(port), "-log-level=error")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.dir, "VAULT_DEV_ROOT_TOKEN_ID=" + token}
	logf, err := os.Create(filepath.Join(e.dir, "vault.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait(); logf.Close() }
	e.addr = fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := api.DefaultConfig()
	cfg.Address = e.addr
	c, err := api.NewClient(cfg)
	if err != nil {
		stop()
		return nil, err
	}
	c.SetToken(token)
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	e.root = c
	for i := 0; i < 300; i++ {
		if h, err := c.Sys().Health(); err == nil && h.Initialized && !h.Sealed {
			return stop, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return nil, errors.New("vault did not start")
}

func (e *env) setup() error {
	c := e.root
	if err := c.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		return err
	}
	if err := c.Sys().PutPolicy("app", `path "secret/data/app/*" { capabilities = ["read"] }`); err != nil {
		return err
	}
	if _, err := c.Logical().Write("auth/approle/role/app", map[string]any{
		"token_policies": "app", "secret_id_num_uses": 1, "secret_id_ttl": "10m", "token_ttl": "1h", "token_max_ttl": "24h",
	}); err != nil {
		return err
	}
	if _, err := c.KVv2("secret").Put(context.Background(), "app/db", map[string]any{"password": "orange1"}); err != nil {
		return err
	}
	sec, err := c.Logical().Read("auth/approle/role/app/role-id")
	if err != nil {
		return err
	}
	e.roleID = sec.Data["role_id"].(string)
	return os.WriteFile(filepath.Join(e.dir, "role.id"), []byte(e.roleID), 0o600)
}

// mint returns a fresh one-time secret ID, wrapped or bare. Minting is the
// launcher's job and is not timed.
func (e *env) mint(wrapped bool) (string, error) {
	c, err := e.root.Clone()
	if err != nil {
		return "", err
	}
	c.SetToken(e.root.Token())
	c.SetWrappingLookupFunc(func(string, string) string {
		if wrapped {
			return "120s"
		}
		return ""
	})
	sec, err := c.Logical().Write("auth/approle/role/app/secret-id", nil)
	if err != nil {
		return "", err
	}
	if wrapped {
		return sec.WrapInfo.Token, nil
	}
	return sec.Data["secret_id"].(string), nil
}

const app = `test "$DB_PASSWORD" = orange1`

func (e *env) runPrestart() (time.Duration, error) {
	w, err := e.mint(true)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(e.prestart, "-role", "app", "-secret", "DB_PASSWORD=vault://secret/app/db#password", "--", "/bin/sh", "-c", app)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "VAULT_ADDR=" + e.addr, "VAULT_ROLE_ID=" + e.roleID, "VAULT_WRAPPED_SECRET_ID=" + w}
	return timed(cmd)
}

func (e *env) runAgent() (time.Duration, error) {
	w, err := e.mint(true)
	if err != nil {
		return 0, err
	}
	sid := filepath.Join(e.dir, "secret.id")
	if err := os.WriteFile(sid, []byte(w), 0o600); err != nil {
		return 0, err
	}
	cfg := filepath.Join(e.dir, "agent.hcl")
	hcl := fmt.Sprintf(`
vault { address = %q }
auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = %q
      secret_id_file_path                 = %q
      remove_secret_id_file_after_reading = true
      secret_id_response_wrapping_path    = "auth/approle/role/app/secret-id"
    }
  }
}
template_config { exit_on_retry_failure = true }
env_template "DB_PASSWORD" {
  contents             = "{{ with secret \"secret/data/app/db\" }}{{ .Data.data.password }}{{ end }}"
  error_on_missing_key = true
}
exec {
  command                   = ["/bin/sh", "-c", %q]
  restart_on_secret_changes = "never"
}
`, e.addr, filepath.Join(e.dir, "role.id"), sid, app)
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		return 0, err
	}
	cmd := exec.Command(e.vault, "agent", "-config="+cfg, "-log-level=error")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.dir}
	return timed(cmd)
}

func (e *env) runShell() (time.Duration, error) {
	sid, err := e.mint(false)
	if err != nil {
		return 0, err
	}
	script := fmt.Sprintf(`set -e
VAULT_TOKEN=$(printf %%s "$SECRET_ID" | %[1]s write -field=token auth/approle/login role_id="$ROLE_ID" secret_id=-)
export VAULT_TOKEN
DB_PASSWORD=$(%[1]s kv get -field=password secret/app/db)
export DB_PASSWORD
unset VAULT_TOKEN SECRET_ID ROLE_ID
exec /bin/sh -c '%[2]s'
`, e.vault, app)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.dir, "VAULT_ADDR=" + e.addr, "ROLE_ID=" + e.roleID, "SECRET_ID=" + sid}
	return timed(cmd)
}

func timed(cmd *exec.Cmd) (time.Duration, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out.String())
	}
	return d, nil
}

// superviseRSS starts prestart -supervise around a sleeping child and reads
// prestart's resident set size once it has settled.
func (e *env) superviseRSS() (int, error) {
	w, err := e.mint(true)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(e.prestart, "-supervise", "-role", "app", "-secret", "DB_PASSWORD=vault://secret/app/db#password", "--", "/bin/sleep", "5")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "VAULT_ADDR=" + e.addr, "VAULT_ROLE_ID=" + e.roleID, "VAULT_WRAPPED_SECRET_ID=" + w}
	var out strings.Builder
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	time.Sleep(2 * time.Second)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("prestart exited early: %s", strings.TrimSpace(out.String()))
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			kb, err := strconv.Atoi(f[0])
			return kb, err
		}
	}
	return 0, errors.New("no VmRSS")
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration{}, d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func minD(d []time.Duration) time.Duration {
	m := d[0]
	for _, v := range d {
		m = min(m, v)
	}
	return m
}

func maxD(d []time.Duration) time.Duration {
	m := d[0]
	for _, v := range d {
		m = max(m, v)
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
