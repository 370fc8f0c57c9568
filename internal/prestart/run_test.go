package prestart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyturn/keyturn/internal/audit"
	"github.com/keyturn/keyturn/internal/launch"
	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/source"
)

// fakeReader serves fake:// references from data, failing the first fails
// reads with err.
type fakeReader struct {
	data  map[string]map[string]any
	fails int
	err   error
	reads atomic.Int32
}

func (f *fakeReader) Read(_ context.Context, ref source.Ref) (*source.Result, error) {
	if n := f.reads.Add(1); int(n) <= f.fails {
		return nil, f.err
	}
	d, ok := f.data[ref.Path]
	if !ok {
		return nil, fmt.Errorf("%s: %w", ref, source.ErrNotFound)
	}
	return &source.Result{Data: d, Version: "3"}, nil
}

// mintReader serves dyn:// references as a database engine does: every
// read mints a new credential with its own lease.
type mintReader struct{ mints atomic.Int32 }

func (m *mintReader) Read(context.Context, source.Ref) (*source.Result, error) {
	n := m.mints.Add(1)
	return &source.Result{
		Data:  map[string]any{"username": fmt.Sprintf("v-app-%d", n), "password": fmt.Sprintf("pw-%d", n)},
		Lease: &source.Lease{ID: fmt.Sprintf("database/creds/app/lease-%d", n), Duration: time.Hour, Renewable: true},
	}, nil
}

const secretValue = "s3cr3t-'quoted'-value"

func newFake() *fakeReader {
	return &fakeReader{data: map[string]map[string]any{
		"app/db":  {"password": secretValue, "user": "app"},
		"app/api": {"key": "k-123"},
	}}
}

// execCall is what the fake exec saw.
type execCall struct{ argv, env []string }

// harness runs a plan against fake readers and a fake exec.
type harness struct {
	t              *testing.T
	fake           *fakeReader
	dyn            mintReader
	extra          source.Readers // more schemes
	stdout, stderr bytes.Buffer
	environ        []string
	exec           *execCall
	audit          *audit.Auditor
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, fake: newFake(), environ: []string{
		"PATH=" + os.Getenv("PATH"), "HOME=/home/app",
		"VAULT_ROLE_ID=role", "VAULT_WRAPPED_SECRET_ID=wrapped", "VAULT_TOKEN=tok",
	}}
}

func (h *harness) run(p *Plan, args ...string) error {
	h.t.Helper()
	for _, a := range args {
		parse := source.ParseSecrets
		if strings.Contains(a, "=") {
			parse = source.ParseSecret
		}
		req, err := parse(a)
		if err != nil {
			h.t.Fatal(err)
		}
		p.Requests = append(p.Requests, req)
	}
	if p.Supervise.OnChange == "" {
		p.Supervise.OnChange, p.Supervise.StopSignal = "restart", "TERM"
	}
	if err := p.Complete(); err != nil {
		return err
	}
	r := &runner{plan: p, log: hclog.NewNullLogger(), audit: h.audit,
		io: IO{Stdout: &h.stdout, Stderr: &h.stderr, Environ: h.environ, Audit: h.audit},
		exec: func(argv, env []string) error {
			h.exec = &execCall{argv, env}
			return nil
		},
	}
	WithReader("fake", func(ReaderEnv) source.Reader { return h.fake })(r)
	WithReader("dyn", func(ReaderEnv) source.Reader { return &h.dyn })(r)
	readers := source.Readers{"fake": h.fake, "dyn": &h.dyn}
	for scheme, rd := range h.extra {
		WithReader(scheme, func(ReaderEnv) source.Reader { return rd })(r)
		readers[scheme] = rd
	}
	r.readers = func(*Session) source.Readers { return readers }
	return r.run(context.Background())
}

func TestPrintAndEnvFile(t *testing.T) {
	h := newHarness(t)
	envFile := filepath.Join(t.TempDir(), "app.env")
	err := h.run(&Plan{Print: "dotenv", EnvFile: envFile}, "fake://app/db", "API=fake://app/api#key")
	if err != nil {
		t.Fatal(err)
	}
	if want := "API=\"k-123\"\n"; !strings.Contains(h.stdout.String(), want) {
		t.Fatalf("stdout %q lacks %q", h.stdout.String(), want)
	}
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "PASSWORD='s3cr3t-'\\''quoted'\\''-value'") {
		t.Fatalf("env file: %q", b)
	}
	if fi, _ := os.Stat(envFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("env file mode %v", fi.Mode())
	}
	if h.exec != nil {
		t.Fatal("exec without a command")
	}
}

// The child gets the secrets and never the bootstrap credentials.
func TestExecEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		plan Plan
		want []string
	}{
		{"inherit", Plan{}, []string{"PATH=" + os.Getenv("PATH"), "HOME=/home/app", "P=" + secretValue}},
		{"pristine", Plan{Pristine: true, KeepEnv: []string{"PATH"}}, []string{"PATH=" + os.Getenv("PATH"), "P=" + secretValue}},
	} {
		h := newHarness(t)
		tc.plan.Command = []string{"sh", "-c", "true"}
		if err := h.run(&tc.plan, "P=fake://app/db#password"); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if h.exec == nil || !slices.Equal(h.exec.argv, tc.plan.Command) {
			t.Fatalf("%s: exec %+v", tc.name, h.exec)
		}
		if !slices.Equal(h.exec.env, tc.want) {
			t.Fatalf("%s: child env %q, want %q", tc.name, h.exec.env, tc.want)
		}
	}
}

