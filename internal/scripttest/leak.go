package scripttest

// The leak check sees everything keyturn's binaries write in a script,
// not only the output a script thinks of checking: when the test binary
// runs as prestart, issuer, unseal or s3kms inside a script, it copies its
// stdout and stderr (and so those of a child it execs or supervises) into
// files next to $WORK, and the script's commands check those files
// against the registered secrets after each command and when the script
// ends.
//
// Files a binary is told to write that must hold no secret at all, such
// as prestart's -audit FILE, are read from its command line and checked
// like its stderr: for every registered secret of either class and for the
// credentials the run started with.
//
// Two classes of secret: credentials (Vault tokens, secret IDs, wrapping
// tokens, unseal shares, and the values of VAULT_TOKEN, VAULT_SECRET_ID,
// VAULT_WRAPPED_SECRET_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN a
// binary was started with) must appear in no output at all; payload
// secrets (values written to Vault or S3, files registered with `secret`)
// must never reach stderr, where logs go, but are what prestart delivers
// and s3kms pull prints on stdout, so stdout is checked for them only by
// an explicit no-secrets.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// captured are the binaries whose output is copied.
var captured = []string{"prestart", "issuer", "unseal", "s3kms"}

// credentialEnv names the variables whose values a binary must never
// print: what it was started with to log in.
var credentialEnv = []string{"VAULT_TOKEN", "VAULT_SECRET_ID", "VAULT_WRAPPED_SECRET_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

// minLeakLen: shorter registered values ("7", "prod") would match
// unrelated text; explicit no-secrets still checks them.
const minLeakLen = 6

type leakRecord struct {
	Value      string `json:"v"`
	Credential bool   `json:"c,omitempty"`
}

// commandRecord describes one captured run of a binary.
type commandRecord struct {
	Args        []string `json:"args"`
	Registered  int      `json:"registered"`      // secrets registered when it started
	Credentials []string `json:"credentials"`     // values of credentialEnv it saw
	Files       []string `json:"files,omitempty"` // absolute paths of scannedFlags' files
}

// scannedFlags are the flags, per binary, whose value names a file that
// must hold no secret.
var scannedFlags = map[string][]string{"prestart": {"audit"}}

// scannedFiles returns the absolute paths args give to the binary's
// scannedFlags, in any form the flag package accepts (-f X, --f X, -f=X);
// "-" (standard error) is captured anyway.
func scannedFiles(binary string, args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !slices.Contains(scannedFlags[binary], name) {
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				break
			}
			i++
			val = args[i]
		}
		if val == "" || val == "-" {
			continue
		}
		if abs, err := filepath.Abs(val); err == nil {
			out = append(out, abs)
		}
	}
	return out
}

// leakDir is beside $WORK, so that scripts that list or compare their
// work directory do not see it; testscript removes both.
func leakDir(work string) string {
	return filepath.Join(filepath.Dir(work), filepath.Base(work)+".leakcheck")
}

// register appends a secret to the script's on-disk list, which the
// captured binaries read. Called with mu held.
func register(work string, r leakRecord) {
	dir := leakDir(work)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		panic(fmt.Sprintf("scripttest: leak check: %v", err))
	}
	f, err := os.OpenFile(filepath.Join(dir, "secrets"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		panic(fmt.Sprintf("scripttest: leak check: %v", err))
	}
	defer f.Close()
	if err := json.NewEncoder(f).Encode(r); err != nil {
		panic(fmt.Sprintf("scripttest: leak check: %v", err))
	}
}

