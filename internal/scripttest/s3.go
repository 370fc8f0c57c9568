package scripttest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	kmsv1 "github.com/aws/aws-sdk-go/service/kms"
	s3v1 "github.com/aws/aws-sdk-go/service/s3"
	"github.com/aws/aws-sdk-go/service/s3/s3crypto"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyturn/keyturn/internal/envfile"
	"github.com/keyturn/keyturn/internal/kmstest"
	"github.com/keyturn/keyturn/internal/miniotest"
	"github.com/keyturn/keyturn/internal/source/s3src"
)

// scriptS3 is what one script's S3 commands work on.
type scriptS3 struct {
	minio *miniotest.Server
	kms   *kmstest.Server
	store *s3src.Store // straight to MinIO: not counted
	count *requestCounter
}

var s3servers = map[string]*scriptS3{} // $WORK -> servers, under mu

// requestCounter counts the HTTP requests that reach MinIO through the
// proxy the scripts' commands use, by method.
type requestCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *requestCounter) snapshot() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	out := map[string]int{}
	for k, v := range c.n {
		out[k] = v
		total += v
	}
	return out, total
}

// StartS3 starts a real MinIO, the KMS test server and a request-counting
// proxy in front of MinIO for one script, and sets the AWS environment the
// SDK reads (credentials, AWS_REGION, AWS_ENDPOINT_URL_S3 pointing to the
// proxy, AWS_ENDPOINT_URL_KMS, AWS_S3_USE_PATH_STYLE=true), plus
//
//	BUCKET       a bucket with versioning
//	KEY_ARN      the key alias/app-dev points to (KEY_ID: its key ID)
//	KEY2_ARN     the key alias/app-prod points to
//	LOCKED_ARN   a key the script's credentials may not use
//
// The secret access key is registered as a secret.
func StartS3(env *testscript.Env) error {
	tb, ok := env.T().(testing.TB)
	if !ok {
		return errors.New("scripttest: testscript did not hand over a testing.TB")
	}
	st := &scriptS3{minio: miniotest.Start(tb), kms: kmstest.Start(tb), count: &requestCounter{n: map[string]int{}}}
	dev := st.kms.AddKey(kmstest.KeySpec{Aliases: []string{"alias/app-dev"}})
	prod := st.kms.AddKey(kmstest.KeySpec{Aliases: []string{"alias/app-prod"}})
	locked := st.kms.AddKey(kmstest.KeySpec{Allow: map[string][]string{"someone-else": {"*"}}})
	bucket := st.minio.NewBucket()
	target, err := url.Parse(st.minio.URL)
	if err != nil {
		return err
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// The SDK signs the Host header, so the proxy passes it on unchanged
	// (the default), and MinIO checks the signature against it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.count.mu.Lock()
		st.count.n[r.Method]++
		st.count.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	st.store = s3src.New(s3.NewFromConfig(st.minio.Config(), st.minio.S3Options), st.kms.Client(st.minio.AccessKey))

	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":         st.minio.AccessKey,
		"AWS_SECRET_ACCESS_KEY":     st.minio.SecretKey,
		"AWS_REGION":                miniotest.Region,
		"AWS_ENDPOINT_URL_S3":       srv.URL,
		"AWS_ENDPOINT_URL_KMS":      st.kms.URL,
		"AWS_EC2_METADATA_DISABLED": "true",
		s3src.PathStyleEnv:          "true",
		"BUCKET":                    bucket,
		"KEY_ARN":                   dev.ARN,
		"KEY_ID":                    dev.ID,
		"KEY2_ARN":                  prod.ARN,
		"LOCKED_ARN":                locked.ARN,
		"MINIO_LOG":                 st.minio.LogPath,
	} {
		env.Setenv(k, v)
	}
	AddSecret(env.WorkDir, st.minio.SecretKey)
	mu.Lock()
	s3servers[env.WorkDir] = st
	mu.Unlock()
	env.Defer(func() {
		mu.Lock()
		delete(s3servers, env.WorkDir)
		delete(secrets, env.WorkDir)
		mu.Unlock()
	})
	return nil
}