// A failing source stops everything: nothing is written, printed or
// started, and the error does not show a value.
func TestFailClosed(t *testing.T) {
	h := newHarness(t)
	envFile := filepath.Join(t.TempDir(), "app.env")
	err := h.run(&Plan{EnvFile: envFile, Command: []string{"true"}}, "fake://app/db", "fake://app/missing")
	if !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	if _, statErr := os.Stat(envFile); !os.IsNotExist(statErr) {
		t.Fatal("env file written after a failed read")
	}
	if h.exec != nil || h.stdout.Len() != 0 || strings.Contains(err.Error(), secretValue) {
		t.Fatalf("exec %v, stdout %q, err %v", h.exec, h.stdout.String(), err)
	}
}

// A typo in the command fails before any source is read (a one-time
// secret ID would be spent otherwise), with the shell's 127.
func TestPreflightBeforeRead(t *testing.T) {
	h := newHarness(t)
	err := h.run(&Plan{Command: []string{"keyturn-no-such-command"}}, "fake://app/db")
	var le *launch.Error
	if !errors.As(err, &le) || le.Code != launch.CodeNotFound {
		t.Fatalf("got %v", err)
	}
	h2 := newHarness(t)
	err = h2.run(&Plan{EnvFile: "/nonexistent-dir/app.env"}, "fake://app/db")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing output directory: %v", err)
	}
	if h.fake.reads.Load() != 0 || h2.fake.reads.Load() != 0 {
		t.Fatal("a source was read before the preflight failed")
	}
}

// An unavailable backend is retried until the timeout; other errors are not.
func TestRetryUnavailable(t *testing.T) {
	unavailable := fmt.Errorf("dial: %w", retry.ErrUnavailable)
	h := newHarness(t)
	h.fake.fails, h.fake.err = 2, unavailable
	if err := h.run(&Plan{Print: "json", Timeout: 10 * time.Second}, "fake://app/api"); err != nil {
		t.Fatal(err)
	}
	if n := h.fake.reads.Load(); n != 3 {
		t.Fatalf("%d reads, want 3", n)
	}
	h = newHarness(t)
	h.fake.fails, h.fake.err = 1000, unavailable
	start := time.Now()
	err := h.run(&Plan{Print: "json", Timeout: 300 * time.Millisecond}, "fake://app/api")
	if !Unavailable(err) || time.Since(start) > 5*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
	h = newHarness(t)
	h.fake.fails, h.fake.err = 1000, errors.New("permanent")
	if err := h.run(&Plan{Print: "json", Timeout: 10 * time.Second}, "fake://app/api"); err == nil || h.fake.reads.Load() != 1 {
		t.Fatalf("permanent error retried: %v after %d reads", err, h.fake.reads.Load())
	}
}

func TestDryRunShowsNoValues(t *testing.T) {
	h := newHarness(t)
	if err := h.run(&Plan{DryRun: true}, "fake://app/db"); err != nil {
		t.Fatal(err)
	}
	out := h.stdout.String()
	if !strings.Contains(out, "PASSWORD") || !strings.Contains(out, "fake://app/db") || strings.Contains(out, secretValue) {
		t.Fatalf("dry run printed %q", out)
	}
}

