package scripttest

import (
	"context"
	"flag"
	"os"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/approle/bootstrap"
)

func cmdApproleSetup(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: approle-setup FILE")
	}
	cfg, err := bootstrap.LoadConfig(ts.MkAbs(args[0]))
	ts.Check(err)
	c := root(ts)
	plan, err := bootstrap.MakePlan(context.Background(), c, cfg)
	ts.Check(err)
	ts.Check(bootstrap.Apply(context.Background(), c, plan))
}

func cmdMint(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("mint", flag.ContinueOnError)
	noWrap := fs.Bool("no-wrap", false, "")
	wrapTTL := fs.Duration("wrap-ttl", approle.DefaultWrapTTL, "")
	numUses := fs.Int("num-uses", 0, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 2 {
		ts.Fatalf("usage: mint [-no-wrap] [-wrap-ttl D] [-num-uses N] ROLE FILE")
	}
	opts := []approle.MintOption{approle.WithWrapTTL(*wrapTTL)}
	if *noWrap {
		opts = append(opts, approle.WithoutWrapping())
	}
	if *numUses > 0 {
		opts = append(opts, approle.WithNumUses(*numUses))
	}
	m, err := approle.Mint(context.Background(), root(ts), "approle", fs.Arg(0), opts...)
	ts.Check(err)
	v := m.WrappingToken
	if *noWrap {
		v = m.SecretID
	}
	AddCredential(ts.Getenv("WORK"), v)
	ts.Check(os.WriteFile(ts.MkAbs(fs.Arg(1)), []byte(v+"\n"), 0o600))
}

func cmdRoleID(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: role-id ROLE FILE")
	}
	id, err := approle.RoleID(context.Background(), root(ts), "approle", args[0])
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(id+"\n"), 0o600))
}

func cmdSetenvFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: setenv-file NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

func cmdWrap(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: vault-wrap FILE K=V...")
	}
	c := root(ts)
	c.SetWrappingLookupFunc(func(_, path string) string {
		if path == "sys/wrapping/wrap" {
			return "120s"
		}
		return ""
	})
	sec, err := c.Logical().Write("sys/wrapping/wrap", kvArgs(ts, args[1:]))
	ts.Check(err)
	if sec == nil || sec.WrapInfo == nil {
		ts.Fatalf("vault-wrap: response not wrapped")
	}
	AddCredential(ts.Getenv("WORK"), sec.WrapInfo.Token)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(sec.WrapInfo.Token+"\n"), 0o600))
}