// NoServer is the Setup of scripts that need no server; it only makes
// sure the script's registered secrets are forgotten when it ends.
func NoServer(env *testscript.Env) error {
	env.Defer(func() {
		mu.Lock()
		delete(secrets, env.WorkDir)
		mu.Unlock()
	})
	return nil
}

func s3for(ts *testscript.TestScript) *scriptS3 {
	mu.Lock()
	defer mu.Unlock()
	st, ok := s3servers[ts.Getenv("WORK")]
	if !ok {
		ts.Fatalf("no MinIO started for this script (its name must start with s3_)")
	}
	return st
}

// S3Commands returns the commands for scripts that run against StartS3's
// servers:
//
//	kms-calls [OP] N            require N KMS requests (of operation OP) since the last s3-reset
//	s3-requests [METHOD] N      require N HTTP requests to S3 (with METHOD) since the last s3-reset
//	s3-reset                    zero both counters
//	s3-push [-sse] [-kms KEY] s3://B/K FILE   store an env file (envelope under KEY, default alias/app-dev)
//	s3-put s3://B/K FILE        store FILE's bytes as they are (what anyone with write access can do)
//	s3-get s3://B/K FILE        fetch the object's bytes into FILE
//	s3-flip s3://B/K OFFSET     flip one bit of the byte at OFFSET (negative: from the end)
//	s3-truncate s3://B/K N      cut N bytes off the end
//	s3-copy s3://B/K s3://B/K2  copy the bytes to another key
//	s3-blob [-bound] s3://B/P/NAME KEY FILE   store FILE's content as a raw KMS blob,
//	                            with -bound under the encryption context naming the object
//	s3ec-put s3://B/K KEY FILE  store FILE with the AWS S3 Encryption Client v2 (aws-sdk-go)
//	s3ec1-put [-instruction] s3://B/K KEY FILE   the same with the legacy v1 client (AES-CBC)
//	s3-version s3://B/K NAME    set NAME to the object's current version ID
//
// Values pushed or stored are registered as secrets for no-secrets.
func S3Commands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"kms-calls":   cmdKMSCalls,
		"s3-requests": cmdS3Requests,
		"s3-reset": func(ts *testscript.TestScript, neg bool, args []string) {
			st := s3for(ts)
			st.kms.ResetCalls()
			st.count.mu.Lock()
			clear(st.count.n)
			st.count.mu.Unlock()
		},
		"s3-push":     cmdS3Push,
		"s3-put":      cmdS3Put,
		"s3-get":      cmdS3Get,
		"s3-flip":     cmdS3Flip,
		"s3-truncate": cmdS3Truncate,
		"s3-copy":     cmdS3Copy,
		"s3-blob":     cmdS3Blob,
		"s3ec-put":    cmdS3ECPut,
		"s3ec1-put":   cmdS3EC1Put,
		"s3-version":  cmdS3Version,
	}
}

// countArgs parses [NAME] N.
func countArgs(ts *testscript.TestScript, usage string, args []string) (string, int) {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: %s", usage)
	}
	n, err := strconv.Atoi(args[len(args)-1])
	if err != nil {
		ts.Fatalf("usage: %s", usage)
	}
	if len(args) == 2 {
		return args[0], n
	}
	return "", n
}

func cmdKMSCalls(ts *testscript.TestScript, neg bool, args []string) {
	op, want := countArgs(ts, "kms-calls [OP] N", args)
	st := s3for(ts)
	got := st.kms.TotalCalls()
	if op != "" {
		got = st.kms.Calls(op)
	}
	if (got == want) == neg {
		ts.Fatalf("KMS %s calls: %d, want %d (all: %v)", op, got, want, st.kms.AllCalls())
	}
}

