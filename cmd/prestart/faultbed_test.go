package main

// The fault test bed: a real Vault, a faultproxy in front of it, and the
// prestart binary (on PATH through testscript.Main) pointed at the proxy,
// supervising a small shell app. The tests in fault_test.go break the
// connection in one way each and check what the app sees, what prestart
// does, and its exit code.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/faultproxy"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

// faultApp records every start with the value it got, and its PID.
const faultApp = `echo $$ > app.pid
echo "start $P" >> seen.txt
trap 'echo "got TERM with $P" > term.txt; exit 0' TERM
while :; do sleep 0.1; done
`

type bed struct {
	t      *testing.T
	root   *api.Client
	proxy  *faultproxy.Proxy
	addr   string // what prestart is pointed at
	caCert string
	roleID string
	secret string // the value of secret/app/db#password
	dir    string
}

// newBed starts a dev Vault with an AppRole role "app" (3s tokens,
// reusable secret IDs) and a KV secret, and an HTTP-mode proxy in front.
func newBed(t *testing.T) *bed {
	t.Helper()
	s := vaulttest.StartDev(t)
	p, err := faultproxy.New(strings.TrimPrefix(s.Addr, "http://"), faultproxy.HTTP())
	if err != nil {
		t.Fatal(err)
	}
	return bedOn(t, s.RootClient(t), p, "http", "")
}

// bedOn sets up the role and the secret with root, on a server whose KV v2
// is mounted at secret/, for prestart to reach through p.
func bedOn(t *testing.T, root *api.Client, p *faultproxy.Proxy, scheme, caCert string) *bed {
	t.Helper()
	t.Cleanup(func() { p.Close() })
	b := &bed{t: t, root: root, proxy: p, addr: p.URL(scheme), caCert: caCert, dir: t.TempDir()}
	b.setupVault("3s", "1h")
	return b
}

