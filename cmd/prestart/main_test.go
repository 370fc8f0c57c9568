package main

import (
	"flag"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyturn/keyturn/internal/prestart"
	"github.com/keyturn/keyturn/internal/scripttest"
	"github.com/keyturn/keyturn/internal/vaultconn"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"prestart": func() {
			os.Exit(start(os.Args[1:]))
		},
		// The test binary links the AWS SDK; these two play the lean
		// prestart (-tags nos3) and the prestart-s3 it runs for s3://.
		"prestart-nos3": func() {
			os.Exit(startWith(os.Args[1:], nil))
		},
		"prestart-s3": func() {
			os.Exit(start(os.Args[1:]))
		},
	})
}

func TestScripts(t *testing.T) {
	cmds := scripttest.Commands()
	maps.Copy(cmds, scripttest.S3Commands())
	testscript.Run(t, testscript.Params{
		Dir:  "testdata",
		Cmds: cmds,
		// Each script gets the servers its name asks for: s3_* a MinIO and
		// a KMS, exec_* none, leased_* a Vault whose secret/ mount hands out
		// renewable leases, every other one a dev Vault.
		Setup: func(env *testscript.Env) error {
			name := strings.TrimPrefix(filepath.Base(env.WorkDir), "script-")
			switch {
			case strings.HasPrefix(name, "s3_"):
				return scripttest.StartS3(env)
			case strings.HasPrefix(name, "exec_"):
				return scripttest.NoServer(env)
			case strings.HasPrefix(name, "leased_"):
				return scripttest.StartVault(env, vaulttest.WithArgs("-dev-leased-kv"))
			}
			return scripttest.StartVault(env)
		},
	})
}

// Every flag is in the usage text, so -help keeps up with what prestart
// accepts.
func TestUsageNamesEveryFlag(t *testing.T) {
	var version bool
	flagSet(&prestart.Plan{}, &version).VisitAll(func(f *flag.Flag) {
		if f.Name == "ns" {
			return // the Vault CLI's short spelling of -namespace
		}
		if !regexp.MustCompile(`(^|\s)-` + regexp.QuoteMeta(f.Name) + `($|[^\w-])`).MatchString(usage + vaultconn.FlagsUsage + vaultconn.TokenUsage) {
			t.Errorf("-%s is not in the usage text", f.Name)
		}
	})
}
