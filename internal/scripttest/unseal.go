package scripttest

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

type unsealScript struct {
	tb      testing.TB
	cluster *vaulttest.Cluster
	root    string // decrypted root token, registered as a secret
	gpg     map[string]*GnuPG
	reader  *kvReader
}

var unsealScripts = map[string]*unsealScript{} // $WORK -> state, guarded by mu

// UnsealSetup prepares a script for the unseal commands; use it as (or in)
// testscript.Params.Setup. It starts no server: scripts start a cluster with
// vault-cluster when they need one.
func UnsealSetup(env *testscript.Env) error {
	tb, ok := env.T().(testing.TB)
	if !ok {
		return errors.New("scripttest: testscript did not hand over a testing.TB")
	}
	mu.Lock()
	unsealScripts[env.WorkDir] = &unsealScript{tb: tb, gpg: map[string]*GnuPG{}}
	mu.Unlock()
	env.Setenv("VAULT_ADDR", "")
	env.Setenv("VAULT_TOKEN", "")
	env.Defer(func() {
		mu.Lock()
		s := unsealScripts[env.WorkDir]
		delete(unsealScripts, env.WorkDir)
		delete(secrets, env.WorkDir)
		mu.Unlock()
		if s != nil && s.reader != nil {
			s.reader.stop()
		}
	})
	return nil
}

func unsealState(ts *testscript.TestScript) *unsealScript {
	mu.Lock()
	defer mu.Unlock()
	s, ok := unsealScripts[ts.Getenv("WORK")]
	if !ok {
		ts.Fatalf("scripttest: UnsealSetup did not run for this script")
	}
	return s
}

func (s *unsealScript) needCluster(ts *testscript.TestScript) *vaulttest.Cluster {
	if s.cluster == nil {
		ts.Fatalf("no cluster: run vault-cluster N first")
	}
	return s.cluster
}

// UnsealCommands returns Commands plus those the unseal scripts use:
//
//	gpg-key NAME [-passphrase P] [-algo A] [-secret FILE]
//	        make NAME's own keyring (GNUPGHOME_NAME) and key; the armored
//	        public key goes to NAME.asc, with -secret the private key to FILE
//	gpg-wrapper LOG FILE     write FILE, a gpg that appends its argv to LOG
//	secret-share NAME FILE   decrypt FILE as `base64 -d | gpg -dq` with NAME's
//	                         keyring and register the share (hex, base64 and
//	                         raw) as a secret; nothing is printed
//	no-secrets-tree DIR [-skip NAME]...   no-secrets for every file under DIR
//	vault-cluster N          start N TLS raft nodes: NODE1..N, NODE1_LOG..,
//	                         VAULT_CACERT, and nodes.txt listing them
//	cluster-root NAME FILE   decrypt the root token FILE with NAME's keyring,
//	                         register it and use it for the cluster-* commands
//	cluster-wait [-timeout D] unsealed|peers N   wait for every running node
//	                         to be unsealed with an active node, or for N raft peers
//	cluster-restart follower kill and restart a standby; sets RESTARTED
//	cluster-kv-put PATH K=V...   write KV v2 at secret/PATH through the active node
//	cluster-kv-get PATH K=V...   read it back and compare
//	cluster-reader start PATH K=V | stop
//	        read PATH from the node active at start every 100 ms until stop,
//	        which fails unless every read succeeded with the value
func UnsealCommands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	cmds := map[string]func(ts *testscript.TestScript, neg bool, args []string){}
	cmds["gpg-key"] = cmdGPGKey
	cmds["gpg-wrapper"] = cmdGPGWrapper
	cmds["secret-share"] = cmdSecretShare
	cmds["no-secrets-tree"] = cmdNoSecretsTree
	cmds["vault-cluster"] = cmdVaultCluster
	cmds["cluster-root"] = cmdClusterRoot
	cmds["cluster-wait"] = cmdClusterWait
	cmds["cluster-restart"] = cmdClusterRestart
	cmds["cluster-kv-put"] = cmdClusterKVPut
	cmds["cluster-kv-get"] = cmdClusterKVGet
	cmds["cluster-reader"] = cmdClusterReader
	cmds = withLeakCheck(cmds)
	for name, fn := range Commands() {
		cmds[name] = fn
	}
	return cmds
}

