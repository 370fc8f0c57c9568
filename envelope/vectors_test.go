package envelope

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json and the fuzz seed corpora")

const vectorsFile = "testdata/vectors.json"

// vectorFile is the layout of testdata/vectors.json. Binary values are
// lowercase hex.
type vectorFile struct {
	Comment string          `json:"comment"`
	Valid   []validVector   `json:"valid"`
	Invalid []invalidVector `json:"invalid"`
}

type validVector struct {
	Name             string            `json:"name"`
	DataKey          string            `json:"data_key"`
	Nonce            string            `json:"nonce"`
	KeyARN           string            `json:"key_arn"`
	Context          map[string]string `json:"context"`
	EncryptedDataKey string            `json:"encrypted_data_key"`
	Plaintext        string            `json:"plaintext"`
	Envelope         string            `json:"envelope"`
}

type invalidVector struct {
	Name     string `json:"name"`
	DataKey  string `json:"data_key"`
	Envelope string `json:"envelope"`
	// Error is the sentinel Parse or Open must return: not_envelope,
	// unsupported_version, malformed or authentication.
	Error string `json:"error"`
}

var vectorErrors = map[string]error{
	"not_envelope":        ErrNotEnvelope,
	"unsupported_version": ErrUnsupportedVersion,
	"malformed":           ErrMalformed,
	"authentication":      ErrAuthentication,
}

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// buildVectors derives the vectors from fixed inputs; with -update they are
// written out, otherwise the committed file must match what the code
// produces.
func buildVectors(t *testing.T) vectorFile {
	t.Helper()
	type in struct {
		name    string
		nonce   []byte
		h       Header
		pt      string
		dataKey []byte
	}
	ins := []in{
		{
			name:  "single variable",
			nonce: seq(0xa0, NonceSize),
			h: Header{
				KeyARN:           "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
				Context:          map[string]string{ObjectContextKey: "s3://keyturn-demo/app/prod.env"},
				EncryptedDataKey: seq(0x40, 24),
			},
			pt:      "DB_PASSWORD='orange1'\n",
			dataKey: seq(0x00, DataKeySize),
		},
		{
			name:  "empty plaintext",
			nonce: seq(0x10, NonceSize),
			h: Header{
				KeyARN:           "arn:aws:kms:eu-central-1:444455556666:key/mrk-0123456789abcdef0123456789abcdef",
				Context:          map[string]string{ObjectContextKey: "s3://b/k"},
				EncryptedDataKey: []byte{0x01},
			},
			pt:      "",
			dataKey: seq(0x20, DataKeySize),
		},
		{
			name:  "several context entries",
			nonce: seq(0x00, NonceSize),
			h: Header{
				KeyARN: "arn:aws:kms:us-west-2:111122223333:key/0f9e8d7c-6b5a-4938-2716-05f4e3d2c1b0",
				Context: map[string]string{
					ObjectContextKey: "s3://workout-tracker-secrets/production/.env",
					"keyturn:env":    "production",
					"app":            "workout-tracker",
				},
				EncryptedDataKey: seq(0x80, 48),
			},
			pt:      "export API_KEY=\"k-1\"\nDB_URL=postgres://db/app\n# comment\n",
			dataKey: seq(0xe0, DataKeySize),
		},
	}
	vf := vectorFile{Comment: "keyturn envelope format version 1 known-answer vectors; binary values are lowercase hex. See docs/envelope.md."}
	var first []byte
	for _, v := range ins {
		var nonce [NonceSize]byte
		copy(nonce[:], v.nonce)
		b, err := seal(v.h, v.dataKey, []byte(v.pt), nonce)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if first == nil {
			first = b
		}
		vf.Valid = append(vf.Valid, validVector{
			Name: v.name, DataKey: hex.EncodeToString(v.dataKey), Nonce: hex.EncodeToString(v.nonce),
			KeyARN: v.h.KeyARN, Context: v.h.Context, EncryptedDataKey: hex.EncodeToString(v.h.EncryptedDataKey),
			Plaintext: hex.EncodeToString([]byte(v.pt)), Envelope: hex.EncodeToString(b),
		})
	}
	key := hex.EncodeToString(ins[0].dataKey)
	mod := func(f func([]byte) []byte) string { return hex.EncodeToString(f(bytes.Clone(first))) }
	flip := func(i int) func([]byte) []byte { return func(b []byte) []byte { b[i] ^= 1; return b } }
	hdrLen := len(first) - len(ins[0].pt) - TagSize
	vf.Invalid = []invalidVector{
		{"bad magic", key, mod(flip(0)), "not_envelope"},
		{"version 2", key, mod(func(b []byte) []byte { b[8] = 2; return b }), "unsupported_version"},
		// The last byte of the key ARN (a key ID hex digit) and of the
		// object context value: both still parse, so GCM must catch them.
		{"flipped key ARN byte", key, mod(flip(11 + len(ins[0].h.KeyARN) - 1)), "authentication"},
		{"flipped object context byte", key, mod(flip(hdrLen - 4 - NonceSize - 2 - len(ins[0].h.EncryptedDataKey) - 1)), "authentication"},
		{"flipped nonce byte", key, mod(flip(hdrLen - 5)), "authentication"},
		{"flipped ciphertext byte", key, mod(flip(hdrLen)), "authentication"},
		{"flipped tag byte", key, mod(flip(len(first) - 1)), "authentication"},
		{"wrong data key", hex.EncodeToString(seq(0x01, DataKeySize)), mod(func(b []byte) []byte { return b }), "authentication"},
		{"truncated by one byte", key, mod(func(b []byte) []byte { return b[:len(b)-1] }), "malformed"},
		{"trailing byte", key, mod(func(b []byte) []byte { return append(b, 0) }), "malformed"},
		{"ciphertext length too large", key, mod(flip(hdrLen - 1)), "malformed"},
		{"duplicate context key", key, hex.EncodeToString(new(builder).start(1).raw(2).str(ObjectContextKey).str("s3://b/k").str(ObjectContextKey).str("s3://b/k").str("edk").nonce().ciphertext(16).b), "malformed"},
		{"oversized key ARN length", key, hex.EncodeToString(new(builder).raw([]byte(Magic)...).raw(1, 0x08, 0x01).b), "malformed"},
	}
	return vf
}

