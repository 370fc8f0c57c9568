package s3src

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	kmsv1 "github.com/aws/aws-sdk-go/service/kms"
	s3v1 "github.com/aws/aws-sdk-go/service/s3"
	"github.com/aws/aws-sdk-go/service/s3/s3crypto"
	"github.com/hashicorp/go-hclog"

	"github.com/keyturn/keyturn/envelope"
)

// s3ecClients is an aws-sdk-go (v1) session against the test MinIO, and a
// KMS client against the test KMS, as the AWS S3 Encryption Client uses
// them.
func (e *testEnv) s3ecClients() (*session.Session, *kmsv1.KMS) {
	e.t.Helper()
	sess, err := session.NewSession(&awsv1.Config{
		Region:           awsv1.String("us-east-1"),
		Credentials:      credv1.NewStaticCredentials(e.minio.AccessKey, e.minio.SecretKey, ""),
		Endpoint:         awsv1.String(e.minio.URL),
		S3ForcePathStyle: awsv1.Bool(true),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return sess, kmsv1.New(sess, &awsv1.Config{Endpoint: awsv1.String(e.kms.URL)})
}

// putS3EC writes an object with the real S3 Encryption Client v2 (KMS key
// wrap with context, AES-GCM: what seed 001's Ruby client writes).
func (e *testEnv) putS3EC(key, cmk string, body []byte) {
	e.t.Helper()
	sess, kc := e.s3ecClients()
	gen := s3crypto.NewKMSContextKeyGenerator(kc, cmk, s3crypto.MaterialDescription{})
	c, err := s3crypto.NewEncryptionClientV2(sess, s3crypto.AESGCMContentCipherBuilderV2(gen))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.PutObject(&s3v1.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
		e.t.Fatal(err)
	}
}

func TestS3EncryptionClientV2(t *testing.T) {
	e := setup(t)
	file := []byte("DB_PASSWORD=orange1\nexport API_KEY='k-123'\n")
	e.putS3EC(".env", e.key.ARN, file)
	raw, err := e.store.get(e.ctx, e.obj(".env"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("S3 Encryption Client v2 metadata: %v", raw.meta)
	if raw.meta[s3ecWrapAlg] != s3ecKMSContext || raw.meta[s3ecCEKAlg] != s3ecGCM {
		t.Fatalf("not the format under test: %v", raw.meta)
	}

	want := data(map[string]string{"DB_PASSWORD": "orange1", "API_KEY": "k-123"})
	for _, allow := range []string{e.key.ARN, "alias/app-dev&kms=" + e.other.ARN} {
		e.resetCounts()
		res, err := e.read("s3://" + e.bucket + "/.env?kms=" + allow)
		if err != nil || !maps.Equal(res.Data, want) {
			t.Fatalf("%s: %v %v", allow, res, err)
		}
		if e.kms.Calls("Decrypt") != 1 || e.s3req.get()["GetObject"] != 1 {
			t.Fatalf("requests: KMS %v S3 %v", e.kms.AllCalls(), e.s3req.get())
		}
	}

	// Under a key outside the allow-list: KMS refuses with one key given,
	// the reader with several.
	for _, allow := range []string{e.other.ARN, e.other.ARN + "&kms=alias/app-prod"} {
		if _, err := e.read("s3://" + e.bucket + "/.env?kms=" + allow); !errors.Is(err, ErrRefused) {
			t.Fatalf("%s: %v", allow, err)
		}
	}
	if _, err := e.read("s3://" + e.bucket + "/.env"); !errors.Is(err, ErrRefused) {
		t.Fatalf("no allow-list: %v", err)
	}

	// A changed byte of content, or a changed content algorithm.
	body := append([]byte{}, raw.body...)
	body[3] ^= 1
	meta := map[string]*string{}
	for k, v := range raw.meta {
		meta[k] = awsv1.String(v)
	}
	sess, _ := e.s3ecClients()
	s3c := s3v1.New(sess)
	put := func(body []byte, meta map[string]*string) {
		t.Helper()
		if _, err := s3c.PutObject(&s3v1.PutObjectInput{Bucket: &e.bucket, Key: awsv1.String(".env"), Body: bytes.NewReader(body), Metadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	put(body, meta)
	if _, err := e.read("s3://" + e.bucket + "/.env?kms=" + e.key.ARN); !errors.Is(err, ErrRefused) {
		t.Fatalf("modified content: %v", err)
	}
	meta2 := maps.Clone(meta)
	meta2[s3ecCEKAlg] = awsv1.String("AES/CTR/NoPadding")
	put(raw.body, meta2)
	if _, err := e.read("s3://" + e.bucket + "/.env?kms=" + e.key.ARN); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("changed algorithm: %v", err)
	}
}

// TestS3EncryptionClientLegacyCBC: an object from the deprecated v1 client
// in its CBC mode is refused with a message that says why.
func TestS3EncryptionClientLegacyCBC(t *testing.T) {
	e := setup(t)
	sess, kc := e.s3ecClients()
	c := s3crypto.NewEncryptionClient(sess, s3crypto.AESCBCContentCipherBuilder(s3crypto.NewKMSKeyGenerator(kc, e.key.ARN), s3crypto.AESCBCPadder))
	if _, err := c.PutObject(&s3v1.PutObjectInput{Bucket: &e.bucket, Key: awsv1.String("legacy.env"), Body: strings.NewReader("DB_PASSWORD=orange1\n")}); err != nil {
		t.Fatal(err)
	}
	raw, err := e.store.get(e.ctx, e.obj("legacy.env"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("legacy metadata: %v", raw.meta)
	e.resetCounts()
	_, err = e.read("s3://" + e.bucket + "/legacy.env?kms=" + e.key.ARN)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "legacy") || !strings.Contains(err.Error(), "CBC") {
		t.Fatalf("got %v", err)
	}
	// The message names the header the object has, not the other one.
	if !strings.Contains(err.Error(), "key in x-amz-key-v2") || !strings.Contains(err.Error(), "?legacy") {
		t.Fatalf("message %q", err)
	}
	if e.kms.TotalCalls() != 0 {
		t.Fatal("KMS was asked to decrypt a refused object")
	}

	// With ?legacy: read, one GET and one Decrypt, and a warning.
	var logs bytes.Buffer
	e.store.Log = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})
	e.resetCounts()
	res, err := e.read("s3://" + e.bucket + "/legacy.env?legacy&kms=" + e.key.ARN)
	if err != nil || res.Data["DB_PASSWORD"] != "orange1" {
		t.Fatalf("?legacy: %v %v", res, err)
	}
	if e.kms.Calls("Decrypt") != 1 || e.s3req.get()["GetObject"] != 1 {
		t.Fatalf("requests: KMS %v S3 %v", e.kms.AllCalls(), e.s3req.get())
	}
	if !strings.Contains(logs.String(), "[WARN]") || !strings.Contains(logs.String(), "not authenticated") || strings.Contains(logs.String(), "orange1") {
		t.Fatalf("log %q", logs.String())
	}
	// Under another key, still refused.
	if _, err := e.read("s3://" + e.bucket + "/legacy.env?legacy&kms=" + e.other.ARN); !errors.Is(err, ErrRefused) {
		t.Fatalf("other key: %v", err)
	}
	// A changed content byte: CBC does not notice in general, but a
	// changed last block breaks the padding.
	e.flipLast("legacy.env")
	if _, err := e.read("s3://" + e.bucket + "/legacy.env?legacy&kms=" + e.key.ARN); err == nil {
		t.Fatal("flipped padding accepted")
	}
}

// flipLast flips a bit of the last byte of key, keeping its metadata.
func (e *testEnv) flipLast(key string) {
	e.t.Helper()
	raw, err := e.store.get(e.ctx, e.obj(key), "")
	if err != nil {
		e.t.Fatal(err)
	}
	raw.body[len(raw.body)-1] ^= 0x01
	if _, err := e.store.S3.PutObject(e.ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(raw.body), Metadata: raw.meta}); err != nil {
		e.t.Fatal(err)
	}
}

// TestMigrateLegacy: a v1 object becomes an envelope in place, read with
// one GET and one Decrypt; the old object stays in the history.
func TestMigrateLegacy(t *testing.T) {
	e := setup(t)
	sess, kc := e.s3ecClients()
	c := s3crypto.NewEncryptionClient(sess, s3crypto.AESCBCContentCipherBuilder(s3crypto.NewKMSKeyGenerator(kc, e.other.ARN), s3crypto.AESCBCPadder))
	if _, err := c.PutObject(&s3v1.PutObjectInput{Bucket: &e.bucket, Key: awsv1.String("app.env"), Body: strings.NewReader("A=1\nB='two words'\n")}); err != nil {
		t.Fatal(err)
	}
	dry, err := e.store.Migrate(e.ctx, e.obj("app.env"), []string{e.other.ARN}, "alias/app-dev", true)
	if err != nil || dry.From != FormatS3ECv1 || dry.Written != nil || dry.Vars != 2 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if vs, _ := e.store.Versions(e.ctx, e.obj("app.env")); len(vs) != 1 {
		t.Fatalf("a dry run wrote: %d versions", len(vs))
	}
	m, err := e.store.Migrate(e.ctx, e.obj("app.env"), []string{e.other.ARN}, "alias/app-dev", false)
	if err != nil || m.Written == nil || m.Written.Format != FormatEnvelope || m.Written.KeyARN != e.key.ARN {
		t.Fatalf("migrate: %+v %v", m, err)
	}
	e.resetCounts()
	res, err := e.read("s3://" + e.bucket + "/app.env?kms=alias/app-dev")
	if err != nil || res.Data["B"] != "two words" || res.Data["A"] != "1" {
		t.Fatalf("read: %v %v", res, err)
	}
	if e.kms.Calls("Decrypt") != 1 || e.s3req.get()["GetObject"] != 1 {
		t.Fatalf("requests: KMS %v S3 %v", e.kms.AllCalls(), e.s3req.get())
	}
	vs, err := e.store.Versions(e.ctx, e.obj("app.env"))
	if err != nil || len(vs) != 2 || vs[1].ID != m.Version {
		t.Fatalf("history: %+v %v", vs, err)
	}
	// The old version is still the legacy object.
	if _, err := e.store.Read(e.ctx, e.obj("app.env"), m.Version, []string{e.other.ARN}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("old version: %v", err)
	}
}

// TestS3EncryptionClientInstructionFile: the metadata in KEY.instruction.
func TestS3EncryptionClientInstructionFile(t *testing.T) {
	e := setup(t)
	sess, kc := e.s3ecClients()
	c := s3crypto.NewEncryptionClient(sess, s3crypto.AESCBCContentCipherBuilder(s3crypto.NewKMSKeyGenerator(kc, e.key.ARN), s3crypto.AESCBCPadder),
		func(c *s3crypto.EncryptionClient) { c.SaveStrategy = s3crypto.S3SaveStrategy{Client: s3v1.New(sess)} })
	if _, err := c.PutObject(&s3v1.PutObjectInput{Bucket: &e.bucket, Key: awsv1.String("i.env"), Body: strings.NewReader("X=instr\n")}); err != nil {
		t.Fatal(err)
	}
	t.Logf("instruction file: %s", e.getRaw("i.env.instruction"))
	// Without ?instruction, the ciphertext is taken for a plain file and
	// refused for want of SSE-KMS.
	if _, err := e.read("s3://" + e.bucket + "/i.env?kms=" + e.key.ARN); !errors.Is(err, ErrRefused) {
		t.Fatalf("without ?instruction: %v", err)
	}
	if _, err := e.read("s3://" + e.bucket + "/i.env?instruction&kms=" + e.key.ARN); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("v1 without ?legacy: %v", err)
	}
	res, err := e.read("s3://" + e.bucket + "/i.env?instruction&legacy&kms=" + e.key.ARN)
	if err != nil || res.Data["X"] != "instr" {
		t.Fatalf("%v %v", res, err)
	}
}

// TestS3EncryptionClientBound: a v2 object whose material description
// names the object (keyturn:object) is refused when copied elsewhere; KMS
// refuses a changed description.
func TestS3EncryptionClientBound(t *testing.T) {
	e := setup(t)
	sess, kc := e.s3ecClients()
	where := "s3://" + e.bucket + "/app.env"
	gen := s3crypto.NewKMSContextKeyGenerator(kc, e.key.ARN, s3crypto.MaterialDescription{envelope.ObjectContextKey: &where})
	c, err := s3crypto.NewEncryptionClientV2(sess, s3crypto.AESGCMContentCipherBuilderV2(gen))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(&s3v1.PutObjectInput{Bucket: &e.bucket, Key: awsv1.String("app.env"), Body: strings.NewReader("A=1\n")}); err != nil {
		t.Fatal(err)
	}
	if res, err := e.read(where + "?kms=" + e.key.ARN); err != nil || res.Data["A"] != "1" {
		t.Fatalf("%v %v", res, err)
	}
	if _, err := e.store.S3.CopyObject(e.ctx, &s3.CopyObjectInput{Bucket: &e.bucket, Key: awsv1.String("other.env"),
		CopySource: awsv1.String(e.bucket + "/app.env")}); err != nil {
		t.Fatal(err)
	}
	e.resetCounts()
	_, err = e.read("s3://" + e.bucket + "/other.env?kms=" + e.key.ARN)
	if !errors.Is(err, ErrRefused) || !errors.Is(err, envelope.ErrObjectMismatch) {
		t.Fatalf("copy: %v", err)
	}
	if e.kms.TotalCalls() != 0 {
		t.Fatalf("KMS called for a copy: %v", e.kms.AllCalls())
	}
	// The description rewritten to name the copy: KMS refuses the context.
	raw, err := e.store.get(e.ctx, e.obj("other.env"), "")
	if err != nil {
		t.Fatal(err)
	}
	raw.meta[s3ecMatDesc] = strings.ReplaceAll(raw.meta[s3ecMatDesc], "app.env", "other.env")
	if _, err := e.store.S3.PutObject(e.ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: awsv1.String("other.env"), Body: bytes.NewReader(raw.body), Metadata: raw.meta}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.read("s3://" + e.bucket + "/other.env?kms=" + e.key.ARN); !errors.Is(err, ErrRefused) {
		t.Fatalf("rewritten description: %v", err)
	}
}
