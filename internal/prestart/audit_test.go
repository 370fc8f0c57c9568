package prestart

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/internal/audit"
)

// failAfter accepts n lines, then fails every write, as a full disk would.
type failAfter struct {
	n     int
	lines bytes.Buffer
}

func (f *failAfter) Write(b []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("no space left on device")
	}
	f.n--
	return f.lines.Write(b)
}

func events(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, m["event"].(string))
	}
	return out
}

// A trail that cannot take the start line: nothing is read, nothing runs.
func TestAuditUnwritableAtStartStopsBeforeReading(t *testing.T) {
	h := newHarness(t)
	h.audit = audit.New(&failAfter{n: 0}, audit.Options{})
	err := h.run(&Plan{Command: []string{"true"}}, "fake://app/db")
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("got %v, want the write error", err)
	}
	if n := h.fake.reads.Load(); n != 0 {
		t.Fatalf("%d reads after the trail failed", n)
	}
	if h.exec != nil {
		t.Fatal("the command ran")
	}
}

// A trail that fails after the start (at the read line): the secrets
// reach no file and no command.
func TestAuditFailureMidStartDeliversNothing(t *testing.T) {
	h := newHarness(t)
	w := &failAfter{n: 1}
	h.audit = audit.New(w, audit.Options{})
	envFile := filepath.Join(t.TempDir(), "app.env")
	err := h.run(&Plan{EnvFile: envFile, Command: []string{"true"}}, "fake://app/db")
	if err == nil {
		t.Fatal("the start went ahead with an incomplete trail")
	}
	if h.exec != nil {
		t.Fatal("the command ran")
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Fatalf("the env file was written: %v", err)
	}
	if got := events(t, w.lines.Bytes()); len(got) != 1 || got[0] != "start" {
		t.Fatalf("lines %v", got)
	}
}

// Exec mode: start, one read per source, exec last; names, never values.
func TestAuditExecModeLines(t *testing.T) {
	h := newHarness(t)
	var b bytes.Buffer
	h.audit = audit.New(&b, audit.Options{Tags: map[string]string{"team": "pay"}})
	if err := h.run(&Plan{Command: []string{"true"}}, "fake://app/db", "API=fake://app/api#key"); err != nil {
		t.Fatal(err)
	}
	if h.exec == nil {
		t.Fatal("no exec")
	}
	got := strings.Join(events(t, b.Bytes()), " ")
	if got != "start read read exec" {
		t.Fatalf("events %q", got)
	}
	for _, v := range []string{secretValue, "k-123", "s3cr3t"} {
		if strings.Contains(b.String(), v) {
			t.Fatalf("the trail holds a value: %s", b.String())
		}
	}
	for _, want := range []string{`"mode":"exec"`, `"names":["PASSWORD","USER"]`, `"version":"3"`, `"ref":"fake://app/api#key"`, `"tags":{"team":"pay"}`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the trail lacks %s:\n%s", want, b.String())
		}
	}
}

// The main job of the ContainerPilot recipe: start and exec, no read.
func TestAuditFromEnvFile(t *testing.T) {
	h := newHarness(t)
	var b bytes.Buffer
	h.audit = audit.New(&b, audit.Options{})
	path := filepath.Join(t.TempDir(), "app.env")
	if err := os.WriteFile(path, []byte("P='fromfile-s3cr3t'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.run(&Plan{FromEnvFile: path, Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(events(t, b.Bytes()), " "); got != "start exec" {
		t.Fatalf("events %q", got)
	}
	if !strings.Contains(b.String(), `"mode":"from-env-file"`) || strings.Contains(b.String(), "s3cr3t") {
		t.Fatalf("trail %s", b.String())
	}
}
