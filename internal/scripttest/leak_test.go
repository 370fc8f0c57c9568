package scripttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets this test binary run as "prestart": a stand-in that prints
// what its arguments say, to drive the capture the way a script does.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"prestart": leaker})
}

func leaker() {
	switch os.Args[1] {
	case "stdout":
		fmt.Println(os.Args[2])
	case "stderr":
		fmt.Fprintln(os.Stderr, os.Args[2])
	case "env-to-stdout":
		fmt.Println("token=" + os.Getenv(os.Args[2]))
	case "exec":
		// The app prestart execs writes to the same descriptors.
		sh, _ := exec.LookPath("sh")
		_ = syscall.Exec(sh, []string{"sh", "-c", os.Args[2]}, os.Environ())
		os.Exit(126)
	case "bulk-then-exit":
		// Much more than a pipe holds, then the secret, then os.Exit:
		// nothing may be lost between the binary and the check, also
		// after a collection (which once closed a captured descriptor).
		runtime.GC()
		runtime.GC()
		os.Stdout.WriteString(strings.Repeat("x", 1<<20) + "\n")
		fmt.Fprintln(os.Stderr, os.Args[2])
		os.Exit(3)
	case "to-file":
		// What prestart -audit FILE does: the file is not a stream the
		// capture sees, so the check must find it by the flag.
		if err := os.WriteFile(os.Args[2], []byte(os.Args[3]+"\n"), 0o600); err != nil {
			os.Exit(1)
		}
	}
}

// runAs runs this test binary as prestart in a script's work directory
// and returns its stdout, as the script would see it.
func runAs(t *testing.T, work string, env []string, args ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "prestart")
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), append(env, "WORK="+work)...)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !(errorsAs(err, &ee) && ee.ExitCode() == 3) {
		t.Fatalf("run %v: %v", args, err)
	}
	return string(out)
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*target = e
	return ok
}

func newWork(t *testing.T) string {
	work := filepath.Join(t.TempDir(), "script-leak")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		delete(secrets, work)
		mu.Unlock()
	})
	return work
}

func TestLeakCheck(t *testing.T) {
	const (
		cred    = "hvs.credential-registered-before"
		payload = "payload-orange-42"
		later   = "hvs.minted-and-registered-after"
		envTok  = "stale-token-from-the-environment"
	)
	cases := []struct {
		name string
		env  []string
		args []string
		leak string // "" when the output is allowed
	}{
		{"payload on stdout is delivery", nil, []string{"stdout", payload}, ""},
		{"payload on stderr", nil, []string{"stderr", "log: " + payload}, "stderr of `prestart stderr log: [secret]` holds registered secret #2"},
		{"credential on stdout", nil, []string{"stdout", cred}, "holds registered secret #1"},
		{"credential variable on stdout", []string{"VAULT_TOKEN=" + envTok}, []string{"env-to-stdout", "VAULT_TOKEN"}, "holds the value of a credential variable it was started with (#1)"},
		{"exec'd app output", nil, []string{"exec", "echo " + cred}, "holds registered secret #1"},
		{"nothing lost at exit", nil, []string{"bulk-then-exit", payload}, "holds registered secret #2"},
		{"clean run", []string{"VAULT_TOKEN=" + envTok}, []string{"stdout", "hello"}, ""},
		{"payload in the audit file", nil, []string{"to-file", "audit.jsonl", payload, "-audit", "audit.jsonl"}, "file audit.jsonl written by `prestart to-file audit.jsonl [secret] -audit audit.jsonl` holds registered secret #2"},
		{"credential variable in the audit file", []string{"VAULT_SECRET_ID=" + envTok}, []string{"to-file", "a.jsonl", envTok, "-audit=a.jsonl"}, "holds the value of a credential variable it was started with (#1)"},
		{"clean audit file", nil, []string{"to-file", "a.jsonl", "hello", "--audit", "a.jsonl"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			work := newWork(t)
			AddCredential(work, cred)
			AddSecret(work, payload)
			out := runAs(t, work, c.env, c.args...)
			if c.args[0] == "stdout" && out != c.args[1]+"\n" {
				t.Fatalf("the script saw stdout %q, want %q", out, c.args[1]+"\n")
			}
			if c.args[0] == "bulk-then-exit" && len(out) != 1<<20+1 {
				t.Fatalf("the script saw %d bytes of stdout, want %d", len(out), 1<<20+1)
			}
			got := findLeak(work, true)
			if c.leak == "" && got != "" {
				t.Fatalf("findLeak = %q, want none", got)
			}
			if c.leak != "" && !strings.Contains(got, c.leak) {
				t.Fatalf("findLeak = %q, want it to contain %q", got, c.leak)
			}
			for _, s := range []string{cred, payload, envTok} {
				if strings.Contains(got, s) {
					t.Fatal("the report quotes the secret")
				}
			}
		})
	}
}

func TestLeakCheckOrder(t *testing.T) {
	// What a run prints and the script registers afterwards (issuer mint's
	// token) is that run's output, not a leak; printed again by a later
	// run, it is one.
	work := newWork(t)
	AddSecret(work, "some-payload-value")
	const minted = "hvs.minted-and-registered-after"
	runAs(t, work, nil, "stdout", minted)
	AddCredential(work, minted)
	if got := findLeak(work, true); got != "" {
		t.Fatalf("findLeak = %q, want none", got)
	}
	runAs(t, work, nil, "stdout", minted)
	if got := findLeak(work, true); !strings.Contains(got, "holds registered secret #2") {
		t.Fatalf("findLeak = %q, want the second run reported", got)
	}
}

func TestLeakCheckNotEmpty(t *testing.T) {
	work := newWork(t)
	runAs(t, work, nil, "stdout", "hello")
	if got := findLeak(work, true); !strings.Contains(got, "no secrets registered") {
		t.Fatalf("findLeak = %q, want the empty check refused", got)
	}
}
