package s3src

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyturn/keyturn/envelope"
	"github.com/keyturn/keyturn/internal/source"
)

func set(name, value string) func(map[string]string) error {
	return func(v map[string]string) error { v[name] = value; return nil }
}

// TestConcurrentSets: two read-modify-writes of one object overlap; the
// one that writes first wins, the other fails with a conflict and writes
// nothing, and retrying it keeps both changes.
func TestConcurrentSets(t *testing.T) {
	e := setup(t)
	obj := e.obj("app/dev.env")
	allow := []string{"alias/app-dev"}
	e.push("app/dev.env", map[string]string{"A": "1"}, Protection{KMSKey: "alias/app-dev"})

	var inner *Written
	_, err := e.store.Update(e.ctx, obj, allow, nil, func(v map[string]string) error {
		// The other operator reads, changes and writes in between.
		var err error
		inner, err = e.store.Update(e.ctx, obj, allow, nil, set("B", "from-bob"))
		if err != nil {
			t.Fatal(err)
		}
		v["C"] = "from-alice"
		return nil
	})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("the second writer got %v", err)
	}
	sec, err := e.store.Read(e.ctx, obj, "", allow)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(sec.Vars, map[string]string{"A": "1", "B": "from-bob"}) || sec.VersionID != inner.VersionID {
		t.Fatalf("after the conflict: %q (version %s, want %s)", sec.Vars, sec.VersionID, inner.VersionID)
	}
	if _, err := e.store.Update(e.ctx, obj, allow, nil, set("C", "from-alice")); err != nil {
		t.Fatal(err)
	}
	sec, _ = e.store.Read(e.ctx, obj, "", allow)
	if !maps.Equal(sec.Vars, map[string]string{"A": "1", "B": "from-bob", "C": "from-alice"}) {
		t.Fatalf("after the retry: %q", sec.Vars)
	}

	// Two creations of a missing object: If-None-Match makes one lose.
	create := &Protection{KMSKey: "alias/app-dev"}
	_, err = e.store.Update(e.ctx, e.obj("app/new.env"), allow, create, func(v map[string]string) error {
		if _, err := e.store.Update(e.ctx, e.obj("app/new.env"), allow, create, set("X", "first")); err != nil {
			t.Fatal(err)
		}
		v["X"] = "second"
		return nil
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("second creation: %v", err)
	}
}

