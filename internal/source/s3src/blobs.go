package s3src

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/keyturn/keyturn/envelope"
	"github.com/keyturn/keyturn/internal/source"
)

// Blob limits: KMS encrypts at most 4096 bytes, so a ciphertext blob is
// far below MaxBlobSize; and a prefix is one service's secrets.
const (
	MaxBlobSize       = 6144
	MaxBlobs          = 1000
	MaxBlobPlaintext  = 4096
	blobParallelReads = 8
)

// BlobOptions change how ReadBlobs reads.
type BlobOptions struct {
	// Strict refuses blobs that are not bound to their object by a KMS
	// encryption context (?bind=strict).
	Strict bool
	// Raw keeps each value's bytes as they are (?raw); otherwise trailing
	// newlines are removed.
	Raw bool
}

// blobBindMeta is the user metadata s3kms put-blob sets on a bound blob
// (x-amz-meta-keyturn-bind: object). It only saves a KMS call: the
// binding itself is in the ciphertext, and removing the metadata does not
// make a bound blob readable anywhere else.
const (
	blobBindMeta  = "keyturn-bind"
	blobBindValue = "object"
)

// Why a blob was refused, for Hint.
var (
	errBindMismatch = errors.New("the blob does not decrypt bound to this object: it was encrypted for another object and copied here, or modified")
	errUnbound      = errors.New("?bind=strict: the blob does not decrypt bound to this object (it was encrypted without the object's encryption context, for another object, or modified)")
)

// BlobContext is the KMS encryption context that binds a blob to obj:
// {"keyturn:object": "s3://BUCKET/KEY"}, the same entry an envelope's
// data key carries.
func BlobContext(obj Object) map[string]string {
	return map[string]string{envelope.ObjectContextKey: obj.String()}
}

// ReadBlobs reads one KMS blob per object: every object directly under
// s3://bucket/prefix/ is a raw KMS ciphertext blob (what `aws kms encrypt
// --output text --query CiphertextBlob | base64 --decode` writes), and
// becomes one variable named after the object. Trailing newlines are
// removed from each value, as the shell's $(...) in an entrypoint script
// does, unless o.Raw. The blobs must be made under an allowed key.
//
// A blob made with the encryption context BlobContext (s3kms put-blob, or
// aws kms encrypt --encryption-context) only decrypts as the object it was
// made for, so a copy to another name is refused; a blob made without
// context decrypts anywhere, and o.Strict refuses it. Costs one LIST per
// 1000 objects, and one GET and one KMS Decrypt per object (two for a
// bound blob that lacks put-blob's metadata, unless o.Strict).
func (s *Store) ReadBlobs(ctx context.Context, bucket, prefix string, allow []string, o BlobOptions) (map[string]string, error) {
	if err := envelope.ValidateAllowList(allow); err != nil {
		return nil, err
	}
	prefix = strings.Trim(prefix, "/") + "/"
	where := "s3://" + bucket + "/" + prefix
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix, Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsError("list "+where, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if k == prefix || strings.HasSuffix(k, "/") {
				continue // a "folder" placeholder
			}
			keys = append(keys, k)
		}
		if len(keys) > MaxBlobs {
			return nil, fmt.Errorf("%s holds more than %d objects", where, MaxBlobs)
		}
	}
	if len(keys) == 0 {
		return nil, mark(source.ErrNotFound, fmt.Errorf("%s: no objects under the prefix", where))
	}
	sort.Strings(keys)
	vars := make(map[string]string, len(keys))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(blobParallelReads)
	for _, k := range keys {
		g.Go(func() error {
			obj := Object{Bucket: bucket, Key: k}
			raw, err := s.get(gctx, obj, "")
			if err != nil {
				return err
			}
			defer raw.wipe()
			if len(raw.body) == 0 || len(raw.body) > MaxBlobSize {
				return mark(ErrCorrupt, fmt.Errorf("%s is %d bytes, not a KMS ciphertext blob", obj, len(raw.body)))
			}
			pt, err := s.openBlob(gctx, obj, raw, allow, o.Strict)
			if err != nil {
				return err
			}
			v := string(pt)
			if !o.Raw {
				v = strings.TrimRight(v, "\n")
			}
			clear(pt)
			mu.Lock()
			vars[path.Base(k)] = v
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return vars, nil
}

// openBlob decrypts one blob: bound to obj when its metadata says so or
// strict asks for it, otherwise unbound first and then bound (an AWS CLI
// blob made with --encryption-context carries no metadata).
func (s *Store) openBlob(ctx context.Context, obj Object, raw *rawObject, allow []string, strict bool) ([]byte, error) {
	what := obj.String()
	if strict || raw.meta[blobBindMeta] == blobBindValue {
		pt, _, err := s.decryptBlob(ctx, what, raw.body, BlobContext(obj), allow)
		if invalidCiphertext(err) {
			why := errBindMismatch
			if strict && raw.meta[blobBindMeta] != blobBindValue {
				why = errUnbound
			}
			return nil, mark(ErrRefused, fmt.Errorf("%s: %w", obj, why))
		}
		return pt, err
	}
	pt, _, err := s.decryptBlob(ctx, what, raw.body, nil, allow)
	if !invalidCiphertext(err) {
		return pt, err
	}
	pt, _, err2 := s.decryptBlob(ctx, what, raw.body, BlobContext(obj), allow)
	if invalidCiphertext(err2) {
		return nil, mark(ErrRefused, fmt.Errorf("%s: %w", obj, errBindMismatch))
	}
	return pt, err2
}

func invalidCiphertext(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == "InvalidCiphertextException"
}
