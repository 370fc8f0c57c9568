package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func decodeLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not one JSON object: %v: %q", len(out)+1, err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestLineHasCommonFieldsTagsAndEventFields(t *testing.T) {
	var b bytes.Buffer
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	a := New(&b, Options{Host: "node-1", PID: 42, Tags: map[string]string{"team": "pay", "env": "prod"}, Now: func() time.Time { return at }})
	a.Emit(Login{Method: "approle", Role: "app", TokenAccessor: "acc1", TTLSeconds: 3, Renewable: true, Policies: []string{"default", "app"}})
	a.Emit(Change{Names: []string{}})
	want := `{"time":"2026-01-02T02:04:05.0000006Z","event":"login","host":"node-1","pid":42,"tags":{"env":"prod","team":"pay"},"method":"approle","role":"app","token_accessor":"acc1","ttl_seconds":3,"renewable":true,"policies":["default","app"]}` + "\n" +
		`{"time":"2026-01-02T02:04:05.0000006Z","event":"change","host":"node-1","pid":42,"tags":{"env":"prod","team":"pay"},"names":[]}` + "\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestEventWithoutFieldsAndNoTags(t *testing.T) {
	var b bytes.Buffer
	a := New(&b, Options{Host: "h", PID: 1})
	a.Emit(empty{})
	m := decodeLines(t, b.Bytes())
	if len(m) != 1 || m[0]["event"] != "empty" || m[0]["tags"] != nil || len(m[0]) != 4 {
		t.Fatalf("got %v", m)
	}
}

type empty struct{}

func (empty) Name() string { return "empty" }

// Many goroutines writing to one file: every line whole and parseable,
// none lost. A writer that split a line into several writes would show
// here as broken JSON.
func TestConcurrentWritersProduceWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	a, err := Open(path, nil, Options{Tags: map[string]string{"k": strings.Repeat("v", 200)}})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				a.Emit(Read{Source: "vault", Ref: "vault://secret/app", Path: "secret/app", Version: string(rune('a' + w)), Names: []string{strings.Repeat("N", i)}})
			}
		}()
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := decodeLines(t, b)
	if len(lines) != workers*each {
		t.Fatalf("%d lines, want %d", len(lines), workers*each)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// The file is appended to: a second run adds to the first's lines.
func TestOpenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	for range 2 {
		a, err := Open(path, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		a.Emit(Exit{Mode: "exec", Code: 0})
		a.Close()
	}
	b, _ := os.ReadFile(path)
	if n := len(decodeLines(t, b)); n != 2 {
		t.Fatalf("%d lines after two runs, want 2", n)
	}
}

func TestOpenFailsOnUnwritablePath(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{filepath.Join(dir, "missing", "audit.jsonl"), dir} {
		if _, err := Open(p, nil, Options{}); err == nil {
			t.Errorf("Open(%s) succeeded", p)
		}
	}
}

func TestNilAuditorIsANoOp(t *testing.T) {
	a, err := Open("", nil, Options{})
	if err != nil || a != nil {
		t.Fatalf("Open(\"\") = %v, %v; want a nil auditor", a, err)
	}
	a.Emit(Start{Mode: "exec"})
	a.OnError(func(error) { t.Fatal("called") })
	if a.Err() != nil || a.Failures() != 0 || a.Close() != nil {
		t.Fatal("a nil auditor reported something")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorsAreRememberedAndReported(t *testing.T) {
	a := New(failWriter{}, Options{})
	a.Emit(Start{Mode: "exec"})
	if a.Err() == nil || !strings.Contains(a.Err().Error(), "start event: disk full") {
		t.Fatalf("Err() = %v", a.Err())
	}
	var told []error
	a.OnError(func(err error) { told = append(told, err) })
	a.Emit(Exit{})
	if len(told) != 1 || a.Failures() != 2 {
		t.Fatalf("told %v, failures %d", told, a.Failures())
	}
}

func TestAddTag(t *testing.T) {
	tags := map[string]string{}
	for _, ok := range []string{"team=payments", "env=", "k8s.namespace=prod-1", "_x=a=b"} {
		if err := AddTag(tags, ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if err := AddTag(tags, strings.Repeat("k", 64)+"=v"); err != nil {
		t.Errorf("64-byte key refused: %v", err)
	}
	if tags["_x"] != "a=b" || tags["env"] != "" {
		t.Errorf("tags %v", tags)
	}
	for _, bad := range []string{"noequals", "=v", "1k=v", "k y=v", "team=again", "k=a\nb", "k=" + strings.Repeat("x", MaxTagValue+1), strings.Repeat("k", 65) + "=v", "-k=v", ".k=v", "k/v=v", "é=v"} {
		if err := AddTag(tags, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLeaseFields(t *testing.T) {
	l := LeaseFields("database/creds/app/AbCdEfGh1234", 90*time.Second, true)
	if l.LeasePath != "database/creds/app" || len(l.LeaseFingerprint) != 16 || l.LeaseTTLSeconds != 90 || !l.LeaseRenewable {
		t.Fatalf("got %+v", l)
	}
	if strings.Contains(l.LeaseFingerprint, "AbCd") || l.LeaseFingerprint != Fingerprint("database/creds/app/AbCdEfGh1234") {
		t.Fatalf("fingerprint %q", l.LeaseFingerprint)
	}
	if LeaseFields("", 0, false) != (Lease{}) {
		t.Fatal("no lease should give no fields")
	}
}

func TestChangeOf(t *testing.T) {
	c := ChangeOf(map[string]string{"A": "1", "B": "2", "C": "3"}, map[string]string{"A": "1", "B": "x", "D": "4"})
	got, _ := json.Marshal(c)
	if string(got) != `{"names":["B","C","D"],"added":["D"],"removed":["C"]}` {
		t.Fatalf("got %s", got)
	}
}