func TestVersionsDiffRollbackRotate(t *testing.T) {
	e := setup(t)
	obj := e.obj("app/dev.env")
	allow := []string{"alias/app-dev"}
	w1 := e.push("app/dev.env", map[string]string{"A": "1", "B": "2"}, Protection{KMSKey: "alias/app-dev"})
	w2, err := e.store.Update(e.ctx, obj, allow, nil, set("C", "3"))
	if err != nil {
		t.Fatal(err)
	}
	w3, err := e.store.Update(e.ctx, obj, allow, nil, func(v map[string]string) error {
		delete(v, "A")
		v["B"] = "changed"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := e.store.Versions(e.ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	if !slices.Equal(ids, []string{w3.VersionID, w2.VersionID, w1.VersionID}) || !vs[0].Latest || vs[1].Latest {
		t.Fatalf("versions %+v", vs)
	}
	// Another key sharing the prefix is not listed.
	e.push("app/dev.env.bak", map[string]string{"A": "1"}, Protection{KMSKey: "alias/app-dev"})
	if vs, _ := e.store.Versions(e.ctx, obj); len(vs) != 3 {
		t.Fatalf("%d versions", len(vs))
	}

	c, err := e.store.Diff(e.ctx, obj, allow, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.From != w2.VersionID || c.To != w3.VersionID || !slices.Equal(c.Removed, []string{"A"}) || !slices.Equal(c.Changed, []string{"B"}) || len(c.Added) != 0 {
		t.Fatalf("diff %+v", c)
	}
	c, err = e.store.Diff(e.ctx, obj, allow, w1.VersionID, w3.VersionID)
	if err != nil || !slices.Equal(c.Added, []string{"C"}) || !slices.Equal(c.Removed, []string{"A"}) || !slices.Equal(c.Changed, []string{"B"}) {
		t.Fatalf("diff %+v %v", c, err)
	}
	if _, err := e.store.Diff(e.ctx, obj, allow, "", w1.VersionID); err == nil {
		t.Fatal("diff before the first version")
	}

	// Rollback to the first version: a new version with its content.
	w4, err := e.store.Rollback(e.ctx, obj, allow, w1.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := e.store.Read(e.ctx, obj, "", allow)
	if err != nil || sec.VersionID != w4.VersionID || !maps.Equal(sec.Vars, map[string]string{"A": "1", "B": "2"}) {
		t.Fatalf("after rollback: %+v %v", sec, err)
	}
	// A rollback under a key outside the allow-list restores nothing.
	if _, err := e.store.Rollback(e.ctx, obj, []string{"alias/app-prod"}, w2.VersionID); !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v", err)
	}

	// Rotate: a new data key under the same KMS key...
	before, _ := envelope.Parse(e.getRaw("app/dev.env"))
	if _, err := e.store.Rotate(e.ctx, obj, allow, ""); err != nil {
		t.Fatal(err)
	}
	after, _ := envelope.Parse(e.getRaw("app/dev.env"))
	if after.KeyARN != before.KeyARN || string(after.EncryptedDataKey) == string(before.EncryptedDataKey) {
		t.Fatal("rotate did not change the data key, or changed the KMS key")
	}
	// ...and to another KMS key: the old allow-list no longer opens it.
	w, err := e.store.Rotate(e.ctx, obj, allow, "alias/app-prod")
	if err != nil || w.KeyARN != e.other.ARN {
		t.Fatalf("rotate: %+v %v", w, err)
	}
	if _, err := e.store.Read(e.ctx, obj, "", allow); !errors.Is(err, envelope.ErrKeyNotAllowed) {
		t.Fatalf("old key still opens it: %v", err)
	}
	sec, err = e.store.Read(e.ctx, obj, "", []string{"alias/app-prod"})
	if err != nil || !maps.Equal(sec.Vars, map[string]string{"A": "1", "B": "2"}) {
		t.Fatalf("after rotate: %+v %v", sec, err)
	}
	// Reading an old version still needs the old key: versions are kept.
	if sec, err := e.store.Read(e.ctx, obj, w2.VersionID, allow); err != nil || sec.Vars["C"] != "3" {
		t.Fatalf("old version: %v", err)
	}
}

func TestRollbackAfterDelete(t *testing.T) {
	e := setup(t)
	obj := e.obj("app/dev.env")
	w1 := e.push("app/dev.env", map[string]string{"A": "1"}, Protection{KMSKey: "alias/app-dev"})
	if _, err := e.store.S3.DeleteObject(e.ctx, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: &obj.Key}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Read(e.ctx, obj, "", []string{"alias/app-dev"}); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	if _, err := e.store.Rollback(e.ctx, obj, []string{"alias/app-dev"}, w1.VersionID); err != nil {
		t.Fatal(err)
	}
	if sec, err := e.store.Read(e.ctx, obj, "", []string{"alias/app-dev"}); err != nil || sec.Vars["A"] != "1" {
		t.Fatalf("%v", err)
	}
}

func TestSSEUpdateKeepsSSE(t *testing.T) {
	e := setup(t)
	obj := e.obj("secrets.env-file")
	e.push("secrets.env-file", map[string]string{"A": "1"}, Protection{KMSKey: "my-key", SSE: true})
	if _, err := e.store.Update(e.ctx, obj, nil, nil, set("B", "2")); err != nil {
		t.Fatal(err)
	}
	sec, err := e.store.Read(e.ctx, obj, "", []string{"my-key"})
	if err != nil || sec.Format != FormatPlain || sec.SSE != "aws:kms" || len(sec.Vars) != 2 {
		t.Fatalf("%+v %v", sec, err)
	}
	if e.kms.TotalCalls() != 0 {
		t.Fatal("SSE-KMS called the client-side KMS")
	}
}

func TestBlobs(t *testing.T) {
	e := setup(t)
	// seed 004: echo 'master-password' > plaintext-password; aws kms encrypt ...
	for name, v := range map[string]string{"encrypted-password": "master-password\n", "api_token": "t0k3n"} {
		// One bound (put-blob's default), one as aws kms encrypt makes it.
		if _, err := e.store.PutBlob(e.ctx, e.obj("api/"+name), "alias/app-dev", []byte(v), name == "api_token"); err != nil {
			t.Fatal(err)
		}
	}
	e.putRaw("api/sub/ignored", []byte("x"))
	e.resetCounts()
	res, err := e.read("s3://" + e.bucket + "/api/?blobs&kms=" + e.key.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(res.Data, data(map[string]string{"encrypted-password": "master-password", "api_token": "t0k3n"})) {
		t.Fatalf("got %q", res.Data)
	}
	if got := e.s3req.get(); got["ListObjectsV2"] != 1 || got["GetObject"] != 2 || e.kms.Calls("Decrypt") != 2 {
		t.Fatalf("requests: S3 %v KMS %v", got, e.kms.AllCalls())
	}
	// A blob under another key is refused, by KMS or by the reader.
	if _, err := e.store.PutBlob(e.ctx, e.obj("api/sneaky"), "alias/app-prod", []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"&kms=" + e.key.ARN, "&kms=" + e.key.ARN + "&kms=" + e.key.ID} {
		if _, err := e.read("s3://" + e.bucket + "/api/?blobs" + q); !errors.Is(err, ErrRefused) {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := e.read("s3://" + e.bucket + "/empty/?blobs&kms=" + e.key.ARN); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	if _, err := e.read("s3://" + e.bucket + "/api/?blobs&version=x&kms=" + e.key.ARN); err == nil {
		t.Fatal("?version with ?blobs")
	}
}

func TestBlobBinding(t *testing.T) {
	e := setup(t)
	if _, err := e.store.PutBlob(e.ctx, e.obj("bound/db-user"), "alias/app-dev", []byte("app\n"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PutBlob(e.ctx, e.obj("bound/db-password"), "alias/app-dev", []byte("orange1"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PutBlob(e.ctx, e.obj("loose/db-user"), "alias/app-dev", []byte("app"), true); err != nil {
		t.Fatal(err)
	}
	allow := []string{e.key.ARN}
	got, err := e.store.ReadBlobs(e.ctx, e.bucket, "bound", allow, BlobOptions{Strict: true, Raw: true})
	if err != nil || got["db-user"] != "app\n" || got["db-password"] != "orange1" {
		t.Fatalf("strict, raw: %q %v", got, err)
	}
	// Unbound blobs are read, except under strict.
	if _, err := e.store.ReadBlobs(e.ctx, e.bucket, "loose", allow, BlobOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.store.ReadBlobs(e.ctx, e.bucket, "loose", allow, BlobOptions{Strict: true})
	if !errors.Is(err, ErrRefused) || !errors.Is(err, errUnbound) {
		t.Fatalf("strict, unbound: %v", err)
	}

	// A bound blob without put-blob's metadata, as the AWS CLI uploads it:
	// read, at the cost of a second Decrypt.
	e.putRaw("cli/db-user", e.getRaw("bound/db-user"))
	_, err = e.store.ReadBlobs(e.ctx, e.bucket, "cli", allow, BlobOptions{})
	if err == nil {
		t.Fatal("a blob bound to bound/db-user read as cli/db-user")
	}
	if _, err := e.store.PutBlob(e.ctx, e.obj("cli/token"), "alias/app-dev", []byte("t0k3n"), false); err != nil {
		t.Fatal(err)
	}
	_, err = e.store.S3.DeleteObject(e.ctx, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String("cli/db-user")})
	if err != nil {
		t.Fatal(err)
	}
	e.putRaw("cli/token", e.getRaw("cli/token")) // drops the metadata
	e.resetCounts()
	got, err = e.store.ReadBlobs(e.ctx, e.bucket, "cli", allow, BlobOptions{})
	if err != nil || got["token"] != "t0k3n" || e.kms.Calls("Decrypt") != 2 {
		t.Fatalf("bound blob without metadata: %q %v, KMS %v", got, err, e.kms.AllCalls())
	}

	// db-user's bytes copied over db-password, with or without put-blob's
	// metadata: KMS refuses the context, the reader refuses the copy.
	body := e.getRaw("bound/db-user")
	e.putRaw("bound/db-password", body)
	e.resetCounts()
	_, err = e.store.ReadBlobs(e.ctx, e.bucket, "bound", allow, BlobOptions{})
	if !errors.Is(err, ErrRefused) || !errors.Is(err, errBindMismatch) {
		t.Fatalf("copy without metadata: %v", err)
	}
	// Two for the copy (unbound, then bound), and one for db-user unless
	// the failure cancelled it first.
	if n := e.kms.Calls("Decrypt"); n < 2 || n > 3 {
		t.Fatalf("KMS calls %v", e.kms.AllCalls())
	}
	if h := Hint(err); !strings.Contains(h, "copied here") {
		t.Fatalf("hint %q", h)
	}
	_, err = e.store.S3.CopyObject(e.ctx, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("bound/db-password"),
		CopySource: aws.String(e.bucket + "/bound/db-user")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.store.ReadBlobs(e.ctx, e.bucket, "bound", allow, BlobOptions{})
	if !errors.Is(err, ErrRefused) || !errors.Is(err, errBindMismatch) {
		t.Fatalf("copy with metadata: %v", err)
	}
}

// TestAliasExpires: an alias moved to another key stops being trusted for
// the old one within AliasTTL.
func TestAliasExpires(t *testing.T) {
	e := setup(t)
	e.push("app.env", map[string]string{"A": "1"}, Protection{KMSKey: "alias/app-dev"})
	e.store.AliasTTL = 300 * time.Millisecond
	ref := "s3://" + e.bucket + "/app.env?kms=alias/app-dev"
	if _, err := e.read(ref); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.KMS.UpdateAlias(e.ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/app-dev"), TargetKeyId: &e.other.ID}); err != nil {
		t.Fatal(err)
	}
	e.resetCounts()
	if _, err := e.read(ref); err != nil {
		t.Fatalf("within the TTL: %v", err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := e.read(ref); !errors.Is(err, envelope.ErrKeyNotAllowed) {
		t.Fatalf("after the TTL: %v", err)
	}
	if e.kms.Calls("DescribeKey") == 0 {
		t.Fatalf("alias not resolved again: %v", e.kms.AllCalls())
	}
}

func TestExpandKey(t *testing.T) {
	for _, tt := range []struct{ tmpl, env, want string }{
		{"alias/workout-tracker-{env}", "prod", "alias/workout-tracker-prod"},
		{"alias/app", "", "alias/app"},
		{"arn:aws:kms:us-east-1:111122223333:key/1234", "prod", "arn:aws:kms:us-east-1:111122223333:key/1234"},
		{"alias/app-{env}", "", ""},
		{"alias/app-{stage}", "prod", ""},
	} {
		got, err := ExpandKey(tt.tmpl, tt.env)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("ExpandKey(%q, %q) = %q, %v", tt.tmpl, tt.env, got, err)
		}
	}
}

func TestParseObject(t *testing.T) {
	if o, err := ParseObject("s3://b/dir/k.env"); err != nil || o != (Object{"b", "dir/k.env"}) {
		t.Fatalf("%v %v", o, err)
	}
	for _, bad := range []string{"b/k", "s3://b", "s3://b/", "s3:///k", "s3://b/k?version=1", "s3://b/dir/"} {
		if _, err := ParseObject(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if b, err := ParseBucket("s3://bucket/"); err != nil || b != "bucket" {
		t.Fatalf("%q %v", b, err)
	}
}