func cmdGPGKey(ts *testscript.TestScript, neg bool, args []string) {
	fset := flag.NewFlagSet("gpg-key", flag.ContinueOnError)
	pass := fset.String("passphrase", "", "")
	algo := fset.String("algo", "future-default", "")
	secretFile := fset.String("secret", "", "")
	if len(args) == 0 || fset.Parse(args[1:]) != nil || fset.NArg() != 0 {
		ts.Fatalf("usage: gpg-key NAME [-passphrase P] [-algo A] [-secret FILE]")
	}
	name := args[0]
	s := unsealState(ts)
	g := NewGnuPG(s.tb, name, *pass, *algo)
	s.gpg[name] = g
	pub, err := g.PublicKey()
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(name+".asc"), pub, 0o644))
	if *secretFile != "" {
		sec, err := g.SecretKey()
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(*secretFile), sec, 0o600))
	}
	ts.Setenv("GNUPGHOME_"+strings.ToUpper(name), g.Home)
	ts.Setenv("FPR_"+strings.ToUpper(name), g.Fingerprint)
}

func cmdGPGWrapper(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: gpg-wrapper LOG FILE")
	}
	real, err := exec.LookPath("gpg")
	ts.Check(err)
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %q\nexec %q \"$@\"\n", ts.MkAbs(args[0]), real)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(script), 0o755))
}

func cmdSecretShare(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: secret-share NAME FILE")
	}
	s := unsealState(ts)
	g, ok := s.gpg[args[0]]
	if !ok {
		ts.Fatalf("no keyring %q: run gpg-key first", args[0])
	}
	pt, err := g.DecryptFile(ts.MkAbs(args[1]))
	ts.Check(err)
	text := strings.TrimSpace(string(pt))
	if text == "" {
		ts.Fatalf("%s decrypted to nothing", args[1])
	}
	work := ts.Getenv("WORK")
	AddCredential(work, text)
	if raw, err := hex.DecodeString(text); err == nil {
		AddCredential(work, strings.ToUpper(text))
		AddCredential(work, base64.StdEncoding.EncodeToString(raw))
		AddCredential(work, string(raw))
	}
}

func cmdNoSecretsTree(ts *testscript.TestScript, neg bool, args []string) {
	fset := flag.NewFlagSet("no-secrets-tree", flag.ContinueOnError)
	var skip cli.Multi
	fset.Var(&skip, "skip", "")
	if len(args) == 0 || fset.Parse(args[1:]) != nil || fset.NArg() != 0 {
		ts.Fatalf("usage: no-secrets-tree DIR [-skip NAME]...")
	}
	var files []string
	err := filepath.WalkDir(ts.MkAbs(args[0]), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !slices.Contains(skip, d.Name()) {
			files = append(files, p)
		}
		return nil
	})
	ts.Check(err)
	if len(files) == 0 {
		ts.Fatalf("no-secrets-tree: no files under %s", args[0])
	}
	cmdNoSecrets(ts, false, files)
}

func cmdVaultCluster(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: vault-cluster N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	s := unsealState(ts)
	c := vaulttest.StartCluster(s.tb, n)
	s.cluster = c
	var list strings.Builder
	for i, node := range c.Nodes {
		ts.Setenv(fmt.Sprintf("NODE%d", i+1), node.Addr)
		ts.Setenv(fmt.Sprintf("NODE%d_LOG", i+1), node.LogPath)
		fmt.Fprintln(&list, node.Addr)
	}
	ts.Setenv("VAULT_CACERT", c.CA.CertFile)
	ts.Check(os.WriteFile(ts.MkAbs("nodes.txt"), []byte(list.String()), 0o644))
}

func cmdClusterRoot(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: cluster-root NAME FILE")
	}
	s := unsealState(ts)
	g, ok := s.gpg[args[0]]
	if !ok {
		ts.Fatalf("no keyring %q", args[0])
	}
	pt, err := g.DecryptFile(ts.MkAbs(args[1]))
	ts.Check(err)
	s.root = strings.TrimSpace(string(pt))
	if !strings.HasPrefix(s.root, "hvs.") {
		ts.Fatalf("%s did not decrypt to a root token", args[1])
	}
	AddCredential(ts.Getenv("WORK"), s.root)
}

// active returns a root client for the active node.
func (s *unsealScript) active(ts *testscript.TestScript) *api.Client {
	c := s.needCluster(ts)
	if s.root == "" {
		ts.Fatalf("no root token: run cluster-root first")
	}
	n := c.WaitActive(s.tb, 30*time.Second)
	return n.Client(s.tb, s.root)
}

