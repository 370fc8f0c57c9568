package s3src

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/keyturn/keyturn/internal/source"
)

// Reader reads s3:// references for prestart:
//
//	s3://BUCKET/KEY[?version=ID][&kms=KEY]...   one env file (any form Read knows)
//	s3://BUCKET/PREFIX/?blobs&kms=KEY            seed 004: one variable per object
//
// kms may be repeated; each is a key ARN, key ID, alias/NAME or alias ARN.
// It is required for envelopes, S3 Encryption Client objects and blobs,
// and makes a plain object acceptable only under SSE-KMS with one of the
// keys. Result.Version is the S3 version ID that was read.
type Reader struct {
	load func(context.Context) (*Store, error)

	mu    sync.Mutex
	store *Store
}

var _ source.Reader = (*Reader)(nil)

// NewReader returns a Reader that builds its Store with load on first use,
// so that a container without s3:// sources never loads AWS configuration.
func NewReader(load func(context.Context) (*Store, error)) *Reader {
	return &Reader{load: load}
}

func (r *Reader) getStore(ctx context.Context) (*Store, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.store == nil {
		s, err := r.load(ctx)
		if err != nil {
			return nil, err
		}
		r.store = s
	}
	return r.store, nil
}

// Read implements source.Reader.
func (r *Reader) Read(ctx context.Context, ref source.Ref) (*source.Result, error) {
	var unknown []string
	for k := range ref.Query {
		if k != "version" && k != "kms" && k != "blobs" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("%s: unknown option %s (s3:// takes version=ID, kms=KEY and blobs)", ref, strings.Join(unknown, ", "))
	}
	allow := ref.Query["kms"]
	version := ref.Query.Get("version")
	_, blobs := ref.Query["blobs"]
	if blobs && version != "" {
		return nil, fmt.Errorf("%s: ?version= pins one object; it cannot be used with ?blobs", ref)
	}
	if _, ok := ref.Query["version"]; ok && version == "" {
		return nil, fmt.Errorf("%s: empty ?version=", ref)
	}
	store, err := r.getStore(ctx)
	if err != nil {
		return nil, err
	}
	if blobs {
		bucket, prefix, _ := strings.Cut(ref.Path, "/")
		if prefix == "" {
			return nil, fmt.Errorf("%s: ?blobs needs s3://BUCKET/PREFIX/", ref)
		}
		vars, err := store.ReadBlobs(ctx, bucket, prefix, allow)
		if err != nil {
			return nil, err
		}
		return &source.Result{Data: toData(vars), Watchable: true}, nil
	}
	obj, err := splitPath(ref.Path)
	if err != nil {
		return nil, err
	}
	sec, err := store.Read(ctx, obj, version, allow)
	if err != nil {
		return nil, err
	}
	sec.raw.wipe()
	return &source.Result{Data: toData(sec.Vars), Version: sec.VersionID, Watchable: version == ""}, nil
}

func toData(vars map[string]string) map[string]any {
	data := make(map[string]any, len(vars))
	for k, v := range vars {
		data[k] = v
	}
	return data
}