func TestVectors(t *testing.T) {
	want := buildVectors(t)
	if *update {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		writeFuzzSeeds(t, want)
	}
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var got vectorFile
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Valid) != len(want.Valid) || len(got.Invalid) != len(want.Invalid) {
		t.Fatalf("%s is stale; run go test ./envelope -run TestVectors -update", vectorsFile)
	}

	for _, v := range got.Valid {
		t.Run("seal/"+v.Name, func(t *testing.T) {
			var nonce [NonceSize]byte
			copy(nonce[:], unhex(t, v.Nonce))
			h := Header{KeyARN: v.KeyARN, Context: v.Context, EncryptedDataKey: unhex(t, v.EncryptedDataKey)}
			b, err := seal(h, unhex(t, v.DataKey), unhex(t, v.Plaintext), nonce)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(b) != v.Envelope {
				t.Fatalf("seal produced\n%x\nwant\n%s", b, v.Envelope)
			}
		})
		t.Run("open/"+v.Name, func(t *testing.T) {
			env, err := Parse(unhex(t, v.Envelope))
			if err != nil {
				t.Fatal(err)
			}
			if env.KeyARN != v.KeyARN || hex.EncodeToString(env.EncryptedDataKey) != v.EncryptedDataKey || hex.EncodeToString(env.Nonce[:]) != v.Nonce {
				t.Fatalf("parsed header differs from the vector")
			}
			if len(env.Context) != len(v.Context) {
				t.Fatalf("context has %d entries, want %d", len(env.Context), len(v.Context))
			}
			for k, val := range v.Context {
				if env.Context[k] != val {
					t.Fatalf("context[%q] differs", k)
				}
			}
			pt, err := Open(env, unhex(t, v.DataKey))
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(pt) != v.Plaintext {
				t.Fatal("plaintext differs from the vector")
			}
		})
	}
	for _, v := range got.Invalid {
		t.Run("invalid/"+v.Name, func(t *testing.T) {
			want, ok := vectorErrors[v.Error]
			if !ok {
				t.Fatalf("unknown error name %q", v.Error)
			}
			_, err := parseOpen(unhex(t, v.Envelope), unhex(t, v.DataKey))
			if !errors.Is(err, want) {
				t.Fatalf("got %v, want %v", err, want)
			}
		})
	}
	// The committed file must be what the code generates, so that a
	// format change cannot slip in with regenerated vectors unnoticed.
	wantJSON, _ := json.MarshalIndent(want, "", "  ")
	if !bytes.Equal(bytes.TrimSpace(raw), wantJSON) {
		t.Fatalf("%s differs from the generated vectors", vectorsFile)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFuzzSeeds commits the vectors as seed corpora, so `go test` runs
// them on every build and `go test -fuzz` starts from realistic inputs.
func writeFuzzSeeds(t *testing.T, vf vectorFile) {
	t.Helper()
	write := func(target, name string, args ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := "go test fuzz v1\n"
		for _, a := range args {
			s += a + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bytesArg := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	for i, v := range vf.Valid {
		write("FuzzParse", "valid-"+strconv.Itoa(i), bytesArg(unhex(t, v.Envelope)))
		write("FuzzOpen", "valid-"+strconv.Itoa(i), bytesArg(unhex(t, v.Plaintext)), "string("+strconv.Quote(v.Context[ObjectContextKey])+")", "uint(7)", "byte('\\x01')")
	}
	for i, v := range vf.Invalid {
		write("FuzzParse", "invalid-"+strconv.Itoa(i), bytesArg(unhex(t, v.Envelope)))
	}
}