func cmdClusterWait(ts *testscript.TestScript, neg bool, args []string) {
	fset := flag.NewFlagSet("cluster-wait", flag.ContinueOnError)
	timeout := fset.Duration("timeout", 60*time.Second, "")
	if fset.Parse(args) != nil || fset.NArg() == 0 {
		ts.Fatalf("usage: cluster-wait [-timeout D] unsealed|peers N")
	}
	s := unsealState(ts)
	c := s.needCluster(ts)
	deadline := time.Now().Add(*timeout)
	var last string
	for time.Now().Before(deadline) {
		switch fset.Arg(0) {
		case "unsealed":
			sealed, active := 0, 0
			for _, n := range c.Nodes {
				if !n.Running() {
					continue
				}
				h, err := n.Client(s.tb, "").Sys().Health()
				switch {
				case err != nil || h.Sealed:
					sealed++
				case !h.Standby:
					active++
				}
			}
			if sealed == 0 && active == 1 {
				return
			}
			last = fmt.Sprintf("%d sealed, %d active", sealed, active)
		case "peers":
			want, _ := strconv.Atoi(fset.Arg(1))
			sec, err := s.active(ts).Logical().Read("sys/storage/raft/configuration")
			if err == nil && sec != nil {
				cfg, _ := sec.Data["config"].(map[string]any)
				servers, _ := cfg["servers"].([]any)
				if len(servers) == want {
					return
				}
				last = fmt.Sprintf("%d peers", len(servers))
			} else {
				last = fmt.Sprint(err)
			}
		default:
			ts.Fatalf("cluster-wait: unknown condition %q", fset.Arg(0))
		}
		time.Sleep(200 * time.Millisecond)
	}
	ts.Fatalf("cluster-wait %s: not reached after %s (%s)", strings.Join(fset.Args(), " "), *timeout, last)
}

func cmdClusterRestart(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || args[0] != "follower" {
		ts.Fatalf("usage: cluster-restart follower")
	}
	s := unsealState(ts)
	c := s.needCluster(ts)
	active := c.WaitActive(s.tb, 30*time.Second)
	for _, n := range c.Nodes {
		if n != active && n.Running() {
			n.Restart(s.tb)
			ts.Setenv("RESTARTED", n.Addr)
			return
		}
	}
	ts.Fatalf("cluster-restart: no follower running")
}

func cmdClusterKVPut(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: cluster-kv-put PATH K=V...")
	}
	c := unsealState(ts).active(ts)
	mounts, err := c.Sys().ListMounts()
	ts.Check(err)
	if _, ok := mounts["secret/"]; !ok {
		ts.Check(c.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	}
	var lastErr error
	for i := 0; i < 50; i++ { // a new KV v2 mount upgrades itself briefly
		if _, lastErr = c.KVv2("secret").Put(context.Background(), args[0], kvArgs(ts, args[1:])); lastErr == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("kv put: %v", lastErr)
}

func cmdClusterKVGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: cluster-kv-get PATH K=V...")
	}
	c := unsealState(ts).active(ts)
	if err := checkKV(c, args[0], kvArgs(ts, args[1:])); err != nil {
		ts.Fatalf("%v", err)
	}
}

func checkKV(c *api.Client, path string, want map[string]any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := c.KVv2("secret").Get(ctx, path)
	if err != nil {
		return fmt.Errorf("kv get %s: %w", path, err)
	}
	for k, v := range want {
		if got.Data[k] != v {
			return fmt.Errorf("kv get %s: %s = %v, want %v", path, k, got.Data[k], v)
		}
	}
	return nil
}

// kvReader reads one secret over and over from one node.
type kvReader struct {
	addr   string
	done   chan struct{}
	wg     sync.WaitGroup
	reads  atomic.Int64
	mu     sync.Mutex
	failed []string
}

func (r *kvReader) stop() {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	r.wg.Wait()
}

func cmdClusterReader(ts *testscript.TestScript, neg bool, args []string) {
	s := unsealState(ts)
	switch {
	case len(args) >= 3 && args[0] == "start":
		c := s.active(ts)
		want := kvArgs(ts, args[2:])
		r := &kvReader{addr: c.Address(), done: make(chan struct{})}
		s.reader = r
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				if err := checkKV(c, args[1], want); err != nil {
					r.mu.Lock()
					r.failed = append(r.failed, time.Now().Format("15:04:05.000")+" "+err.Error())
					r.mu.Unlock()
				}
				r.reads.Add(1)
				select {
				case <-r.done:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
		ts.Logf("reading %s from %s", args[1], r.addr)
	case len(args) == 1 && args[0] == "stop":
		r := s.reader
		if r == nil {
			ts.Fatalf("cluster-reader: not started")
		}
		r.stop()
		s.reader = nil
		ts.Logf("%d reads from %s, %d failed", r.reads.Load(), r.addr, len(r.failed))
		if len(r.failed) > 0 || r.reads.Load() == 0 {
			ts.Fatalf("reads failed:\n%s", strings.Join(r.failed, "\n"))
		}
	default:
		ts.Fatalf("usage: cluster-reader start PATH K=V... | stop")
	}
}
