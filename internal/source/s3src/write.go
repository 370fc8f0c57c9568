package s3src

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/keyturn/keyturn/internal/envfmt"
	"github.com/keyturn/keyturn/internal/source"
)

// Protection says how a new object is encrypted.
type Protection struct {
	// KMSKey is a key ID, key ARN or alias (alias/NAME).
	KMSKey string
	// SSE stores the env file as a plain object under SSE-KMS with KMSKey
	// (an env file under SSE-KMS) instead of a client-side envelope.
	SSE bool
}

// Written describes a successful write.
type Written struct {
	Object    Object
	VersionID string
	Format    Format
	KeyARN    string // envelope: the key ARN KMS used; SSE: the key as given
	Vars      int
}

// ExpandKey fills {env} in a KMS key template such as alias/app-{env}
// (a per-environment alias). A template without {env} is returned as
// is; one with {env} needs env.
func ExpandKey(template, env string) (string, error) {
	if !strings.Contains(template, "{env}") {
		if strings.ContainsAny(template, "{}") {
			return "", fmt.Errorf("KMS key %q: the only placeholder is {env}", template)
		}
		return template, nil
	}
	if env == "" {
		return "", fmt.Errorf("KMS key %q has {env}: give -env", template)
	}
	k := strings.ReplaceAll(template, "{env}", env)
	if strings.ContainsAny(k, "{}") {
		return "", fmt.Errorf("KMS key %q: the only placeholder is {env}", template)
	}
	return k, nil
}

