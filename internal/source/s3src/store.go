package s3src

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"
	"github.com/hashicorp/go-hclog"

	"github.com/keyturn/keyturn/envelope"
)

// PathStyleEnv names the environment variable that selects path-style S3
// addressing (http://HOST/BUCKET/KEY) when set to true, as MinIO and most
// S3-compatible stores on an IP address need. The AWS SDK has no variable
// of its own for it.
const PathStyleEnv = "AWS_S3_USE_PATH_STYLE"

// MaxObjectSize bounds what a GET reads: the largest envelope plus room
// for its header.
const MaxObjectSize = envelope.MaxPlaintextSize + 64<<10

// Store reads and writes env files in S3 under KMS.
type Store struct {
	S3  *s3.Client
	KMS *kms.Client

	// Log receives warnings about what was read (a legacy object); never
	// nil after New.
	Log hclog.Logger
	// AliasTTL bounds how long an alias resolution is trusted: an
	// operator who moves an alias away from a key expects a long-running
	// reader to follow within that time.
	AliasTTL time.Duration

	mu      sync.Mutex
	aliases map[string]aliasEntry // alias entry -> key ARN
	// resolving holds the DescribeKey in flight per alias entry.
	resolving map[string]chan struct{}
}

type aliasEntry struct {
	arn     string
	expires time.Time
}

// DefaultAliasTTL is how long an alias resolution is kept unless
// Options.AliasTTL says otherwise.
const DefaultAliasTTL = time.Minute

// New returns a Store using the given clients.
func New(s3c *s3.Client, kmsc *kms.Client) *Store {
	return &Store{S3: s3c, KMS: kmsc, Log: hclog.NewNullLogger(), AliasTTL: DefaultAliasTTL, aliases: map[string]aliasEntry{}, resolving: map[string]chan struct{}{}}
}

// Options change how Load builds the clients.
type Options struct {
	// PathStyle forces path-style addressing; otherwise PathStyleEnv
	// decides.
	PathStyle bool
	// Logger receives the AWS SDK's own log lines (at their level: the
	// SDK's debug notes stay at debug) and the Store's warnings. Nil
	// discards them: the SDK's default would print to stderr whatever
	// -log-level says.
	Logger hclog.Logger
	// AliasTTL, when positive and shorter than DefaultAliasTTL, replaces
	// it (prestart passes -poll, so a supervisor never polls with a stale
	// alias).
	AliasTTL time.Duration
	// CredentialsLock, if set, is held while credentials are retrieved,
	// which may run a credential_process command: a supervising
	// prestart's reaper takes it before wait4(-1). Requests with cached
	// credentials hold it for a moment only.
	CredentialsLock sync.Locker
}

// Load builds a Store configured exactly as the AWS CLI is: shared config
// and credentials files, AWS_PROFILE, AWS_REGION, roles, and the endpoint
// overrides AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_KMS
// (read by the SDK itself).
func Load(ctx context.Context, o Options) (*Store, error) {
	pathStyle := o.PathStyle
	if v := os.Getenv(PathStyleEnv); v != "" && !pathStyle {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: want true or false", PathStyleEnv, v)
		}
		pathStyle = b
	}
	log := o.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithLogger(sdkLogger{log.Named("aws")}))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set AWS_REGION or a region in the profile")
	}
	if o.CredentialsLock != nil && cfg.Credentials != nil {
		cfg.Credentials = lockedCredentials{cfg.Credentials, o.CredentialsLock}
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	s := New(s3c, kms.NewFromConfig(cfg))
	s.Log = log
	if o.AliasTTL > 0 && o.AliasTTL < s.AliasTTL {
		s.AliasTTL = o.AliasTTL
	}
	return s, nil
}

// rawObject is an object as S3 returned it.
type rawObject struct {
	body      []byte
	versionID string
	etag      string
	meta      map[string]string // user metadata, keys lower-cased
	sse       types.ServerSideEncryption
	sseKey    string // SSE-KMS key as S3 reports it
}

func (r *rawObject) wipe() {
	if r != nil {
		clear(r.body)
	}
}

