//go:build aws

package s3src

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"testing"
	"time"
)

// TestRealAWS runs the same paths against real S3 and KMS. It is opt-in
// through the "aws" build tag, so it is not compiled into CI's run (no AWS
// account there) and, once asked for, fails instead of skipping when its
// settings are missing:
//
//	KEYTURN_TEST_AWS_BUCKET=bucket-with-versioning \
//	KEYTURN_TEST_AWS_KMS_KEY=alias/keyturn-test [KEYTURN_TEST_AWS_KMS_KEY2=alias/other] \
//	AWS_PROFILE=... AWS_REGION=... go test -tags aws ./source/s3src -run TestRealAWS -v
//
// It writes under keyturn-test/<timestamp>/ in the bucket and deletes
// nothing (versions are evidence).
func TestRealAWS(t *testing.T) {
	bucket, key := os.Getenv("KEYTURN_TEST_AWS_BUCKET"), os.Getenv("KEYTURN_TEST_AWS_KMS_KEY")
	if bucket == "" || key == "" {
		t.Fatal("the aws suite needs KEYTURN_TEST_AWS_BUCKET and KEYTURN_TEST_AWS_KMS_KEY (and AWS credentials)")
	}
	ctx := context.Background()
	s, err := Load(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("keyturn-test/%d/", time.Now().UnixNano())
	obj := Object{Bucket: bucket, Key: prefix + "app.env"}
	vars := twentyVars()
	w, err := s.Push(ctx, obj, vars, Protection{KMSKey: key})
	if err != nil {
		t.Fatal(err)
	}
	allow := []string{w.KeyARN}
	sec, err := s.Read(ctx, obj, "", allow)
	if err != nil || !maps.Equal(sec.Vars, vars) {
		t.Fatalf("read: %v", err)
	}
	if _, err := s.Update(ctx, obj, allow, nil, set("ADDED", "1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rollback(ctx, obj, allow, w.VersionID); err != nil {
		t.Fatal(err)
	}
	moved := Object{Bucket: bucket, Key: prefix + "moved.env"}
	raw, err := s.get(ctx, obj, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.put(ctx, moved, raw.body, putParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, moved, "", allow); !errors.Is(err, ErrRefused) {
		t.Fatalf("moved envelope: %v", err)
	}
	if k2 := os.Getenv("KEYTURN_TEST_AWS_KMS_KEY2"); k2 != "" {
		if _, err := s.Push(ctx, moved, vars, Protection{KMSKey: k2}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(ctx, moved, "", allow); !errors.Is(err, ErrRefused) {
			t.Fatalf("substituted key: %v", err)
		}
	}
	sse := Object{Bucket: bucket, Key: prefix + "sse.env"}
	if _, err := s.Push(ctx, sse, vars, Protection{KMSKey: key, SSE: true}); err != nil {
		t.Fatal(err)
	}
	if sec, err := s.Read(ctx, sse, "", allow); err != nil || sec.SSE != "aws:kms" {
		t.Fatalf("SSE-KMS: %v", err)
	}
	if _, err := s.PutBlob(ctx, Object{Bucket: bucket, Key: prefix + "blobs/db-password"}, key, []byte("orange1\n"), false); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ReadBlobs(ctx, bucket, prefix+"blobs", allow, BlobOptions{}); err != nil || got["db-password"] != "orange1" {
		t.Fatalf("blobs: %v", err)
	}
}