// setupVault enables AppRole and writes the role, its policy and the
// secret.
func (b *bed) setupVault(ttl, maxTTL string) {
	t := b.t
	t.Helper()
	ctx := context.Background()
	if err := b.root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if err := b.root.Sys().PutPolicy("app-read", `path "secret/data/app/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.root.Logical().Write("auth/approle/role/app", map[string]any{
		"token_policies": "app-read", "token_ttl": ttl, "token_max_ttl": maxTTL, "secret_id_num_uses": 0,
	}); err != nil {
		t.Fatal(err)
	}
	rid, err := approle.RoleID(ctx, b.root, "approle", "app")
	if err != nil {
		t.Fatal(err)
	}
	b.roleID = rid
	b.secret = "pw-" + randHex(t, 12)
	if _, err := b.root.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": b.secret}); err != nil {
		t.Fatal(err)
	}
}

func randHex(t *testing.T, n int) string {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(buf)
}

// env is prestart's environment: the proxy's address, the role ID and a
// newly minted wrapped secret ID, plus extra NAME=VALUE pairs.
func (b *bed) env(extra ...string) (env []string, wrapping string) {
	t := b.t
	t.Helper()
	m, err := approle.Mint(context.Background(), b.root, "approle", "app")
	if err != nil {
		t.Fatal(err)
	}
	env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.dir, "VAULT_ADDR=" + b.addr,
		"VAULT_ROLE_ID=" + b.roleID, "VAULT_WRAPPED_SECRET_ID=" + m.WrappingToken}
	if b.caCert != "" {
		env = append(env, "VAULT_CACERT="+b.caCert)
	}
	return append(env, extra...), m.WrappingToken
}

// run runs prestart to its end and returns its exit code, how long it
// took, and its stdout and stderr.
func (b *bed) run(env []string, args ...string) (code int, took time.Duration, stdout, stderr string) {
	b.t.Helper()
	cmd := exec.Command("prestart", args...)
	cmd.Dir, cmd.Env = b.dir, env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took = time.Since(start)
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		b.t.Fatalf("prestart: %v", err)
	}
	return cmd.ProcessState.ExitCode(), took, out.String(), errb.String()
}

// supervised is a prestart -supervise process and its app.
type supervised struct {
	b       *bed
	cmd     *exec.Cmd
	dir     string
	metrics string
	log     *lockedBuffer
	done    chan struct{}
	secrets []string // must never appear in the log
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// supervise starts prestart -supervise with a short poll and -timeout,
// waits until the app runs with the secret and the first renewal went
// through, and stops it when the test ends.
func (b *bed) supervise(extraEnv []string, extraArgs ...string) *supervised {
	t := b.t
	t.Helper()
	dir := filepath.Join(b.dir, "sup-"+randHex(t, 4))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(faultApp), 0o600); err != nil {
		t.Fatal(err)
	}
	env, wrapping := b.env(extraEnv...)
	port := vaulttest.FreePort(t)
	args := append([]string{"-supervise", "-poll", "500ms", "-timeout", "5s",
		"-metrics-addr", "127.0.0.1:" + strconv.Itoa(port), "-log-level", "debug",
		"-secret", "P=vault://secret/app/db#password"}, extraArgs...)
	args = append(args, "--", "sh", "app.sh")
	s := &supervised{b: b, dir: dir, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port),
		log: &lockedBuffer{}, done: make(chan struct{}), secrets: []string{b.secret, wrapping}}
	s.cmd = exec.Command("prestart", args...)
	s.cmd.Dir, s.cmd.Env = dir, env
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		// FAULT_LOG=1 shows the log of passing runs too.
		if t.Failed() || os.Getenv("FAULT_LOG") != "" {
			t.Logf("prestart's log:\n%s", s.log.String())
		}
		s.signal(syscall.SIGKILL)
		<-s.done
	})
	s.waitFile("seen.txt", "start "+b.secret+"\n", 30*time.Second)
	s.waitMetric("keyturn_token_renewals_total", 1, 15*time.Second)
	return s
}

func (s *supervised) signal(sig syscall.Signal) {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

func (s *supervised) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// waitFile waits until the app's file holds exactly want.
func (s *supervised) waitFile(name, want string, timeout time.Duration) {
	t := s.b.t
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(filepath.Join(s.dir, name))
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) || !s.running() {
			t.Fatalf("%s holds %q, want %q (prestart running: %v)", name, b, want, s.running())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric scrapes prestart's /metrics and returns one value; -1 when the
// endpoint does not answer.
func (s *supervised) metric(name string) float64 {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(s.metrics)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// waitMetric waits until the metric reaches at least min.
func (s *supervised) waitMetric(name string, min float64, timeout time.Duration) float64 {
	t := s.b.t
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := s.metric(name)
		if v >= min {
			return v
		}
		if time.Now().After(deadline) || !s.running() {
			t.Fatalf("%s is %v after %s, want at least %v (prestart running: %v)", name, v, timeout, min, s.running())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keptRunning checks that the app is the one first started, with its
// first value, and was never restarted.
func (s *supervised) keptRunning() {
	t := s.b.t
	t.Helper()
	if !s.running() {
		t.Fatal("prestart exited during the fault")
	}
	seen, _ := os.ReadFile(filepath.Join(s.dir, "seen.txt"))
	if string(seen) != "start "+s.b.secret+"\n" {
		t.Fatalf("the app was restarted: seen.txt %q", seen)
	}
	pid, _ := os.ReadFile(filepath.Join(s.dir, "app.pid"))
	n, err := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err != nil || syscall.Kill(n, 0) != nil {
		t.Fatalf("the app (pid %q) is gone", pid)
	}
}

// stop sends SIGTERM and returns prestart's exit code once it ended; the
// app must have got the TERM with its value, and no secret or credential
// may be in prestart's log.
func (s *supervised) stop() int {
	t := s.b.t
	t.Helper()
	s.signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("prestart did not exit after SIGTERM")
	}
	s.waitFile("term.txt", "got TERM with "+s.b.secret+"\n", 5*time.Second)
	log := s.log.String()
	for _, v := range s.secrets {
		if strings.Contains(log, v) {
			t.Errorf("prestart's log shows a secret or credential (%d bytes)", len(v))
		}
	}
	return s.cmd.ProcessState.ExitCode()
}
