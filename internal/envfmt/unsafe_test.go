package envfmt

import (
	"errors"
	"strings"
	"testing"
)

func TestUnsafeName(t *testing.T) {
	for _, name := range []string{"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "BASH_ENV", "ENV",
		"PATH", "IFS", "PROMPT_COMMAND", "PS4", "NODE_OPTIONS", "PYTHONPATH", "PYTHONSTARTUP", "PERL5OPT", "RUBYOPT",
		"JAVA_TOOL_OPTIONS", "BASH_FUNC_X", "GCONV_PATH", "GLIBC_TUNABLES", "DOTNET_STARTUP_HOOKS", "SSL_CERT_FILE"} {
		if _, unsafe := UnsafeName(name); !unsafe {
			t.Errorf("%s is not on the unsafe list", name)
		}
	}
	for _, name := range []string{"DB_PASSWORD", "ld_preload", "Path", "MY_PATH", "PATHS", "APP_ENV", "ENVIRONMENT", "NODE_ENV", "LD"} {
		if what, unsafe := UnsafeName(name); unsafe {
			t.Errorf("%s is on the unsafe list (%s)", name, what)
		}
	}
}

func TestMergeRefusesUnsafeNames(t *testing.T) {
	var e Env
	err := e.Merge(map[string]string{"A": "1", "LD_PRELOAD": "/tmp/evil-value.so"}, "s3://b/app.env", false)
	var ue *UnsafeNameError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want *UnsafeNameError", err)
	}
	if ue.Name != "LD_PRELOAD" || ue.Source != "s3://b/app.env" || ue.What != "dynamic loader" {
		t.Fatalf("error %#v", ue)
	}
	if msg := err.Error(); strings.Contains(msg, "evil-value") || !strings.Contains(msg, "-allow-name LD_PRELOAD") {
		t.Fatalf("message %q", msg)
	}
	if e.Len() != 0 {
		t.Fatal("a refused source was partly merged")
	}

	// Named by the user: accepted.
	if err := e.MergeNamed(map[string]string{"PATH": "/opt/bin"}, "vault://secret/p", false); err != nil {
		t.Fatal(err)
	}
	// Allowed by the user: accepted from data.
	e.Allow("LD_PRELOAD")
	if err := e.Merge(map[string]string{"LD_PRELOAD": "x.so"}, "s3://b/app.env", false); err != nil {
		t.Fatal(err)
	}
	// Allowing one name does not allow another.
	if err := e.Merge(map[string]string{"BASH_ENV": "x"}, "exec:cat", false); !errors.As(err, &ue) || ue.Name != "BASH_ENV" {
		t.Fatalf("got %v", err)
	}
	if got := e.Names(); strings.Join(got, ",") != "LD_PRELOAD,PATH" {
		t.Fatalf("names %v", got)
	}
}

func TestMergeRefusesNUL(t *testing.T) {
	var e Env
	for _, named := range []bool{false, true} {
		merge := e.Merge
		if named {
			merge = e.MergeNamed
		}
		err := merge(map[string]string{"TOKEN": "abc\x00secret-tail"}, "s3://b/p/?blobs", false)
		var ne *NULValueError
		if !errors.As(err, &ne) || ne.Name != "TOKEN" || ne.Source != "s3://b/p/?blobs" {
			t.Fatalf("got %v, want *NULValueError", err)
		}
		if strings.Contains(err.Error(), "secret-tail") {
			t.Fatalf("message shows the value: %q", err)
		}
	}
	if e.Len() != 0 {
		t.Fatal("merged a NUL value")
	}
}
