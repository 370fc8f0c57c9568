// Package scripttest holds the testscript commands keyturn's CLI tests
// share: exact exit codes, a real Vault per script, and a check that no
// registered secret shows up in a command's output or in a file.
package scripttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyturn/keyturn/internal/vaulttest"
)

type scriptVault struct {
	s  *vaulttest.Server
	tb testing.TB
}

var (
	mu      sync.Mutex
	secrets = map[string][]string{} // $WORK -> secret values
	servers = map[string]scriptVault{}
)

// AddSecret registers a value that must never appear where no-secrets
// looks, nor on the stderr of any run of a keyturn binary in the script.
func AddSecret(work, value string) { addSecret(work, value, false) }

// AddCredential registers a token, secret ID or share: like AddSecret,
// and also never on the stdout of a binary run after it was registered.
func AddCredential(work, value string) { addSecret(work, value, true) }

func addSecret(work, value string, credential bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	secrets[work] = append(secrets[work], value)
	register(work, leakRecord{Value: value, Credential: credential})
}

// StartVault starts a dev Vault for one script: VAULT_ADDR is set, the
// root token is in $WORK/root.token (registered as a secret) and
// VAULT_TOKEN is cleared so each command says which token it uses.
func StartVault(env *testscript.Env, opts ...vaulttest.DevOption) error {
	tb, ok := env.T().(testing.TB)
	if !ok {
		return errors.New("scripttest: testscript did not hand over a testing.TB")
	}
	s := vaulttest.StartDev(tb, opts...)
	env.Setenv("VAULT_ADDR", s.Addr)
	env.Setenv("VAULT_TOKEN", "")
	env.Setenv("VAULT_LOG", s.LogPath)
	if err := os.WriteFile(filepath.Join(env.WorkDir, "root.token"), []byte(s.RootToken+"\n"), 0o600); err != nil {
		return err
	}
	AddCredential(env.WorkDir, s.RootToken)
	mu.Lock()
	servers[env.WorkDir] = scriptVault{s, tb}
	mu.Unlock()
	env.Defer(func() {
		mu.Lock()
		delete(servers, env.WorkDir)
		delete(secrets, env.WorkDir)
		mu.Unlock()
	})
	return nil
}

func server(ts *testscript.TestScript) *vaulttest.Server {
	return lookup(ts).s
}

func lookup(ts *testscript.TestScript) scriptVault {
	mu.Lock()
	defer mu.Unlock()
	v, ok := servers[ts.Getenv("WORK")]
	if !ok {
		ts.Fatalf("no Vault started for this script")
	}
	return v
}

// root returns a root client for the script's Vault.
func root(ts *testscript.TestScript) *api.Client {
	v := lookup(ts)
	return v.s.RootClient(v.tb)
}

// Commands returns the shared custom commands:
//
//	exitcode N CMD ARGS...      run CMD and require exit status N
//	secret FILE...              register the files' contents as secrets
//	no-secrets stdout|stderr|FILE...   fail if a registered secret appears
//	vault-kv-put [-mount M] PATH K=V...  write a KV v2 secret under secret/ (or M/) as root
//	vault-token ROLE FILE       create a token from a token role into FILE
//	vault-write PATH K=V...     write any path as root
//	vault-seal                  seal the script's Vault
//	vault-stop                  stop the script's Vault
//	vault-wrap FILE K=V...      wrap data through sys/wrapping/wrap, token into FILE
//	approle-setup FILE          apply a bootstrap file (bootstrap.MakePlan/Apply) as root
//	mint [-no-wrap] [-wrap-ttl D] [-num-uses N] ROLE FILE   mint as root into FILE
//	role-id ROLE FILE           write a role's role ID into FILE
//	setenv-file NAME FILE       set NAME to FILE's content (trimmed)
//	sendsig SIG PIDFILE         signal the process whose PID is in PIDFILE
//	waitfor FILE REGEXP [D]     wait until FILE matches REGEXP
//	token-revoked FILE          require that the token in FILE no longer works
//	accessor-revoked FILE       require that the token whose accessor is in FILE is gone
//	no-zombies PIDFILE          require that the process in PIDFILE has no zombie child
//	lease-revoked PREFIX        require that no lease under PREFIX is left
//	free-port NAME              set NAME to a free loopback port
//	http-get URL                GET URL; the body becomes stdout
//	tls-listener NAME           set NAME to an https address whose certificate nobody trusts
//	vault-unseal                unseal the script's dev Vault
//	lease-secrets PREFIX/       register the ID of every lease under PREFIX as a credential
//	audit-has FILE EVENT [FIELD=V|FIELD~RE|FIELD]...  require an audit line (see cmdAuditHas)
//
// In K=V arguments, V may be @FILE to take the value from a file, for
// values with newlines or quotes; K:=JSON gives a structured value, such as
// options:={"version":"2"} for a KV v2 mount.
//
// Every command first runs the leak check over what keyturn's binaries
// have written so far in the script (see leak.go), and exitcode runs it
// again after its command.
func Commands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return withLeakCheck(map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"exitcode":     cmdExitCode,
		"secret":       cmdSecret,
		"no-secrets":   cmdNoSecrets,
		"vault-kv-put": cmdKVPut,
		"vault-token":  cmdToken,
		"vault-write":  cmdWrite,
		"vault-seal": func(ts *testscript.TestScript, neg bool, args []string) {
			if err := root(ts).Sys().Seal(); err != nil {
				ts.Fatalf("seal: %v", err)
			}
		},
		"vault-stop":       func(ts *testscript.TestScript, neg bool, args []string) { server(ts).Stop() },
		"vault-wrap":       cmdWrap,
		"approle-setup":    cmdApproleSetup,
		"mint":             cmdMint,
		"role-id":          cmdRoleID,
		"setenv-file":      cmdSetenvFile,
		"sendsig":          cmdSendSig,
		"waitfor":          cmdWaitFor,
		"token-revoked":    cmdTokenRevoked,
		"accessor-revoked": cmdAccessorRevoked,
		"no-zombies":       cmdNoZombies,
		"lease-revoked":    cmdLeaseRevoked,
		"free-port":        cmdFreePort,
		"http-get":         cmdHTTPGet,
		"tls-listener":     cmdTLSListener,
		"vault-unseal":     cmdVaultUnseal,
		"lease-secrets":    cmdLeaseSecrets,
		"audit-has":        cmdAuditHas,
	})
}

