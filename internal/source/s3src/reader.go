package s3src

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/keyturn/keyturn/internal/source"
)

// Reader reads s3:// references for prestart:
//
//	s3://BUCKET/KEY[?version=ID][&kms=KEY]...   one env file (any form Read knows)
//	s3://BUCKET/PREFIX/?blobs&kms=KEY            one KMS blob per object, one variable each
//
// with the options legacy (read S3 Encryption Client v1 objects, see
// Legacy) and instruction (see Instruction) for one object, bind=strict
// (refuse blobs not bound to their object) and raw (keep trailing
// newlines) for blobs.
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
	q, err := parseQuery(ref)
	if err != nil {
		return nil, err
	}
	store, err := r.getStore(ctx)
	if err != nil {
		return nil, err
	}
	if q.blobs {
		bucket, prefix, _ := strings.Cut(ref.Path, "/")
		if prefix == "" {
			return nil, fmt.Errorf("%s: ?blobs needs s3://BUCKET/PREFIX/", ref)
		}
		vars, err := store.ReadBlobs(ctx, bucket, prefix, q.allow, BlobOptions{Strict: q.strict, Raw: q.raw})
		if err != nil {
			return nil, err
		}
		return &source.Result{Data: toData(vars), Watchable: true}, nil
	}
	obj, err := splitPath(ref.Path)
	if err != nil {
		return nil, err
	}
	var opts []ReadOption
	if q.legacy {
		opts = append(opts, Legacy())
	}
	if q.instruction {
		opts = append(opts, Instruction())
	}
	sec, err := store.Read(ctx, obj, q.version, q.allow, opts...)
	if err != nil {
		return nil, err
	}
	sec.raw.wipe()
	return &source.Result{Data: toData(sec.Vars), Version: sec.VersionID, Watchable: q.version == ""}, nil
}

// query is what an s3:// reference asks for.
type query struct {
	allow       []string
	version     string
	blobs       bool
	strict      bool // bind=strict
	raw         bool
	legacy      bool
	instruction bool
}

// options an s3:// reference takes, for messages.
const queryUsage = "s3:// takes version=ID, kms=KEY, blobs, bind=strict, raw, legacy and instruction"

// parseQuery checks ref's options. version is taken from the reference
// as written, not from ref.Query: form decoding turns "+" into a space,
// and S3 version IDs contain "+". It is percent-decoded only (%2B is "+"
// too), so a version ID pastes as is.
func parseQuery(ref source.Ref) (query, error) {
	var unknown []string
	for k := range ref.Query {
		switch k {
		case "version", "kms", "blobs", "bind", "raw", "legacy", "instruction":
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return query{}, fmt.Errorf("%s: unknown option %s (%s)", ref, strings.Join(unknown, ", "), queryUsage)
	}
	q := query{allow: ref.Query["kms"]}
	_, q.blobs = ref.Query["blobs"]
	_, q.legacy = ref.Query["legacy"]
	_, q.instruction = ref.Query["instruction"]
	_, q.raw = ref.Query["raw"]
	for _, flag := range []string{"blobs", "legacy", "instruction", "raw"} {
		if v := ref.Query.Get(flag); v != "" {
			return query{}, fmt.Errorf("%s: ?%s takes no value", ref, flag)
		}
	}
	if b, ok := ref.Query["bind"]; ok {
		if len(b) != 1 || b[0] != "strict" {
			return query{}, fmt.Errorf("%s: ?bind= takes strict", ref)
		}
		q.strict = true
	}
	if _, ok := ref.Query["version"]; ok {
		v, err := rawQueryValue(ref.Raw, "version")
		if err != nil {
			return query{}, fmt.Errorf("%s: %w", ref, err)
		}
		if v == "" {
			return query{}, fmt.Errorf("%s: empty ?version=", ref)
		}
		q.version = v
	}
	switch {
	case q.blobs && q.version != "":
		return query{}, fmt.Errorf("%s: ?version= pins one object; it cannot be used with ?blobs", ref)
	case !q.blobs && (q.strict || q.raw):
		return query{}, fmt.Errorf("%s: ?bind= and ?raw apply to ?blobs", ref)
	case q.blobs && (q.legacy || q.instruction):
		return query{}, fmt.Errorf("%s: ?legacy and ?instruction apply to one object, not ?blobs", ref)
	}
	return q, nil
}

// rawQueryValue returns the single value of name in the query of the
// reference s as written, percent-decoded but with "+" kept.
func rawQueryValue(s, name string) (string, error) {
	_, rest, _ := strings.Cut(s, "://")
	rest, _, _ = strings.Cut(rest, "#")
	_, rq, _ := strings.Cut(rest, "?")
	var vals []string
	for _, kv := range strings.Split(rq, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k != name {
			continue
		}
		u, err := url.PathUnescape(v)
		if err != nil {
			return "", fmt.Errorf("?%s=: %w", name, err)
		}
		vals = append(vals, u)
	}
	if len(vals) != 1 {
		return "", fmt.Errorf("?%s= given %d times", name, len(vals))
	}
	return vals[0], nil
}

// PinValue writes a version ID so that it pastes into ?version= as is:
// only what the reference syntax itself uses is percent-encoded ("%",
// "&", "#", "=", space and control bytes); "+" stays.
func PinValue(version string) string {
	var b strings.Builder
	for i := 0; i < len(version); i++ {
		c := version[i]
		if c == '%' || c == '&' || c == '#' || c == '=' || c <= ' ' || c >= 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func toData(vars map[string]string) map[string]any {
	data := make(map[string]any, len(vars))
	for k, v := range vars {
		data[k] = v
	}
	return data
}