func cmdS3Requests(ts *testscript.TestScript, neg bool, args []string) {
	method, want := countArgs(ts, "s3-requests [METHOD] N", args)
	by, got := s3for(ts).count.snapshot()
	if method != "" {
		got = by[method]
	}
	if (got == want) == neg {
		ts.Fatalf("S3 %s requests: %d, want %d (all: %v)", method, got, want, by)
	}
}

func object(ts *testscript.TestScript, uri string) s3src.Object {
	o, err := s3src.ParseObject(uri)
	ts.Check(err)
	return o
}

func (st *scriptS3) raw(ts *testscript.TestScript, uri string) []byte {
	o := object(ts, uri)
	out, err := st.store.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &o.Bucket, Key: &o.Key})
	ts.Check(err)
	defer out.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(out.Body)
	ts.Check(err)
	return b.Bytes()
}

func (st *scriptS3) putRaw(ts *testscript.TestScript, uri string, body []byte) {
	o := object(ts, uri)
	_, err := st.store.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &o.Bucket, Key: &o.Key, Body: bytes.NewReader(body)})
	ts.Check(err)
}

func cmdS3Push(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("s3-push", flag.ContinueOnError)
	sse := fs.Bool("sse", false, "")
	key := fs.String("kms", "alias/app-dev", "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 2 {
		ts.Fatalf("usage: s3-push [-sse] [-kms KEY] s3://B/K FILE")
	}
	vars, err := envfile.ParseLenient([]byte(ts.ReadFile(fs.Arg(1))))
	ts.Check(err)
	for _, v := range vars {
		AddSecret(ts.Getenv("WORK"), v)
	}
	_, err = s3for(ts).store.Push(context.Background(), object(ts, fs.Arg(0)), vars, s3src.Protection{KMSKey: *key, SSE: *sse})
	ts.Check(err)
}

func cmdS3Put(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: s3-put s3://B/K FILE")
	}
	s3for(ts).putRaw(ts, args[0], []byte(ts.ReadFile(args[1])))
}

func cmdS3Get(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: s3-get s3://B/K FILE")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), s3for(ts).raw(ts, args[0]), 0o600))
}

func cmdS3Flip(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: s3-flip s3://B/K OFFSET")
	}
	st := s3for(ts)
	b := st.raw(ts, args[0])
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	if off < 0 {
		off += len(b)
	}
	if off < 0 || off >= len(b) {
		ts.Fatalf("offset %s outside the %d-byte object", args[1], len(b))
	}
	b[off] ^= 0x01
	st.putRaw(ts, args[0], b)
}

func cmdS3Truncate(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: s3-truncate s3://B/K N")
	}
	st := s3for(ts)
	b := st.raw(ts, args[0])
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 || n > len(b) {
		ts.Fatalf("cannot cut %s bytes off %d", args[1], len(b))
	}
	st.putRaw(ts, args[0], b[:len(b)-n])
}

func cmdS3Copy(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: s3-copy s3://B/K s3://B/K2")
	}
	st := s3for(ts)
	st.putRaw(ts, args[1], st.raw(ts, args[0]))
}

