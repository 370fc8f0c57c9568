package main

import (
	"bytes"
	"maps"
	"testing"

	"github.com/keyturn/keyturn/internal/envfmt"
)

// The bare client must read back exactly what keyturn's writer wrote, or
// the benchmark would compare against a client that does less work.
func TestParseEnvFileReadsKeyturnsEnvFile(t *testing.T) {
	vars := map[string]string{"A": "plain", "B": "it's quoted", "C": `a '' b \ "c" $d`, "EMPTY": ""}
	var b bytes.Buffer
	if err := envfmt.EnvFile(&b, vars); err != nil {
		t.Fatal(err)
	}
	got, err := parseEnvFile(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, vars) {
		t.Errorf("got %q, want %q", got, vars)
	}
	for _, bad := range []string{"A=unquoted\n", "A='open\n", "no equals sign\n"} {
		if _, err := parseEnvFile(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