// render writes vars in keyturn's env-file form (NAME='value', sorted):
// what a shell can source and ParseEnv reads back exactly.
func render(vars map[string]string) ([]byte, error) {
	var b bytes.Buffer
	if err := envfmt.EnvFile(&b, vars); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// write stores vars in obj as p says, under the given condition.
func (s *Store) write(ctx context.Context, obj Object, vars map[string]string, p Protection, cond putParams) (*Written, error) {
	if p.KMSKey == "" {
		return nil, errors.New("no KMS key to encrypt with")
	}
	pt, err := render(vars)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	w := &Written{Object: obj, Vars: len(vars)}
	body := pt
	if p.SSE {
		cond.sse, cond.sseKey = types.ServerSideEncryptionAwsKms, p.KMSKey
		w.Format, w.KeyARN = FormatPlain, p.KMSKey
	} else {
		body, w.KeyARN, err = s.seal(ctx, obj, p.KMSKey, pt)
		if err != nil {
			return nil, err
		}
		w.Format = FormatEnvelope
		cond.contentType = "application/octet-stream"
	}
	w.VersionID, err = s.put(ctx, obj, body, cond)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Push stores vars in obj, replacing whatever is there.
func (s *Store) Push(ctx context.Context, obj Object, vars map[string]string, p Protection) (*Written, error) {
	return s.write(ctx, obj, vars, p, putParams{})
}

// protectionOf returns how sec is protected, to write it back the same
// way (a new data key, the same KMS key).
func protectionOf(sec *Secret) (Protection, error) {
	switch {
	case sec.Format == FormatEnvelope:
		return Protection{KMSKey: sec.KeyARN}, nil
	case sec.Format == FormatS3EC || sec.Format == FormatS3ECv1:
		return Protection{}, mark(ErrUnsupported, fmt.Errorf("%s is an S3 Encryption Client object, which keyturn reads but does not write; convert it with s3kms migrate", sec.Object))
	case sec.SSE == types.ServerSideEncryptionAwsKms && sec.raw.sseKey != "":
		return Protection{KMSKey: sec.raw.sseKey, SSE: true}, nil
	}
	return Protection{}, fmt.Errorf("%s is not encrypted with KMS (server-side encryption %q); push it with -kms-key or -sse first", sec.Object, sec.SSE)
}

// Update changes the env file in obj with a read-modify-write: modify gets
// the current variables, and the result is written back under the same
// protection with a conditional PUT (If-Match on the ETag that was read),
// so that a concurrent writer makes this write fail with ErrConflict
// instead of being overwritten. An existing object keeps its KMS key (use
// Rotate to move it). If obj does not exist and create is not
// nil, modify starts from no variables and the object is created under
// create, on condition that nobody creates it first.
func (s *Store) Update(ctx context.Context, obj Object, allow []string, create *Protection, modify func(vars map[string]string) error) (*Written, error) {
	sec, err := s.Read(ctx, obj, "", allow)
	var p Protection
	cond := putParams{}
	vars := map[string]string{}
	switch {
	case err == nil:
		sec.raw.wipe()
		if p, err = protectionOf(sec); err != nil {
			return nil, err
		}
		vars, cond.ifMatch = sec.Vars, sec.ETag
	case errors.Is(err, source.ErrNotFound) && create != nil:
		p, cond.ifNoneMatch = *create, true
	default:
		return nil, err
	}
	if err := modify(vars); err != nil {
		return nil, err
	}
	return s.write(ctx, obj, vars, p, cond)
}

// Rotate re-encrypts the env file in obj under a new data key: under
// newKey when it is not empty (moving an envelope, or an SSE-KMS object,
// to another KMS key), otherwise under the key it has. The write is
// conditional, as in Update.
func (s *Store) Rotate(ctx context.Context, obj Object, allow []string, newKey string) (*Written, error) {
	sec, err := s.Read(ctx, obj, "", allow)
	if err != nil {
		return nil, err
	}
	sec.raw.wipe()
	p, err := protectionOf(sec)
	if err != nil {
		return nil, err
	}
	if newKey != "" {
		p.KMSKey = newKey
	}
	return s.write(ctx, obj, sec.Vars, p, putParams{ifMatch: sec.ETag})
}

// Rollback makes an earlier version of obj the current one. The version
// is read and authenticated first (so a tampered version is never
// restored), then its bytes are written back unchanged (an envelope binds
// the object, not the version) with a conditional PUT on the current
// ETag.
func (s *Store) Rollback(ctx context.Context, obj Object, allow []string, version string) (*Written, error) {
	if version == "" {
		return nil, errors.New("rollback needs the version ID to restore")
	}
	etag, _, err := s.head(ctx, obj)
	cond := putParams{ifMatch: etag}
	if errors.Is(err, source.ErrNotFound) {
		// The latest version is a delete marker: restore on condition
		// that nobody writes the key meanwhile.
		cond = putParams{ifNoneMatch: true}
	} else if err != nil {
		return nil, err
	}
	old, err := s.Read(ctx, obj, version, allow)
	if err != nil {
		return nil, err
	}
	defer old.raw.wipe()
	p, err := protectionOf(old)
	if err != nil {
		return nil, err
	}
	w := &Written{Object: obj, Format: old.Format, KeyARN: old.KeyARN, Vars: len(old.Vars)}
	if p.SSE {
		cond.sse, cond.sseKey = types.ServerSideEncryptionAwsKms, p.KMSKey
	} else {
		cond.contentType = "application/octet-stream"
	}
	if w.VersionID, err = s.put(ctx, obj, old.raw.body, cond); err != nil {
		return nil, err
	}
	return w, nil
}

// PutBlob stores value as a raw KMS ciphertext blob (one KMS blob per object,
// read with ReadBlobs), made by KMS Encrypt under kmsKey with the
// encryption context BlobContext(obj), so that it decrypts only as this
// object: a copy to another name is refused. The AWS CLI makes the same
// blob with aws kms encrypt --encryption-context (docs/s3.md) and decrypts
// it with the same context. unbound leaves the context out, for readers
// that cannot pass one.
func (s *Store) PutBlob(ctx context.Context, obj Object, kmsKey string, value []byte, unbound bool) (*Written, error) {
	if len(value) == 0 || len(value) > MaxBlobPlaintext {
		return nil, fmt.Errorf("a KMS blob holds 1 to %d bytes, not %d", MaxBlobPlaintext, len(value))
	}
	in := &kms.EncryptInput{KeyId: &kmsKey, Plaintext: value}
	p := putParams{contentType: "application/octet-stream"}
	if !unbound {
		in.EncryptionContext = BlobContext(obj)
		p.meta = map[string]string{blobBindMeta: blobBindValue}
	}
	out, err := s.KMS.Encrypt(ctx, in)
	if err != nil {
		return nil, awsError("KMS encrypt under "+kmsKey, err)
	}
	v, err := s.put(ctx, obj, out.CiphertextBlob, p)
	if err != nil {
		return nil, err
	}
	return &Written{Object: obj, VersionID: v, KeyARN: aws.ToString(out.KeyId), Vars: 1}, nil
}
