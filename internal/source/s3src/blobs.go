package s3src

import (
	"context"
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

// ReadBlobs reads seed 004's layout: every object directly under
// s3://bucket/prefix/ is a raw KMS ciphertext blob (what `aws kms encrypt
// --output text --query CiphertextBlob | base64 --decode` writes), and
// becomes one variable named after the object. Trailing newlines are
// removed from each value, as the shell's $(...) in the seed's entrypoint
// does. The blobs must be made without encryption context and under an
// allowed key. Costs one LIST per 1000 objects, and one GET and one KMS
// Decrypt per object.
func (s *Store) ReadBlobs(ctx context.Context, bucket, prefix string, allow []string) (map[string]string, error) {
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
			pt, _, err := s.decryptBlob(gctx, obj.String(), raw.body, nil, allow)
			if err != nil {
				return err
			}
			v := strings.TrimRight(string(pt), "\n")
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
