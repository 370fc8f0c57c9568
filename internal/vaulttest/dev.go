package vaulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// Server is a running Vault process.
type Server struct {
	// Addr is the API address, http://127.0.0.1:PORT or https://... .
	Addr string
	// RootToken is set for dev servers and after Init.
	RootToken string
	// CACert is the PEM file that verifies a TLS server; empty for plain HTTP.
	CACert string
	// LogPath is the server's log, printed when the test fails.
	LogPath string

	t    testing.TB
	args []string
	env  []string
	cmd  *exec.Cmd
	done chan struct{}
}

type devConfig struct {
	env  []string
	args []string
}

// DevOption changes how StartDev starts the server.
type DevOption func(*devConfig)

// WithEnv adds NAME=VALUE pairs to the server's environment, for example
// VAULT_DISABLE_USER_LOCKOUT=true for a test that replays credentials and
// would otherwise lock its role ID out for 15 minutes.
func WithEnv(kv ...string) DevOption {
	return func(c *devConfig) { c.env = append(c.env, kv...) }
}

// WithArgs adds server flags, for example -dev-leased-kv.
func WithArgs(args ...string) DevOption {
	return func(c *devConfig) { c.args = append(c.args, args...) }
}

// StartDev starts `vault server -dev` on a free loopback port with a random
// root token that is never stored in ~/.vault-token, and waits until it is
// active. The server is stopped when the test ends.
func StartDev(t testing.TB, opts ...DevOption) *Server {
	t.Helper()
	s, err := runDev(t, Binary(t), t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("vaulttest: dev server did not start: %v", err)
	}
	return s
}

// RunDev is StartDev for a program that is not a test (the benchmark, the
// soak): bin is the vault binary, dir receives its log, and the caller
// stops the server with Stop.
func RunDev(bin, dir string, opts ...DevOption) (*Server, error) {
	return runDev(nil, bin, dir, opts...)
}

// runDev starts the server, three times at most: a free port can be taken
// by someone else before the server binds it. t may be nil.
func runDev(t testing.TB, bin, dir string, opts ...DevOption) (*Server, error) {
	var cfg devConfig
	for _, o := range opts {
		o(&cfg)
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	token := "root-" + hex.EncodeToString(b)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{
			Addr:      fmt.Sprintf("http://127.0.0.1:%d", port),
			RootToken: token,
			LogPath:   filepath.Join(dir, fmt.Sprintf("vault-%d.log", attempt)),
			t:         t,
			args: append([]string{"server", "-dev",
				"-dev-listen-address=127.0.0.1:" + strconv.Itoa(port),
				"-dev-no-store-token",
				"-log-level=debug",
			}, cfg.args...),
			// The root token goes through the environment, not argv.
			env: append([]string{"VAULT_DEV_ROOT_TOKEN_ID=" + token}, cfg.env...),
		}
		if lastErr = s.start(bin); lastErr != nil {
			continue
		}
		if lastErr = s.waitHealthy(30*time.Second, http.StatusOK); lastErr == nil {
			return s, nil
		}
		s.stop()
	}
	return nil, lastErr
}

func (s *Server) start(bin string) error {
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, s.args...)
	// A clean environment: the developer's VAULT_* settings must not change
	// the server under test.
	cmd.Env = append([]string{"HOME=" + filepath.Dir(s.LogPath), "PATH=" + os.Getenv("PATH")}, s.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	if s.t != nil {
		s.t.Cleanup(func() {
			if s.t.Failed() {
				s.dumpLog()
			}
			s.stop()
		})
	}
	return nil
}

func (s *Server) dumpLog() {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return
	}
	const max = 64 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	s.t.Logf("vault log %s (last %d bytes):\n%s", s.LogPath, len(b), b)
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (s *Server) Stop() { s.stop() }

func (s *Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// Kill ends the server at once, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// Running reports whether the server process is still alive.
func (s *Server) Running() bool {
	select {
	case <-s.done:
		return false
	default:
		return s.cmd != nil
	}
}

// waitHealthy polls sys/health until it answers one of the wanted codes
// (200 active, 429 standby, 501 not initialised, 503 sealed).
func (s *Server) waitHealthy(timeout time.Duration, want ...int) error {
	client, err := s.newClient("")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if !s.Running() {
			return fmt.Errorf("vault exited early (log: %s)", s.LogPath)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := client.Logical().ReadRawWithDataWithContext(ctx, "sys/health", map[string][]string{"standbyok": {"false"}})
		cancel()
		code := 0
		if resp != nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
		for _, w := range want {
			if code == w {
				return nil
			}
		}
		last = fmt.Sprintf("status %d, err %v", code, err)
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("sys/health not ready after %s: %s", timeout, last)
}

// Client returns an API client for the server with the given token ("" for
// none). Its wrapping lookup is disabled so VAULT_WRAP_TTL in the developer's
// environment cannot change what a test sends.
func (s *Server) Client(t testing.TB, token string) *api.Client {
	t.Helper()
	c, err := s.newClient(token)
	if err != nil {
		t.Fatalf("vaulttest: client: %v", err)
	}
	return c
}

// RootClient is Client with the root token.
func (s *Server) RootClient(t testing.TB) *api.Client {
	t.Helper()
	if s.RootToken == "" {
		t.Fatal("vaulttest: server has no root token yet")
	}
	return s.Client(t, s.RootToken)
}

// NewClient is Client for callers without a testing.TB.
func (s *Server) NewClient(token string) (*api.Client, error) { return s.newClient(token) }

func (s *Server) newClient(token string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, cfg.Error
	}
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	if s.CACert != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: s.CACert}); err != nil {
			return nil, err
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	c.ClearNamespace()
	c.SetToken(token)
	return c, nil
}

// Env returns VAULT_ADDR (and VAULT_CACERT for TLS) for a child process.
// It never includes a token.
func (s *Server) Env() []string {
	env := []string{"VAULT_ADDR=" + s.Addr}
	if s.CACert != "" {
		env = append(env, "VAULT_CACERT="+s.CACert)
	}
	return env
}
