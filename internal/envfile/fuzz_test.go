package envfile

import (
	"bytes"
	"errors"
	"maps"
	"testing"

	"github.com/keyturn/keyturn/internal/envfmt"
)

// FuzzParseLenient checks the env-file reader the exec: and s3:// sources and
// s3kms share: whatever
// the input, ParseEnv does not panic; an error is one of ours and quotes
// nothing; what it accepts is a set of valid names that keyturn's own
// format writes and reads back unchanged; and input in keyturn's own form
// means exactly what envfmt says it means. Seeds are in
// testdata/fuzz/FuzzParseLenient.
func FuzzParseLenient(f *testing.F) {
	f.Add([]byte("DB_PASSWORD='orange1'\n"))
	f.Add([]byte("# c\nexport K=V\nA=\"x\\ny\" # t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseLenient(data)
		if err != nil {
			if got != nil {
				t.Fatal("map returned with an error")
			}
			known := false
			for _, e := range []error{ErrSyntax, ErrName, ErrNUL, ErrTooBig, ErrAmbiguous} {
				if err == e {
					known = true
				}
			}
			if !known {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		for name, v := range got {
			if !envfmt.ValidName(name) || bytes.IndexByte([]byte(v), 0) >= 0 {
				t.Fatalf("accepted %q=%q", name, v)
			}
		}
		if strict, err := Parse(bytes.NewReader(data)); err == nil && !maps.Equal(strict, got) {
			t.Fatalf("keyturn's form read as %q, envfmt says %q", got, strict)
		}
		var out bytes.Buffer
		if err := envfmt.EnvFile(&out, got); err != nil {
			t.Fatalf("cannot render accepted input: %v", err)
		}
		again, err := ParseLenient(out.Bytes())
		if err != nil || !maps.Equal(got, again) {
			t.Fatalf("not stable: %q, then %q, %v", got, again, errors.Unwrap(err))
		}
	})
}
