package envfmt

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/joho/godotenv"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/. A shell round trip is not
// fuzzed: a subprocess per input is far too slow. TestShellEval covers the
// shell with real shells, and these targets check the in-process readers
// against the writers.

// FuzzEnvFileRoundTrip: whatever two values are, EnvFile and Shell output
// reads back to exactly the same variables, or the values are refused
// because they hold a NUL byte.
func FuzzEnvFileRoundTrip(f *testing.F) {
	f.Add("plain", "")
	f.Add("it's", `'\''`)
	f.Add("a\nb\r\n", "$(rm -rf /) `id` ${X}")
	f.Fuzz(func(t *testing.T, a, b string) {
		vars := map[string]string{"A": a, "B_1": b}
		for _, render := range []func(*bytes.Buffer, map[string]string) error{envFileRender, shellRender} {
			var out bytes.Buffer
			err := render(&out, vars)
			if strings.ContainsRune(a+b, 0) {
				var ve *InvalidValueError
				if !errors.As(err, &ve) {
					t.Fatalf("NUL value: got %v", err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseEnvFile(&out)
			if err != nil {
				t.Fatalf("parse own output: %v", err)
			}
			if !maps.Equal(got, vars) {
				t.Fatalf("round trip: got %q want %q", got, vars)
			}
		}
	})
}

// FuzzParseEnvFile: arbitrary input never panics, and whatever is accepted
// renders and parses back to the same variables.
func FuzzParseEnvFile(f *testing.F) {
	f.Add([]byte("A='1'\n"))
	f.Add([]byte("# c\nexport B='x'\\''y'\n\nC='multi\nline'"))
	f.Add([]byte("A=unquoted\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseEnvFile(bytes.NewReader(data))
		if err != nil {
			if got != nil {
				t.Fatal("map returned with an error")
			}
			return
		}
		for name := range got {
			if !ValidName(name) {
				t.Fatalf("accepted invalid name %q", name)
			}
		}
		var out bytes.Buffer
		if err := EnvFile(&out, got); err != nil {
			t.Fatalf("cannot render accepted input: %v", err)
		}
		again, err := ParseEnvFile(&out)
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if !maps.Equal(got, again) {
			t.Fatalf("not stable: %q vs %q", got, again)
		}
	})
}

// FuzzDotenvGodotenv: godotenv reads Dotenv's output back unchanged, except
// for the value endings it is known to misread (see godotenvMisreads).
func FuzzDotenvGodotenv(f *testing.F) {
	f.Add("plain")
	f.Add("$HOME \\$X `id` \"q\" \\n\nline\r\n")
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsRune(v, 0) || godotenvMisreads(v) {
			return
		}
		var out bytes.Buffer
		if err := Dotenv(&out, map[string]string{"V": v}); err != nil {
			t.Fatal(err)
		}
		got, err := godotenv.Unmarshal(out.String())
		if err != nil {
			t.Fatalf("godotenv: %v", err)
		}
		if got["V"] != v || len(got) != 1 {
			t.Fatalf("godotenv read %q, want %q", got["V"], v)
		}
	})
}

// FuzzSanitizeName: every non-empty input gives a valid name made only of
// [A-Z0-9_], and sanitising is idempotent.
func FuzzSanitizeName(f *testing.F) {
	f.Add("db.password")
	f.Add("2fa")
	f.Add("ünï-cödé")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := SanitizeName(s)
		if s == "" {
			if !errors.Is(err, ErrEmptyName) {
				t.Fatalf("empty: %v", err)
			}
			return
		}
		if err != nil || !ValidName(n) || strings.ToUpper(n) != n {
			t.Fatalf("SanitizeName(%q) = %q, %v", s, n, err)
		}
		if again, _ := SanitizeName(n); again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, again)
		}
	})
}
