package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

const (
	testARN    = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	testObject = "s3://keyturn-secrets/app/prod.env"
)

func testKey() []byte {
	k := make([]byte, DataKeySize)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func testHeader() Header {
	return Header{
		KeyARN:           testARN,
		Context:          map[string]string{ObjectContextKey: testObject, "keyturn:env": "prod"},
		EncryptedDataKey: []byte("opaque KMS ciphertext blob"),
	}
}

func mustSeal(t *testing.T, h Header, key, pt []byte) []byte {
	t.Helper()
	b, err := Seal(h, key, pt)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return b
}

func parseOpen(b, key []byte) ([]byte, error) {
	env, err := Parse(b)
	if err != nil {
		return nil, err
	}
	return Open(env, key)
}

func TestRoundTrip(t *testing.T) {
	for _, pt := range [][]byte{nil, {}, []byte("A=1\n"), bytes.Repeat([]byte("K=v\n"), 10000)} {
		b := mustSeal(t, testHeader(), testKey(), pt)
		if !HasMagic(b) {
			t.Fatal("sealed envelope lacks magic")
		}
		env, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if env.KeyARN != testARN || env.Context[ObjectContextKey] != testObject || string(env.EncryptedDataKey) != "opaque KMS ciphertext blob" {
			t.Fatalf("header did not round trip: %+v", env.Header)
		}
		got, err := Open(env, testKey())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("plaintext mismatch")
		}
	}
}

func TestFreshNonce(t *testing.T) {
	a := mustSeal(t, testHeader(), testKey(), []byte("A=1"))
	b := mustSeal(t, testHeader(), testKey(), []byte("A=1"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same input are identical; nonce is not fresh")
	}
}

func TestEveryByteFlipFails(t *testing.T) {
	b := mustSeal(t, testHeader(), testKey(), []byte("DB_PASSWORD='orange1'\n"))
	for i := range b {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			c := bytes.Clone(b)
			c[i] ^= mask
			if _, err := parseOpen(c, testKey()); err == nil {
				t.Fatalf("flipping byte %d with %#x was accepted", i, mask)
			}
		}
	}
}

func TestWrongDataKey(t *testing.T) {
	b := mustSeal(t, testHeader(), testKey(), []byte("A=1"))
	k := testKey()
	k[31] ^= 1
	_, err := parseOpen(b, k)
	if !errors.Is(err, ErrAuthentication) {
		t.Fatalf("got %v, want ErrAuthentication", err)
	}
	if err.Error() != ErrAuthentication.Error() {
		t.Fatalf("authentication error carries detail: %q", err)
	}
}

func TestTamperedFieldsStillParsing(t *testing.T) {
	// Header changes that keep the envelope well-formed must be caught by
	// GCM, not by the parser.
	b := mustSeal(t, testHeader(), testKey(), []byte("A=1"))
	env, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(e *Envelope){
		"key ARN":  func(e *Envelope) { e.KeyARN = strings.Replace(e.KeyARN, "us-east-1", "us-west-2", 1) },
		"context":  func(e *Envelope) { e.Context["keyturn:env"] = "dev" },
		"object":   func(e *Envelope) { e.Context[ObjectContextKey] = "s3://other/key" },
		"add ctx":  func(e *Envelope) { e.Context["x"] = "y" },
		"data key": func(e *Envelope) { e.EncryptedDataKey = []byte("another blob") },
		"nonce":    func(e *Envelope) { e.Nonce[0] ^= 1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			e, _ := Parse(bytes.Clone(b))
			mutate(e)
			if _, err := Open(e, testKey()); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("got %v, want ErrAuthentication", err)
			}
		})
	}
	if _, err := Open(env, testKey()); err != nil {
		t.Fatalf("unmodified envelope: %v", err)
	}
}