// withLeakCheck makes each command run the leak check first.
func withLeakCheck(cmds map[string]func(ts *testscript.TestScript, neg bool, args []string)) map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	for name, fn := range cmds {
		cmds[name] = func(ts *testscript.TestScript, neg bool, args []string) {
			checkLeaks(ts)
			fn(ts, neg, args)
		}
	}
	return cmds
}

func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N CMD ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
	checkLeaks(ts)
}

func cmdSecret(ts *testscript.TestScript, neg bool, args []string) {
	for _, f := range args {
		AddSecret(ts.Getenv("WORK"), ts.ReadFile(f))
	}
}

func cmdNoSecrets(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: no-secrets stdout|stderr|FILE...")
	}
	mu.Lock()
	list := append([]string{}, secrets[ts.Getenv("WORK")]...)
	mu.Unlock()
	if len(list) == 0 {
		ts.Fatalf("no-secrets: no secrets registered; the check would be empty")
	}
	for _, f := range args {
		text := ts.ReadFile(f)
		for i, s := range list {
			if strings.Contains(text, s) {
				ts.Fatalf("%s holds registered secret #%d", f, i+1)
			}
		}
	}
}

func kvArgs(ts *testscript.TestScript, args []string) map[string]any {
	data := map[string]any{}
	for _, kv := range args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			ts.Fatalf("%q is not K=V", kv)
		}
		if jk, ok := strings.CutSuffix(k, ":"); ok {
			var x any
			if err := json.Unmarshal([]byte(v), &x); err != nil {
				ts.Fatalf("%s: %v", kv, err)
			}
			data[jk] = x
			continue
		}
		if f, ok := strings.CutPrefix(v, "@"); ok {
			v = ts.ReadFile(f)
		}
		data[k] = v
	}
	return data
}

func cmdKVPut(ts *testscript.TestScript, neg bool, args []string) {
	mount := "secret"
	if len(args) > 1 && args[0] == "-mount" {
		mount, args = args[1], args[2:]
	}
	if len(args) < 2 {
		ts.Fatalf("usage: vault-kv-put [-mount M] PATH K=V...")
	}
	c := root(ts)
	data := kvArgs(ts, args[1:])
	// A KV v2 mount the script just enabled refuses writes until it has
	// finished upgrading, a moment later.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := c.KVv2(mount).Put(context.Background(), args[0], data)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			ts.Fatalf("kv put: %v", err)
		}
	}
	for _, v := range data {
		AddSecret(ts.Getenv("WORK"), fmt.Sprint(v))
	}
}

func cmdWrite(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: vault-write PATH K=V...")
	}
	c := root(ts)
	_, err := c.Logical().Write(args[0], kvArgs(ts, args[1:]))
	if (err != nil) != neg {
		ts.Fatalf("vault-write %s: %v", args[0], err)
	}
}

func cmdToken(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: vault-token ROLE FILE")
	}
	c := root(ts)
	sec, err := c.Logical().Write("auth/token/create/"+args[0], nil)
	if err != nil {
		ts.Fatalf("create token: %v", err)
	}
	tok := sec.Auth.ClientToken
	AddCredential(ts.Getenv("WORK"), tok)
	if err := os.WriteFile(ts.MkAbs(args[1]), []byte(tok+"\n"), 0o600); err != nil {
		ts.Fatalf("%v", err)
	}
}