func readRecords(dir string) ([]leakRecord, error) {
	f, err := os.Open(filepath.Join(dir, "secrets"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []leakRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r leakRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

func init() {
	work := os.Getenv("WORK")
	if work == "" || !slices.Contains(captured, filepath.Base(os.Args[0])) {
		return
	}
	if err := capture(work); err != nil {
		fmt.Fprintf(os.Stderr, "scripttest: leak check: %v\n", err)
		os.Exit(125)
	}
}

// capture records this run and sends fds 1 and 2 through tee processes
// into files. tee, not a goroutine: the binary ends with os.Exit, or
// execs the app, and a separate process drains the pipe to the end
// either way.
func capture(work string) error {
	dir := leakDir(work)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	recs, err := readRecords(dir)
	if err != nil {
		return err
	}
	rec := commandRecord{Args: os.Args, Registered: len(recs), Files: scannedFiles(filepath.Base(os.Args[0]), os.Args[1:])}
	for _, name := range credentialEnv {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" {
			rec.Credentials = append(rec.Credentials, v)
		}
	}
	f, err := os.CreateTemp(dir, "cmd-*.json")
	if err != nil {
		return err
	}
	err = json.NewEncoder(f).Encode(rec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(f.Name(), ".json")
	// A script may have emptied PATH for the binary; tee is found anyway.
	tee, err := exec.LookPath("tee")
	if err != nil {
		if tee, err = exec.LookPath("/usr/bin/tee"); err != nil {
			return err
		}
	}
	if err := teeFD(tee, os.Stdout, base+".stdout"); err != nil {
		return err
	}
	return teeFD(tee, os.Stderr, base+".stderr")
}

// teeFD starts tee on a copy of orig's descriptor and puts a pipe to it in
// its place. orig must be os.Stdout or os.Stderr: an *os.File made here
// for the descriptor would close it, by then the pipe, when collected.
func teeFD(tee string, orig *os.File, path string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer w.Close()
	cmd := exec.Command(tee, "-a", path)
	cmd.Stdin, cmd.Stdout = r, orig
	// Its own process group: a signal meant for the binary's group must
	// not end the copy early.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		return err
	}
	r.Close()
	return syscall.Dup3(int(w.Fd()), int(orig.Fd()), 0)
}

var leakChecks = map[*testscript.TestScript]bool{}

// scriptTB returns the testing.TB of a script whose Setup recorded one.
func scriptTB(work string) testing.TB {
	mu.Lock()
	defer mu.Unlock()
	if v, ok := servers[work]; ok {
		return v.tb
	}
	if s, ok := unsealScripts[work]; ok {
		return s.tb
	}
	return nil
}

// checkLeaks checks the output of every captured run of the script so
// far; the first call also arranges a last check when the script ends.
func checkLeaks(ts *testscript.TestScript) {
	mu.Lock()
	first := !leakChecks[ts]
	leakChecks[ts] = true
	mu.Unlock()
	if first {
		ts.Defer(func() {
			mu.Lock()
			delete(leakChecks, ts)
			mu.Unlock()
			msg := findLeak(ts.Getenv("WORK"), true)
			if msg == "" {
				return
			}
			if tb := scriptTB(ts.Getenv("WORK")); tb != nil {
				tb.Errorf("leak check at the end of the script: %s", msg)
				return
			}
			// No testing.TB to mark: Fatalf outside a command panics,
			// which fails the run loudly rather than not at all.
			ts.Fatalf("leak check at the end of the script: %s", msg)
		})
	}
	if msg := findLeak(ts.Getenv("WORK"), false); msg != "" {
		ts.Fatalf("leak check: %s", msg)
	}
}

// findLeak returns a description of the first registered secret found in
// a captured output, naming the command and the secret's number, never
// the secret. atEnd also requires that the check had secrets to look for.
func findLeak(work string, atEnd bool) string {
	dir := leakDir(work)
	recs, err := readRecords(dir)
	if err != nil {
		return err.Error()
	}
	runs, err := filepath.Glob(filepath.Join(dir, "cmd-*.json"))
	if err != nil {
		return err.Error()
	}
	sort.Strings(runs)
	checked := len(recs)
	for _, path := range runs {
		b, err := os.ReadFile(path)
		if err != nil {
			return err.Error()
		}
		var rec commandRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Sprintf("%s: %v", path, err)
		}
		checked += len(rec.Credentials)
		base := strings.TrimSuffix(path, ".json")
		for _, stream := range []string{"stdout", "stderr"} {
			out, err := os.ReadFile(base + "." + stream)
			if err != nil && !os.IsNotExist(err) {
				return err.Error()
			}
			if msg := leakIn(string(out), stream, rec, recs); msg != "" {
				return fmt.Sprintf("%s of `%s` %s", stream, describeRun(rec, recs), msg)
			}
		}
		for _, f := range rec.Files {
			out, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				return err.Error()
			}
			if msg := leakIn(string(out), "file", rec, recs); msg != "" {
				return fmt.Sprintf("file %s written by `%s` %s", filepath.Base(f), describeRun(rec, recs), msg)
			}
		}
	}
	if atEnd && len(runs) > 0 && checked == 0 {
		return "no secrets registered; the check would be empty (register what the script creates with secret FILE)"
	}
	return ""
}

// describeRun names a run by its command line, with any registered value
// in it blanked: the report must not quote what it protects.
func describeRun(rec commandRecord, recs []leakRecord) string {
	line := strings.Join(append([]string{filepath.Base(rec.Args[0])}, rec.Args[1:]...), " ")
	for _, r := range recs {
		if len(r.Value) >= minLeakLen {
			line = strings.ReplaceAll(line, r.Value, "[secret]")
		}
	}
	for _, v := range rec.Credentials {
		line = strings.ReplaceAll(line, v, "[secret]")
	}
	return line
}

func leakIn(out, stream string, rec commandRecord, recs []leakRecord) string {
	for i, v := range rec.Credentials {
		if len(v) >= minLeakLen && strings.Contains(out, v) {
			return fmt.Sprintf("holds the value of a credential variable it was started with (#%d)", i+1)
		}
	}
	for i, r := range recs {
		if len(r.Value) < minLeakLen {
			continue
		}
		// On stdout only credentials known before the run count: what a
		// run prints and the script then registers (issuer mint's
		// token) is its job, and so is a payload prestart delivers.
		if stream == "stdout" && (!r.Credential || i >= rec.Registered) {
			continue
		}
		if strings.Contains(out, r.Value) {
			return fmt.Sprintf("holds registered secret #%d", i+1)
		}
	}
	return ""
}