func TestDecryptContext(t *testing.T) {
	env, err := Parse(mustSeal(t, testHeader(), testKey(), []byte("A=1")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := env.DecryptContext(ObjectURI("keyturn-secrets", "app/prod.env"))
	if err != nil {
		t.Fatal(err)
	}
	if ctx[ObjectContextKey] != testObject || ctx["keyturn:env"] != "prod" || len(ctx) != 2 {
		t.Fatalf("context = %v", ctx)
	}
	ctx["keyturn:env"] = "changed"
	if env.Context["keyturn:env"] != "prod" {
		t.Fatal("DecryptContext returned the header's own map")
	}
	if _, err := env.DecryptContext(ObjectURI("keyturn-secrets", "app/dev.env")); !errors.Is(err, ErrObjectMismatch) {
		t.Fatalf("copied envelope: got %v, want ErrObjectMismatch", err)
	}
}

func TestSealRejects(t *testing.T) {
	long := strings.Repeat("a", 300)
	cases := []struct {
		name string
		h    func(*Header)
		key  []byte
		pt   []byte
		want error
	}{
		{"short data key", nil, make([]byte, 16), nil, ErrInvalidDataKey},
		{"no data key", nil, nil, nil, ErrInvalidDataKey},
		{"alias instead of ARN", func(h *Header) { h.KeyARN = "alias/app-prod" }, nil, nil, ErrInvalidHeader},
		{"alias ARN", func(h *Header) { h.KeyARN = "arn:aws:kms:us-east-1:111122223333:alias/app" }, nil, nil, ErrInvalidHeader},
		{"bare key ID", func(h *Header) { h.KeyARN = "1234abcd-12ab-34cd-56ef-1234567890ab" }, nil, nil, ErrInvalidHeader},
		{"empty ARN", func(h *Header) { h.KeyARN = "" }, nil, nil, ErrInvalidHeader},
		{"no object context", func(h *Header) { delete(h.Context, ObjectContextKey) }, nil, nil, ErrInvalidHeader},
		{"nil context", func(h *Header) { h.Context = nil }, nil, nil, ErrInvalidHeader},
		{"empty context value", func(h *Header) { h.Context["a"] = "" }, nil, nil, ErrInvalidHeader},
		{"long context key", func(h *Header) { h.Context[long] = "v" }, nil, nil, ErrInvalidHeader},
		{"invalid UTF-8", func(h *Header) { h.Context["a"] = "\xff" }, nil, nil, ErrInvalidHeader},
		{"no encrypted key", func(h *Header) { h.EncryptedDataKey = nil }, nil, nil, ErrInvalidHeader},
		{"huge encrypted key", func(h *Header) { h.EncryptedDataKey = make([]byte, MaxEncryptedKeyLen+1) }, nil, nil, ErrInvalidHeader},
		{"too many entries", func(h *Header) {
			for i := range MaxContextEntries {
				h.Context[string(rune('A'+i))] = "v"
			}
		}, nil, nil, ErrInvalidHeader},
		{"context too large", func(h *Header) {
			for i := range 9 {
				h.Context[string(rune('A'+i))] = strings.Repeat("v", MaxContextValueLen)
			}
		}, nil, nil, ErrInvalidHeader},
		{"plaintext too large", nil, nil, make([]byte, MaxPlaintextSize+1), ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := testHeader()
			if c.h != nil {
				c.h(&h)
			}
			key := c.key
			if key == nil && !strings.Contains(c.name, "data key") {
				key = testKey()
			}
			_, err := Seal(h, key, c.pt)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// builder writes envelopes field by field without validation, to produce
// inputs Seal refuses to write.
type builder struct{ b []byte }

func (w *builder) raw(p ...byte) *builder    { w.b = append(w.b, p...); return w }
func (w *builder) str(s string) *builder     { w.b = appendString16(w.b, s); return w }
func (w *builder) u32(n uint32) *builder     { w.b = binary.BigEndian.AppendUint32(w.b, n); return w }
func (w *builder) nonce() *builder           { return w.raw(make([]byte, NonceSize)...) }
func (w *builder) start(v byte) *builder     { return w.raw([]byte(Magic)...).raw(v).str(testARN) }
func (w *builder) ciphertext(n int) *builder { return w.u32(uint32(n)).raw(make([]byte, n)...) }

func TestParseRejects(t *testing.T) {
	good := mustSeal(t, testHeader(), testKey(), []byte("A=1"))
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrNotEnvelope},
		{"plain env file", []byte("A=1\n"), ErrNotEnvelope},
		{"bad magic", append([]byte("keyturn\x01"), good[8:]...), ErrNotEnvelope},
		{"magic only", []byte(Magic), ErrMalformed},
		{"version 0", append([]byte(Magic), 0), ErrUnsupportedVersion},
		{"version 2", append(append([]byte(Magic), 2), good[9:]...), ErrUnsupportedVersion},
		{"trailing byte", append(bytes.Clone(good), 0), ErrMalformed},
		{"ARN length zero", new(builder).raw([]byte(Magic)...).raw(1, 0, 0).b, ErrMalformed},
		{"ARN length huge", new(builder).raw([]byte(Magic)...).raw(1, 0xff, 0xff).b, ErrMalformed},
		{"zero context entries", new(builder).start(1).raw(0).b, ErrMalformed},
		{"33 context entries", new(builder).start(1).raw(33).b, ErrMalformed},
		{"duplicate context key", new(builder).start(1).raw(2).str(ObjectContextKey).str(testObject).str(ObjectContextKey).str("s3://b/k").b, ErrMalformed},
		{"unsorted context", new(builder).start(1).raw(2).str(ObjectContextKey).str(testObject).str("a").str("b").b, ErrMalformed},
		{"empty context value", new(builder).start(1).raw(1).str(ObjectContextKey).str("").b, ErrMalformed},
		{"missing object context", new(builder).start(1).raw(1).str("a").str("b").str("edk").nonce().ciphertext(16).b, ErrMalformed},
		{"bad UTF-8 in context", new(builder).start(1).raw(1).str("\xc3").str("b").b, ErrMalformed},
		{"encrypted key too long", new(builder).start(1).raw(1).str(ObjectContextKey).str(testObject).raw(0x18, 0x01).b, ErrMalformed},
		{"short ciphertext", new(builder).start(1).raw(1).str(ObjectContextKey).str(testObject).str("edk").nonce().ciphertext(15).b, ErrMalformed},
		{"huge ciphertext length", new(builder).start(1).raw(1).str(ObjectContextKey).str(testObject).str("edk").nonce().u32(0xffffffff).b, ErrMalformed},
		{"alias in header", new(builder).raw([]byte(Magic)...).raw(1).str("alias/app").raw(1).str(ObjectContextKey).str(testObject).str("edk").nonce().ciphertext(16).b, ErrMalformed},
	}
	for i := range len(good) {
		cases = append(cases, struct {
			name string
			in   []byte
			want error
		}{"truncated", good[:i], nil})
	}
	for _, c := range cases {
		env, err := Parse(c.in)
		if err == nil || env != nil {
			t.Fatalf("%s (%d bytes): Parse = %v, %v; want an error and no envelope", c.name, len(c.in), env, err)
		}
		want := c.want
		if want == nil { // truncation: not an envelope before the magic is complete
			want = ErrMalformed
			if len(c.in) < len(Magic) {
				want = ErrNotEnvelope
			}
		}
		if !errors.Is(err, want) {
			t.Errorf("%s (%d bytes): got %v, want %v", c.name, len(c.in), err, want)
		}
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	if _, err := Open(nil, testKey()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nil envelope: %v", err)
	}
	env, err := Parse(mustSeal(t, testHeader(), testKey(), []byte("A=1")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(env, testKey()[:31]); !errors.Is(err, ErrInvalidDataKey) {
		t.Fatalf("short key: %v", err)
	}
	env.Ciphertext = env.Ciphertext[:TagSize-1]
	if _, err := Open(env, testKey()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short ciphertext: %v", err)
	}
}

func TestErrorsCarryNoSecrets(t *testing.T) {
	secret := "DB_PASSWORD=orange1"
	key := testKey()
	b := mustSeal(t, testHeader(), key, []byte(secret))
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x55
		_, err := parseOpen(c, key)
		if err == nil {
			t.Fatalf("byte %d flip accepted", i)
		}
		msg := err.Error()
		if strings.Contains(msg, "orange1") || strings.Contains(msg, string(key)) || strings.Contains(msg, "0001020304") {
			t.Fatalf("error leaks secret material: %q", msg)
		}
	}
}