// get reads an object (a version of it when version is not empty).
func (s *Store) get(ctx context.Context, obj Object, version string) (*rawObject, error) {
	in := &s3.GetObjectInput{Bucket: &obj.Bucket, Key: &obj.Key}
	if version != "" {
		in.VersionId = &version
	}
	out, err := s.S3.GetObject(ctx, in)
	if err != nil {
		return nil, awsError("get "+obj.String()+versionSuffix(version), err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > MaxObjectSize {
		return nil, mark(ErrCorrupt, fmt.Errorf("%s is %d bytes, more than the %d an env file may have", obj, *out.ContentLength, MaxObjectSize))
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(out.Body, MaxObjectSize+1))
	if err != nil {
		clear(buf.Bytes())
		return nil, mark(ErrUnavailable, fmt.Errorf("read %s: %w", obj, err))
	}
	if n > MaxObjectSize {
		clear(buf.Bytes())
		return nil, mark(ErrCorrupt, fmt.Errorf("%s is larger than the %d bytes an env file may have", obj, MaxObjectSize))
	}
	r := &rawObject{
		body:      buf.Bytes(),
		versionID: aws.ToString(out.VersionId),
		etag:      aws.ToString(out.ETag),
		meta:      make(map[string]string, len(out.Metadata)),
		sse:       out.ServerSideEncryption,
		sseKey:    aws.ToString(out.SSEKMSKeyId),
	}
	for k, v := range out.Metadata {
		r.meta[strings.ToLower(k)] = v
	}
	return r, nil
}

func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return " version " + v
}

// putParams says how to write an object.
type putParams struct {
	ifMatch     string // ETag the current object must have
	ifNoneMatch bool   // the object must not exist
	sse         types.ServerSideEncryption
	sseKey      string
	contentType string
	meta        map[string]string
}

// put writes an object and returns its version ID ("" in an unversioned
// bucket). A failed condition is ErrConflict.
func (s *Store) put(ctx context.Context, obj Object, body []byte, p putParams) (string, error) {
	in := &s3.PutObjectInput{
		Bucket: &obj.Bucket,
		Key:    &obj.Key,
		Body:   bytes.NewReader(body),
		// A secret has no business in a cache between S3 and its reader.
		CacheControl: aws.String("no-store"),
	}
	in.ContentLength = aws.Int64(int64(len(body)))
	if p.contentType != "" {
		in.ContentType = &p.contentType
	}
	if len(p.meta) > 0 {
		in.Metadata = p.meta
	}
	if p.ifMatch != "" {
		in.IfMatch = &p.ifMatch
	}
	if p.ifNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if p.sse != "" {
		in.ServerSideEncryption = p.sse
		if p.sseKey != "" {
			in.SSEKMSKeyId = &p.sseKey
		}
	}
	out, err := s.S3.PutObject(ctx, in)
	if err != nil {
		err = awsError("put "+obj.String(), err)
		if errors.Is(err, ErrConflict) {
			return "", mark(ErrConflict, fmt.Errorf("conflict: %s was changed by someone else after it was read; nothing was written", obj))
		}
		return "", err
	}
	return aws.ToString(out.VersionId), nil
}

// head returns the current ETag and version, or source.ErrNotFound.
func (s *Store) head(ctx context.Context, obj Object) (etag, version string, err error) {
	out, err := s.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &obj.Bucket, Key: &obj.Key})
	if err != nil {
		return "", "", awsError("head "+obj.String(), err)
	}
	return aws.ToString(out.ETag), aws.ToString(out.VersionId), nil
}

// sdkLogger passes the AWS SDK's log lines to an hclog.Logger, so that
// -log-level decides what is shown. The SDK logs no request or response
// bodies unless ClientLogMode asks for them, and nothing here asks.
type sdkLogger struct{ log hclog.Logger }

func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if c == logging.Warn {
		l.log.Warn(msg)
		return
	}
	l.log.Debug(msg)
}

// lockedCredentials holds a lock while credentials are retrieved (see
// Options.CredentialsLock).
type lockedCredentials struct {
	aws.CredentialsProvider
	l sync.Locker
}

func (c lockedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c.l.Lock()
	defer c.l.Unlock()
	return c.CredentialsProvider.Retrieve(ctx)
}
