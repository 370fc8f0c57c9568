package envfile

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/internal/envfmt"
)

// writers are the envfmt formats Parse must read back exactly.
var writers = []func(w *bytes.Buffer, vars map[string]string) error{
	func(w *bytes.Buffer, v map[string]string) error { return envfmt.EnvFile(w, v) },
	func(w *bytes.Buffer, v map[string]string) error { return envfmt.Shell(w, v) },
}

// nasty are values whose quoting is easy to get wrong.
func nasty() map[string]string {
	var all strings.Builder
	for c := 1; c < 256; c++ {
		all.WriteByte(byte(c))
	}
	return map[string]string{
		"EMPTY": "", "SINGLE": "it's", "QUOTE_ESCAPE": `'\''`, "NEWLINE": "a\nb\r\n",
		"SUBST": "$(rm -rf /) `id` ${X}", "ALL_BYTES": all.String(),
		"LONG": strings.Repeat("0123456789abcdef'\"\n$`\\", 1<<12),
	}
}

func TestEnvFileRoundTrip(t *testing.T) {
	vals := nasty()
	for _, f := range writers {
		var out bytes.Buffer
		if err := f(&out, vals); err != nil {
			t.Fatal(err)
		}
		got, err := Parse(&out)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, vals) {
			for k, v := range vals {
				if got[k] != v {
					t.Errorf("%s: got %q want %q", k, got[k], v)
				}
			}
			t.Fatal("round trip differs")
		}
	}
}

func TestParse(t *testing.T) {
	in := "# written by prestart\n\n  \t\nA='1'\nexport  B='two words'\nC=''\nD='multi\nline'\\''s'\nE='last'"
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two words", "C": "", "D": "multi\nline's", "E": "last"}
	if !maps.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	if got, err := Parse(strings.NewReader("")); err != nil || len(got) != 0 {
		t.Fatalf("empty file: %v %v", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, line string }{
		{"A=secretvalue\n", "line 1"},
		{"A=\"secretvalue\"\n", "line 1"},
		{"A='secretvalue'x\n", "line 1"},
		{"A='secretvalue' \n", "line 1"},
		{"A='secretvalue'\r\n", "line 1"},
		{"A='secretvalue\n", "line 1"},
		{"A='ok'\nB='secretvalue'\\x'\n", "line 2"},
		{"A='ok'\n1B='secretvalue'\n", "line 2"},
		{"A='ok'\nB-C='secretvalue'\n", "line 2"},
		{"A='ok'\nB 'secretvalue'\n", "line 2"},
		{"A='ok'\nexport\n", "line 2"},
		{"A='o\nk'\nA='secretvalue'\n", "line 3"},
		{"A='sec\x00retvalue'\n", "line 1"},
		{"A='x'\n\nB='y'\n'secretvalue'\n", "line 4"},
	} {
		_, err := Parse(strings.NewReader(tc.in))
		if err == nil {
			t.Errorf("%q accepted", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.line) {
			t.Errorf("%q: error %q does not say %s", tc.in, err, tc.line)
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "retvalue") {
			t.Errorf("%q: error shows the value: %v", tc.in, err)
		}
	}
}

// FuzzEnvFileRoundTrip: whatever two values are, EnvFile and Shell output
// reads back to exactly the same variables, or the values are refused
// because they hold a NUL byte.
func FuzzEnvFileRoundTrip(f *testing.F) {
	f.Add("plain", "")
	f.Add("it's", `'\''`)
	f.Add("a\nb\r\n", "$(rm -rf /) `id` ${X}")
	f.Fuzz(func(t *testing.T, a, b string) {
		vars := map[string]string{"A": a, "B_1": b}
		for _, render := range writers {
			var out bytes.Buffer
			err := render(&out, vars)
			if strings.ContainsRune(a+b, 0) {
				var ve *envfmt.InvalidValueError
				if !errors.As(err, &ve) {
					t.Fatalf("NUL value: got %v", err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(&out)
			if err != nil {
				t.Fatalf("parse own output: %v", err)
			}
			if !maps.Equal(got, vars) {
				t.Fatalf("round trip: got %q want %q", got, vars)
			}
		}
	})
}

// FuzzParse: arbitrary input never panics, and whatever is accepted
// renders and parses back to the same variables.
func FuzzParse(f *testing.F) {
	f.Add([]byte("A='1'\n"))
	f.Add([]byte("# c\nexport B='x'\\''y'\n\nC='multi\nline'"))
	f.Add([]byte("A=unquoted\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Parse(bytes.NewReader(data))
		if err != nil {
			if got != nil {
				t.Fatal("map returned with an error")
			}
			return
		}
		for name := range got {
			if !envfmt.ValidName(name) {
				t.Fatalf("accepted invalid name %q", name)
			}
		}
		var out bytes.Buffer
		if err := envfmt.EnvFile(&out, got); err != nil {
			t.Fatalf("cannot render accepted input: %v", err)
		}
		again, err := Parse(&out)
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if !maps.Equal(got, again) {
			t.Fatalf("not stable: %q vs %q", got, again)
		}
	})
}