func TestFromEnvFile(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(t.TempDir(), "app.env")
	if err := os.WriteFile(path, []byte("A='it'\\''s'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.run(&Plan{FromEnvFile: path, Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if h.exec == nil || !slices.Contains(h.exec.env, "A=it's") || slices.Contains(h.exec.env, "VAULT_TOKEN=tok") {
		t.Fatalf("exec %+v", h.exec)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("env file left behind")
	}
}

// Supervised, the child writes to the injected streams, and prestart
// returns its status.
func TestSuperviseStreams(t *testing.T) {
	h := newHarness(t)
	p := &Plan{Command: []string{"sh", "-c", `echo "out $P"; echo err >&2; exit 7`}}
	p.Supervise.Enabled = true
	err := h.run(p, "P=fake://app/api#key")
	var st *ExitStatus
	if !errors.As(err, &st) || st.Code != 7 {
		t.Fatalf("got %v", err)
	}
	if h.stdout.String() != "out k-123\n" || !strings.Contains(h.stderr.String(), "err\n") {
		t.Fatalf("stdout %q, stderr %q", h.stdout.String(), h.stderr.String())
	}
}

func TestNeedsVault(t *testing.T) {
	for _, tc := range []struct {
		refs []string
		cert bool
		want bool
	}{
		{[]string{"s3://b/k?kms=x", "exec:true"}, false, false},
		{[]string{"s3://b/k?kms=x", "vault://secret/app"}, false, true},
		{nil, true, true},
	} {
		p := &Plan{}
		for _, ref := range tc.refs {
			req, err := source.ParseSecrets(ref)
			if err != nil {
				t.Fatal(err)
			}
			p.Requests = append(p.Requests, req)
		}
		if tc.cert {
			p.Certs = append(p.Certs, pkicertRequest(t))
		}
		if got := p.NeedsVault(); got != tc.want {
			t.Errorf("%v cert=%v: NeedsVault %v", tc.refs, tc.cert, got)
		}
	}
}

func TestCompleteRefusesUsageMistakes(t *testing.T) {
	for name, p := range map[string]*Plan{
		"nothing requested":        {Command: []string{"true"}},
		"print with a command":     {Print: "json", Command: []string{"true"}},
		"unknown print format":     {Print: "yaml"},
		"token sink without vault": {TokenSink: "t", Command: []string{"true"}},
		"supervise without cmd":    {EnvFile: "x", Supervise: Supervision{Enabled: true, OnChange: "restart", StopSignal: "TERM"}},
		"bad on-change":            {Command: []string{"true"}, Supervise: Supervision{Enabled: true, OnChange: "reload", StopSignal: "TERM"}},
		"allow-name not a name":    {Command: []string{"true"}, AllowNames: []string{"LD_PRELOAD=x"}},
	} {
		if name != "nothing requested" {
			req, _ := source.ParseSecrets("exec:true")
			p.Requests = append(p.Requests, req)
		}
		var ue *UsageError
		if err := p.Complete(); !errors.As(err, &ue) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// A source this build has no reader for is refused before anything is
// read or logged in to, so no one-time secret ID is spent on it.
func TestUnsupportedSchemeRefusedBeforeLogin(t *testing.T) {
	h := newHarness(t)
	err := h.run(&Plan{Print: "json"}, "fake://app/db", "DB=s3://bucket/app.env?kms=k#DB")
	var us *UnsupportedSchemeError
	if !errors.As(err, &us) || us.Scheme != "s3" {
		t.Fatalf("got %v, want an UnsupportedSchemeError for s3", err)
	}
	if n := h.fake.reads.Load(); n != 0 {
		t.Errorf("%d reads before the refusal", n)
	}
}

// A retry at start, after another source was unavailable, reads the
// static sources again but not a dynamic one that already answered: a
// second credential would leave the first one's lease alive and unused.
func TestRetryDoesNotMintTwice(t *testing.T) {
	h := newHarness(t)
	h.fake.fails, h.fake.err = 2, fmt.Errorf("dial: %w", retry.ErrUnavailable)
	err := h.run(&Plan{Print: "dotenv", Timeout: 10 * time.Second},
		"DB_USER=dyn://database/creds/app#username", "DB_PASS=dyn://database/creds/app#password", "fake://app/api")
	if err != nil {
		t.Fatal(err)
	}
	if n := h.fake.reads.Load(); n != 3 {
		t.Fatalf("the static source was read %d times, want 3 (two failures, then success)", n)
	}
	if n := h.dyn.mints.Load(); n != 1 {
		t.Fatalf("%d credentials minted for one start, want 1", n)
	}
	if out := h.stdout.String(); !strings.Contains(out, `DB_USER="v-app-1"`) || !strings.Contains(out, `DB_PASS="pw-1"`) {
		t.Fatalf("output is not the one credential minted:\n%s", out)
	}
}

// stallReader answers its first read and then hangs, as a Vault or S3 that
// accepts connections but never answers, until the read's deadline.
type stallReader struct {
	reads   atomic.Int32
	stalled chan struct{} // closed when a read hangs
}

func (s *stallReader) Read(ctx context.Context, ref source.Ref) (*source.Result, error) {
	if s.reads.Add(1) == 1 {
		return &source.Result{Data: map[string]any{"v": "1"}, Watchable: true}, nil
	}
	select {
	case <-s.stalled:
	default:
		close(s.stalled)
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// A re-read that hangs does not hold up reaping: the app's exit is seen,
// and passed on, while the read still waits for its 30s deadline.
func TestStalledRereadDoesNotDelayReaping(t *testing.T) {
	h := newHarness(t)
	stall := &stallReader{stalled: make(chan struct{})}
	h.extra = source.Readers{"stall": stall}
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	// The app exits only once a re-read hangs.
	p := &Plan{Command: []string{"sh", "-c", `while [ ! -e "$0" ]; do sleep 0.05; done; exit 5`, gate}}
	p.Supervise.Enabled, p.Supervise.Poll, p.Supervise.Grace = true, 200*time.Millisecond, time.Second
	go func() {
		<-stall.stalled
		os.WriteFile(gate, nil, 0o600)
	}()
	done := make(chan error, 1)
	go func() { done <- h.run(p, "V=stall://app/v#v") }()
	select {
	case err := <-done:
		var st *ExitStatus
		if !errors.As(err, &st) || st.Code != 5 {
			t.Fatalf("got %v, want the app's exit status 5", err)
		}
	case <-time.After(10 * time.Second):
		// Run is left behind, stuck: the test binary's exit ends it.
		t.Fatal("the app exited but Run had not returned 10s later: reaping waits for the stalled read")
	}
}