func cmdS3Blob(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("s3-blob", flag.ContinueOnError)
	bound := fs.Bool("bound", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 3 {
		ts.Fatalf("usage: s3-blob [-bound] s3://B/P/NAME KEY FILE")
	}
	v := ts.ReadFile(fs.Arg(2))
	if strings.TrimRight(v, "\n") != "" {
		AddSecret(ts.Getenv("WORK"), strings.TrimRight(v, "\n"))
	}
	_, err := s3for(ts).store.PutBlob(context.Background(), object(ts, fs.Arg(0)), fs.Arg(1), []byte(v), !*bound)
	ts.Check(err)
}

// cmdS3EC1Put writes with the legacy AWS S3 Encryption Client v1 from
// aws-sdk-go: a KMS data key (x-amz-wrap-alg kms, the material description
// as encryption context) and AES-CBC content, the format of the first
// article's Ruby client. -instruction keeps the metadata in
// KEY.instruction instead of on the object.
func cmdS3EC1Put(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("s3ec1-put", flag.ContinueOnError)
	instr := fs.Bool("instruction", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 3 {
		ts.Fatalf("usage: s3ec1-put [-instruction] s3://B/K KEY FILE")
	}
	st := s3for(ts)
	o := object(ts, fs.Arg(0))
	body := ts.ReadFile(fs.Arg(2))
	vars, err := envfile.ParseLenient([]byte(body))
	ts.Check(err)
	for _, v := range vars {
		AddSecret(ts.Getenv("WORK"), v)
	}
	sess, kc := st.v1Clients(ts)
	//nolint:staticcheck // the deprecated v1 client is the point: it writes the legacy format
	c := s3crypto.NewEncryptionClient(sess, s3crypto.AESCBCContentCipherBuilder(s3crypto.NewKMSKeyGenerator(kc, fs.Arg(1)), s3crypto.AESCBCPadder),
		func(c *s3crypto.EncryptionClient) {
			if *instr {
				c.SaveStrategy = s3crypto.S3SaveStrategy{Client: s3v1.New(sess)}
			}
		})
	_, err = c.PutObject(&s3v1.PutObjectInput{Bucket: &o.Bucket, Key: &o.Key, Body: strings.NewReader(body)})
	if err != nil {
		ts.Fatalf("S3 Encryption Client v1 put: %v", fmt.Sprint(err))
	}
}

// v1Clients is an aws-sdk-go (v1) session against the script's MinIO and a
// KMS client against its KMS, as the S3 Encryption Client uses them.
func (st *scriptS3) v1Clients(ts *testscript.TestScript) (*session.Session, *kmsv1.KMS) {
	sess, err := session.NewSession(&awsv1.Config{
		Region:           awsv1.String(miniotest.Region),
		Credentials:      credv1.NewStaticCredentials(st.minio.AccessKey, st.minio.SecretKey, ""),
		Endpoint:         awsv1.String(st.minio.URL),
		S3ForcePathStyle: awsv1.Bool(true),
	})
	ts.Check(err)
	return sess, kmsv1.New(sess, &awsv1.Config{Endpoint: awsv1.String(st.kms.URL)})
}

func cmdS3Version(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: s3-version s3://B/K NAME")
	}
	o := object(ts, args[0])
	out, err := s3for(ts).store.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &o.Bucket, Key: &o.Key})
	ts.Check(err)
	ts.Setenv(args[1], aws.ToString(out.VersionId))
}

// cmdS3ECPut writes with the AWS S3 Encryption Client v2 from aws-sdk-go
// (v1): KMS key wrap with context and AES-GCM, what the Ruby S3 Encryption Client
// writes.
func cmdS3ECPut(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: s3ec-put s3://B/K KEY FILE")
	}
	st := s3for(ts)
	o := object(ts, args[0])
	body := ts.ReadFile(args[2])
	vars, err := envfile.ParseLenient([]byte(body))
	ts.Check(err)
	for _, v := range vars {
		AddSecret(ts.Getenv("WORK"), v)
	}
	sess, err := session.NewSession(&awsv1.Config{
		Region:           awsv1.String(miniotest.Region),
		Credentials:      credv1.NewStaticCredentials(st.minio.AccessKey, st.minio.SecretKey, ""),
		Endpoint:         awsv1.String(st.minio.URL),
		S3ForcePathStyle: awsv1.Bool(true),
	})
	ts.Check(err)
	kc := kmsv1.New(sess, &awsv1.Config{Endpoint: awsv1.String(st.kms.URL)})
	c, err := s3crypto.NewEncryptionClientV2(sess, s3crypto.AESGCMContentCipherBuilderV2(
		s3crypto.NewKMSContextKeyGenerator(kc, args[1], s3crypto.MaterialDescription{})))
	ts.Check(err)
	_, err = c.PutObject(&s3v1.PutObjectInput{Bucket: &o.Bucket, Key: &o.Key, Body: strings.NewReader(body)})
	if err != nil {
		ts.Fatalf("S3 Encryption Client put: %v", fmt.Sprint(err))
	}
}
