package s3src

import (
	"context"
	"maps"
	"sync"
	"testing"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/keyturn/keyturn/internal/kmstest"
	"github.com/keyturn/keyturn/internal/miniotest"
	"github.com/keyturn/keyturn/internal/source"
)

// requests counts S3 HTTP requests by operation, retries included.
type requests struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *requests) add(op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[op]++
}

func (r *requests) get() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.n)
}

func (r *requests) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.n)
}

// middleware counts after the retry loop, so every attempt is one request.
func (r *requests) middleware(st *middleware.Stack) error {
	return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("keyturn-count", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		r.add(awsmiddleware.GetOperationName(ctx))
		return next.HandleFinalize(ctx, in)
	}), middleware.After)
}

type testEnv struct {
	t      *testing.T
	ctx    context.Context
	minio  *miniotest.Server
	kms    *kmstest.Server
	store  *Store
	bucket string
	key    kmstest.Key // alias/app-dev
	other  kmstest.Key // alias/app-prod
	s3req  *requests
}

// setup starts a real MinIO and the KMS test server, with a versioned
// bucket and two keys.
func setup(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{t: t, ctx: context.Background(), s3req: &requests{n: map[string]int{}}}
	e.minio = miniotest.Start(t)
	e.kms = kmstest.Start(t)
	e.key = e.kms.AddKey(kmstest.KeySpec{Aliases: []string{"alias/app-dev"}})
	e.other = e.kms.AddKey(kmstest.KeySpec{Aliases: []string{"alias/app-prod"}})
	e.bucket = e.minio.NewBucket()
	s3c := s3.NewFromConfig(e.minio.Config(), e.minio.S3Options, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, e.s3req.middleware)
	})
	e.store = New(s3c, e.kms.Client(e.minio.AccessKey))
	return e
}

func (e *testEnv) obj(key string) Object { return Object{Bucket: e.bucket, Key: key} }

// putRaw writes bytes as they are, as someone with write access to the
// bucket could.
func (e *testEnv) putRaw(key string, body []byte) {
	e.t.Helper()
	if _, err := e.store.put(e.ctx, e.obj(key), body, putParams{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) getRaw(key string) []byte {
	e.t.Helper()
	raw, err := e.store.get(e.ctx, e.obj(key), "")
	if err != nil {
		e.t.Fatal(err)
	}
	return raw.body
}

func (e *testEnv) push(key string, vars map[string]string, p Protection) *Written {
	e.t.Helper()
	w, err := e.store.Push(e.ctx, e.obj(key), vars, p)
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

// read goes through the prestart Reader, as a container would.
func (e *testEnv) read(ref string) (*source.Result, error) {
	e.t.Helper()
	r, err := source.ParseRef(ref)
	if err != nil {
		e.t.Fatal(err)
	}
	rd := NewReader(func(context.Context) (*Store, error) { return e.store, nil })
	return rd.Read(e.ctx, r)
}

func (e *testEnv) resetCounts() {
	e.kms.ResetCalls()
	e.s3req.reset()
}

// kmsLocked is a key nobody in these tests may use.
func kmsLocked() kmstest.KeySpec {
	return kmstest.KeySpec{Allow: map[string][]string{"someone-else": {"*"}}}
}
