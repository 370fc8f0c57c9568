package miniotest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

var bg = context.Background()

func put(t *testing.T, c *s3.Client, in *s3.PutObjectInput) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(bg, in)
	if err != nil {
		t.Fatalf("PutObject %s: %v", aws.ToString(in.Key), err)
	}
	return out
}

func get(t *testing.T, c *s3.Client, in *s3.GetObjectInput) (string, *s3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(bg, in)
	if err != nil {
		t.Fatalf("GetObject %s: %v", aws.ToString(in.Key), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), out
}

// dataContains reports whether any file under dir contains needle, to see
// what MinIO actually stored.
func dataContains(t *testing.T, dir, needle string) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(needle)) {
			found = true
		}
		return nil
	})
	return found
}

func TestMinIO(t *testing.T) {
	began := time.Now()
	s := Start(t)
	t.Logf("MinIO ready in %v at %s", time.Since(began).Round(time.Millisecond), s.URL)
	c := s.S3Client()
	bucket := s.NewBucket()

	t.Run("put and get", func(t *testing.T) {
		put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("app/dev.env"), Body: strings.NewReader("PLAIN_MARKER_5a1c=1\n")})
		got, _ := get(t, c, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("app/dev.env")})
		if got != "PLAIN_MARKER_5a1c=1\n" {
			t.Fatalf("got %q", got)
		}
		// Sanity check for the SSE test below: unencrypted data is
		// visible on disk.
		if !dataContains(t, s.Dir, "PLAIN_MARKER_5a1c") {
			t.Fatal("cannot find an unencrypted object in the data directory")
		}
	})

	t.Run("versioning", func(t *testing.T) {
		key := aws.String("app/versioned.env")
		v1 := put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: key, Body: strings.NewReader("A=1\n")})
		v2 := put(t, c, &s3.PutObjectInput{Bucket: &bucket, Key: key, Body: strings.NewReader("A=2\n")})
		id1, id2 := aws.ToString(v1.VersionId), aws.ToString(v2.VersionId)
		if id1 == "" || id2 == "" || id1 == id2 || id1 == "null" {
			t.Fatalf("version IDs %q, %q", id1, id2)
		}
		got, out := get(t, c, &s3.GetObjectInput{Bucket: &bucket, Key: key, VersionId: &id1})
		if got != "A=1\n" || aws.ToString(out.VersionId) != id1 {
			t.Fatalf("pinned version: %q (version %s)", got, aws.ToString(out.VersionId))
		}
		if got, _ := get(t, c, &s3.GetObjectInput{Bucket: &bucket, Key: key}); got != "A=2\n" {
			t.Fatalf("latest: %q", got)
		}
		lv, err := c.ListObjectVersions(bg, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: key})
		if err != nil {
			t.Fatal(err)
		}
		if len(lv.Versions) != 2 {
			t.Fatalf("%d versions listed", len(lv.Versions))
		}
	})

	t.Run("SSE-KMS", func(t *testing.T) {
		key := aws.String("app/prod.env")
		const secret = "SSE_MARKER_9e3b='orange1'\n"
		out := put(t, c, &s3.PutObjectInput{
			Bucket: &bucket, Key: key, Body: strings.NewReader(secret),
			ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(KMSKeyID),
		})
		if out.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
			t.Fatalf("PutObject reports encryption %q", out.ServerSideEncryption)
		}
		// SSE-KMS is transparent to GET: no key or header needed.
		got, gout := get(t, c, &s3.GetObjectInput{Bucket: &bucket, Key: key})
		if got != secret {
			t.Fatalf("got %q", got)
		}
		if gout.ServerSideEncryption != types.ServerSideEncryptionAwsKms || !strings.Contains(aws.ToString(gout.SSEKMSKeyId), KMSKeyID) {
			t.Fatalf("GetObject reports encryption %q with key %q", gout.ServerSideEncryption, aws.ToString(gout.SSEKMSKeyId))
		}
		if dataContains(t, s.Dir, "SSE_MARKER_9e3b") {
			t.Fatal("the SSE-KMS object is stored in plaintext")
		}
	})

	t.Run("If-Match conditional put", func(t *testing.T) {
		key := aws.String("app/conditional.env")
		for _, sse := range []bool{false, true} {
			in := func(body string) *s3.PutObjectInput {
				p := &s3.PutObjectInput{Bucket: &bucket, Key: key, Body: strings.NewReader(body)}
				if sse {
					p.ServerSideEncryption, p.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(KMSKeyID)
				}
				return p
			}
			first := put(t, c, in("A=1\n"))
			// Operator 1 read first and writes with its ETag: accepted.
			p := in("A=1\nB=2\n")
			p.IfMatch = first.ETag
			second := put(t, c, p)
			if aws.ToString(second.ETag) == aws.ToString(first.ETag) {
				t.Fatalf("sse=%v: ETag did not change", sse)
			}
			// Operator 2 also read first: its write must be refused.
			p = in("A=1\nC=3\n")
			p.IfMatch = first.ETag
			_, err := c.PutObject(bg, p)
			assertPreconditionFailed(t, err)
			got, _ := get(t, c, &s3.GetObjectInput{Bucket: &bucket, Key: key})
			if got != "A=1\nB=2\n" {
				t.Fatalf("sse=%v: after a refused write the object is %q", sse, got)
			}
		}
		// If-None-Match: * creates only when absent.
		p := &s3.PutObjectInput{Bucket: &bucket, Key: key, Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")}
		_, err := c.PutObject(bg, p)
		assertPreconditionFailed(t, err)
		p = &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("app/new.env"), Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")}
		put(t, c, p)
	})
}

func assertPreconditionFailed(t *testing.T, err error) {
	t.Helper()
	var re *awshttp.ResponseError
	var ae smithy.APIError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusPreconditionFailed || !errors.As(err, &ae) || ae.ErrorCode() != "PreconditionFailed" {
		t.Fatalf("got %v, want HTTP 412 PreconditionFailed", err)
	}
}

func TestBinaryFromEnv(t *testing.T) {
	t.Setenv("KEYTURN_MINIO", filepath.Join(t.TempDir(), "missing"))
	if _, err := Binary(); err == nil {
		t.Fatal("a missing KEYTURN_MINIO was accepted")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "minio"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEYTURN_MINIO", filepath.Join(dir, "minio"))
	if _, err := Binary(); err == nil {
		t.Fatal("a non-executable KEYTURN_MINIO was accepted")
	}
}
