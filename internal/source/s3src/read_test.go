package s3src

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keyturn/keyturn/envelope"
	"github.com/keyturn/keyturn/internal/source"
)

func twentyVars() map[string]string {
	vars := map[string]string{}
	for i := range 20 {
		vars[fmt.Sprintf("VAR_%02d", i)] = fmt.Sprintf("value %d with 'quotes' and $dollars\nand a newline", i)
	}
	return vars
}

func data(vars map[string]string) map[string]any {
	d := map[string]any{}
	for k, v := range vars {
		d[k] = v
	}
	return d
}

// TestEnvelopeOneGetOneDecrypt: 20 variables cost one GET and one KMS call,
// and the reader reports the version it read.
func TestEnvelopeOneGetOneDecrypt(t *testing.T) {
	e := setup(t)
	vars := twentyVars()
	w := e.push("app/dev.env", vars, Protection{KMSKey: "alias/app-dev"})
	if w.KeyARN != e.key.ARN || w.VersionID == "" || w.Format != FormatEnvelope {
		t.Fatalf("written %+v", w)
	}
	e.resetCounts()
	res, err := e.read("s3://" + e.bucket + "/app/dev.env?kms=" + e.key.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(res.Data, data(vars)) {
		t.Fatalf("got %q", res.Data)
	}
	if res.Version != w.VersionID {
		t.Fatalf("version %q, want %q", res.Version, w.VersionID)
	}
	if got := e.kms.AllCalls(); len(got) != 1 || got["Decrypt"] != 1 {
		t.Fatalf("KMS calls %v, want one Decrypt", got)
	}
	if got := e.s3req.get(); len(got) != 1 || got["GetObject"] != 1 {
		t.Fatalf("S3 requests %v, want one GetObject", got)
	}
	t.Logf("requests per start: S3 %v, KMS %v", e.s3req.get(), e.kms.AllCalls())

	// A key ID and an alias work as allow-list entries too; an alias costs
	// one DescribeKey.
	for _, allow := range []string{e.key.ID, "alias/app-dev"} {
		e.resetCounts()
		if _, err := e.read("s3://" + e.bucket + "/app/dev.env?kms=" + allow); err != nil {
			t.Fatalf("%s: %v", allow, err)
		}
		if n := e.kms.Calls("Decrypt"); n != 1 {
			t.Fatalf("%s: %d decrypts", allow, n)
		}
	}
}

// TestEnvelopeRefused covers every way the issue lists to break an
// envelope: each is refused, with the kind the commands map to exit 3,
// except data that does not parse, which is corrupt (exit 1).
func TestEnvelopeRefused(t *testing.T) {
	e := setup(t)
	vars := map[string]string{"DB_PASSWORD": "orange1"}
	e.push("app/dev.env", vars, Protection{KMSKey: "alias/app-dev"})
	good := e.getRaw("app/dev.env")
	env, err := envelope.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	headerLen := len(good) - len(env.Ciphertext)
	flip := func(i int) []byte {
		b := append([]byte{}, good...)
		b[i] ^= 0x01
		return b
	}
	// An envelope whose data key KMS made for another object, with a
	// header claiming this one: only KMS can tell.
	wrongCtx := func() []byte {
		dk, err := e.store.KMS.GenerateDataKey(e.ctx, &kms.GenerateDataKeyInput{
			KeyId: aws.String(e.key.ARN), KeySpec: kmstypes.DataKeySpecAes256,
			EncryptionContext: map[string]string{envelope.ObjectContextKey: e.obj("app/other.env").String()},
		})
		if err != nil {
			t.Fatal(err)
		}
		b, err := envelope.Seal(envelope.Header{KeyARN: e.key.ARN, EncryptedDataKey: dk.CiphertextBlob,
			Context: map[string]string{envelope.ObjectContextKey: e.obj("app/dev.env").String()}}, dk.Plaintext, []byte("DB_PASSWORD='evil'\n"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Someone who can write the bucket seals their own file for this
	// object under a key they control.
	substituted := func() []byte {
		sealed, _, err := e.store.seal(e.ctx, e.obj("app/dev.env"), e.other.ARN, []byte("DB_PASSWORD='evil'\n"))
		if err != nil {
			t.Fatal(err)
		}
		return sealed
	}
	tests := []struct {
		name       string
		body       []byte
		query      string
		kind       error
		sentinel   error
		maxDecrypt int
	}{
		{"moved to another key", good, "", ErrRefused, envelope.ErrObjectMismatch, 0},
		{"version byte flipped", flip(len(envelope.Magic)), "", ErrUnsupported, envelope.ErrUnsupportedVersion, 0},
		{"key ARN byte flipped", flip(len(envelope.Magic) + 3 + 5), "", nil, nil, 0},
		{"context byte flipped", flip(len(envelope.Magic) + 3 + len(env.KeyARN) + 1 + 2 + len(envelope.ObjectContextKey) + 2 + 5), "", ErrRefused, envelope.ErrObjectMismatch, 0},
		{"encrypted data key byte flipped", flip(headerLen - 4 - 12 - 1), "", ErrRefused, nil, 1},
		{"nonce byte flipped", flip(headerLen - 4 - 1), "", ErrRefused, envelope.ErrAuthentication, 1},
		{"ciphertext byte flipped", flip(len(good) - 20), "", ErrRefused, envelope.ErrAuthentication, 1},
		{"tag byte flipped", flip(len(good) - 1), "", ErrRefused, envelope.ErrAuthentication, 1},
		{"truncated", good[:len(good)-10], "", ErrCorrupt, envelope.ErrMalformed, 0},
		{"trailing byte", append(append([]byte{}, good...), 0), "", ErrCorrupt, envelope.ErrMalformed, 0},
		{"substituted KMS key", substituted(), "", ErrRefused, envelope.ErrKeyNotAllowed, 0},
		{"wrong encryption context", wrongCtx(), "", ErrRefused, nil, 1},
		{"downgraded to a plain file", []byte("DB_PASSWORD='evil'\n"), "", ErrRefused, envelope.ErrKeyNotAllowed, 0},
		{"no allow-list", good, "none", ErrRefused, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "app/dev.env"
			if tt.name == "moved to another key" {
				key = "app/moved.env"
			}
			e.putRaw(key, tt.body)
			e.resetCounts()
			ref := "s3://" + e.bucket + "/" + key + "?kms=" + e.key.ARN
			if tt.query == "none" {
				ref = "s3://" + e.bucket + "/" + key
			}
			res, err := e.read(ref)
			if err == nil {
				t.Fatalf("loaded %q", res.Data)
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) || tt.kind == nil && !errors.Is(err, ErrRefused) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v, want kind %v", err, tt.kind)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Fatalf("error %v, want %v", err, tt.sentinel)
			}
			if n := e.kms.Calls("Decrypt"); n > tt.maxDecrypt {
				t.Fatalf("%d KMS Decrypt calls, at most %d expected: refused too late", n, tt.maxDecrypt)
			}
			if strings.Contains(err.Error(), "orange1") || strings.Contains(err.Error(), "evil") {
				t.Fatalf("error shows a value: %v", err)
			}
			t.Logf("%v", err)
		})
	}
}

func TestVersionPin(t *testing.T) {
	e := setup(t)
	w1 := e.push("app/dev.env", map[string]string{"V": "1"}, Protection{KMSKey: "alias/app-dev"})
	e.push("app/dev.env", map[string]string{"V": "2"}, Protection{KMSKey: "alias/app-dev"})
	base := "s3://" + e.bucket + "/app/dev.env?kms=alias/app-dev"
	res, err := e.read(base + "&version=" + w1.VersionID)
	if err != nil || res.Data["V"] != "1" || res.Version != w1.VersionID || res.Watchable {
		t.Fatalf("pinned read: %v %v", res, err)
	}
	res, err = e.read(base)
	if err != nil || res.Data["V"] != "2" {
		t.Fatalf("latest read: %v %v", res, err)
	}
	if _, err := e.read(base + "&version=no-such-version"); err == nil {
		t.Fatal("a missing version loaded")
	}
	if _, err := e.read(base + "&colour=blue"); err == nil || !strings.Contains(err.Error(), "unknown option colour") {
		t.Fatalf("got %v", err)
	}
	if _, err := e.read("s3://" + e.bucket + "/app/missing.env?kms=alias/app-dev"); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
}

func TestSSEKMS(t *testing.T) {
	e := setup(t)
	// seed 002: the file as the user wrote it, under SSE-KMS.
	file := "# comment on SUPER_SECRET_SECRET\nSUPER_SECRET_SECRET=dont_tell_anyone\nFOO=bar\n"
	if _, err := e.store.put(e.ctx, e.obj("secrets.env-file"), []byte(file), putParams{sse: "aws:kms", sseKey: "my-key"}); err != nil {
		t.Fatal(err)
	}
	want := data(map[string]string{"SUPER_SECRET_SECRET": "dont_tell_anyone", "FOO": "bar"})
	for _, q := range []string{"", "?kms=my-key"} {
		e.resetCounts()
		res, err := e.read("s3://" + e.bucket + "/secrets.env-file" + q)
		if err != nil || !maps.Equal(res.Data, want) {
			t.Fatalf("%q: %v %v", q, res, err)
		}
		if e.kms.TotalCalls() != 0 || e.s3req.get()["GetObject"] != 1 {
			t.Fatalf("requests: KMS %v S3 %v", e.kms.AllCalls(), e.s3req.get())
		}
	}
	if _, err := e.read("s3://" + e.bucket + "/secrets.env-file?kms=" + e.key.ARN); !errors.Is(err, ErrRefused) {
		t.Fatalf("SSE key outside the allow-list: %v", err)
	}
	// Push -sse writes the same kind of object.
	w := e.push("app/sse.env", map[string]string{"A": "1"}, Protection{KMSKey: "my-key", SSE: true})
	if w.Format != FormatPlain {
		t.Fatalf("%+v", w)
	}
	sec, err := e.store.Read(e.ctx, e.obj("app/sse.env"), "", []string{"my-key"})
	if err != nil || sec.Vars["A"] != "1" || sec.SSE != "aws:kms" {
		t.Fatalf("%+v %v", sec, err)
	}
	t.Logf("MinIO reports the SSE-KMS key as %q", sec.KeyARN)
}

func TestAccessDenied(t *testing.T) {
	e := setup(t)
	locked := e.kms.AddKey(kmsLocked())
	_, err := e.store.Push(e.ctx, e.obj("app/x.env"), map[string]string{"A": "1"}, Protection{KMSKey: locked.ARN})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Fatalf("got %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_MAX_ATTEMPTS", "2")
	t.Setenv(PathStyleEnv, "true")
	s, err := Load(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Read(ctx, e.obj("app/x.env"), "", []string{e.key.ARN})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
	t.Setenv(PathStyleEnv, "sometimes")
	if _, err := Load(ctx, Options{}); err == nil {
		t.Fatal("a bad path-style setting was accepted")
	}
}

// TestAliasResolvedOnceForConcurrentReads: prestart reads sources
// concurrently, and each envelope is checked against the alias entry; one
// DescribeKey serves them all.
func TestAliasResolvedOnceForConcurrentReads(t *testing.T) {
	e := setup(t)
	var reqs []source.Request
	for i := range 8 {
		e.push(fmt.Sprintf("many/v%d.env", i), map[string]string{fmt.Sprintf("V%d", i): "x"}, Protection{KMSKey: "alias/app-dev"})
		req, err := source.ParseSecrets(fmt.Sprintf("s3://%s/many/v%d.env?kms=alias/app-dev", e.bucket, i))
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	store := New(e.store.S3, e.store.KMS) // push resolved the alias already
	e.resetCounts()
	rd := NewReader(func(context.Context) (*Store, error) { return store, nil })
	env, _, err := source.Collect(e.ctx, source.Readers{"s3": rd}, reqs, false)
	if err != nil || len(env.Vars()) != 8 {
		t.Fatalf("%v %v", env, err)
	}
	if n := e.kms.Calls("DescribeKey"); n != 1 {
		t.Fatalf("DescribeKey %d times for one alias, want 1 (KMS %v)", n, e.kms.AllCalls())
	}
}
