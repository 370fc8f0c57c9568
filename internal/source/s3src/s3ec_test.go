package s3src

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	awsv1 "github.com/aws/aws-sdk-go/aws"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	kmsv1 "github.com/aws/aws-sdk-go/service/kms"
	s3v1 "github.com/aws/aws-sdk-go/service/s3"
	"github.com/aws/aws-sdk-go/service/s3/s3crypto"
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
	if e.kms.TotalCalls() != 0 {
		t.Fatal("KMS was asked to decrypt a refused object")
	}
}
