package envfmt

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/joho/godotenv"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/. The readers of what these
// writers produce are fuzzed in package envfile.

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
