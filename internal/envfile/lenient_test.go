package envfile

import (
	"bytes"
	"errors"
	"maps"
	"testing"

	"github.com/keyturn/keyturn/internal/envfmt"
)

func TestParseLenient(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
	}{
		// seed 000: what s3_kms_env printed
		{"seed000", "DB_USERNAME='root'\nDB_PASSWORD='orange1'\nDB_HOSTNAME='blah.amazon.com'\n",
			map[string]string{"DB_USERNAME": "root", "DB_PASSWORD": "orange1", "DB_HOSTNAME": "blah.amazon.com"}},
		// seed 002: Porter's secrets.env-file
		{"seed002", "# comment on SUPER_SECRET_SECRET\nSUPER_SECRET_SECRET=dont_tell_anyone\nFOO=bar\n",
			map[string]string{"SUPER_SECRET_SECRET": "dont_tell_anyone", "FOO": "bar"}},
		{"export", "export K=V\nexport Q='x y'\n", map[string]string{"K": "V", "Q": "x y"}},
		{"double quotes", `A="line1\nline2" ` + "\n" + `B="say \"hi\" twice"` + "\n",
			map[string]string{"A": "line1\nline2", "B": `say "hi" twice`}},
		{"single quotes are literal", `A='$HOME \n "x"'` + "\n", map[string]string{"A": `$HOME \n "x"`}},
		{"envfmt quoting", "A='it'\\''s'\nB='multi\nline'\n", map[string]string{"A": "it's", "B": "multi\nline"}},
		{"trailing comment", "A=x # not part of it\nB=#kept\n", map[string]string{"A": "x", "B": "#kept"}},
		{"expansion from earlier lines", "A=1\nB=${A}2\nC='${A}'\n", map[string]string{"A": "1", "B": "12", "C": "${A}"}},
		{"crlf", "A=1\r\nB='2'\r\n", map[string]string{"A": "1", "B": "2"}},
		{"empty", "", map[string]string{}},
		{"comments only", "# nothing\n\n", map[string]string{}},
		{"later wins", "A=1\nA=2\n", map[string]string{"A": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLenient([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseLenientErrorsHideInput(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"hunter2-secret-line\n", ErrSyntax},
		{"A=1\nhunter2-secret-line\n", ErrSyntax},
		{"A='hunter2-secret-line\n", ErrSyntax},
		{"a.b=hunter2-secret-line\n", ErrName},
		{"=hunter2-secret-line\n", ErrName},
		{"A=hunter2-secret\x00line\n", ErrNUL},
		{`A="hunter2-secret \"line\""` + "\n", ErrAmbiguous},
		{`A="hunter2-secret-line\\"` + "\n", ErrAmbiguous},
		{string(bytes.Repeat([]byte("A"), MaxSize+1)), ErrTooBig},
	}
	for _, tt := range tests {
		got, err := ParseLenient([]byte(tt.in))
		if !errors.Is(err, tt.want) || got != nil {
			t.Errorf("%.30q: got %v, %v; want %v", tt.in, got, err, tt.want)
			continue
		}
		if bytes.Contains([]byte(err.Error()), []byte("hunter2")) {
			t.Errorf("error quotes the input: %v", err)
		}
	}
}

// Everything envfmt renders in the formats a shell or a dotenv reader
// consumes comes back unchanged.
func TestParseLenientReadsEnvfmtOutput(t *testing.T) {
	vars := map[string]string{
		"PLAIN": "orange1", "QUOTE": `it's "quoted" here`, "DOLLAR": "$HOME ${X} $(id)",
		"NEWLINE": "a\nb\r\n", "EMPTY": "", "BACKSLASH": `a\nb`, "HASH": "# not a comment",
	}
	for _, f := range []envfmt.Format{envfmt.FormatEnvFile, envfmt.FormatShell, envfmt.FormatDotenv} {
		var b bytes.Buffer
		if err := envfmt.Render(&b, f, vars); err != nil {
			t.Fatal(err)
		}
		got, err := ParseLenient(b.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !maps.Equal(got, vars) {
			t.Errorf("%s: got %q, want %q", f, got, vars)
		}
	}
	// The values godotenv would misread are refused in dotenv form and
	// read exactly in keyturn's own form.
	for _, v := range []string{`ends with "quote"`, `ends with backslash\`} {
		for f, want := range map[envfmt.Format]error{envfmt.FormatDotenv: ErrAmbiguous, envfmt.FormatEnvFile: nil} {
			var b bytes.Buffer
			if err := envfmt.Render(&b, f, map[string]string{"V": v}); err != nil {
				t.Fatal(err)
			}
			got, err := ParseLenient(b.Bytes())
			if !errors.Is(err, want) || err == nil && got["V"] != v {
				t.Errorf("%s %q: got %q, %v; want %v", f, v, got, err, want)
			}
		}
	}
}
