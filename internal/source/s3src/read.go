package s3src

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/keyturn/keyturn/envelope"
	"github.com/keyturn/keyturn/internal/envfile"
)

// Format is the form an object was stored in.
type Format string

// The forms Read tells apart.
const (
	FormatEnvelope Format = "envelope"
	FormatS3EC     Format = "s3ec-v2"
	FormatS3ECv1   Format = "s3ec-v1" // read only with Legacy
	FormatPlain    Format = "plain"   // S3 returned the file itself (SSE or none)
)

// Secret is an env file read from S3.
type Secret struct {
	Object    Object
	Vars      map[string]string
	Format    Format
	VersionID string
	ETag      string
	// KeyARN is the KMS key that decrypted an envelope or S3 Encryption
	// Client object, or the SSE-KMS key S3 reports for a plain one.
	KeyARN string
	// SSE is the server-side encryption S3 reports (aws:kms, AES256, "").
	SSE types.ServerSideEncryption

	raw *rawObject
}

// ReadOption changes how Read reads.
type ReadOption func(*readConfig)

type readConfig struct {
	legacy      bool
	instruction bool
	anyPlain    bool // a plain object needs no SSE-KMS key (Migrate)
}

// Legacy reads S3 Encryption Client v1 objects (AES-CBC content, KMS key
// wrap without the content algorithm in the context), with a warning on
// every read; without it they are refused with ErrUnsupported.
func Legacy() ReadOption { return func(c *readConfig) { c.legacy = true } }

// Instruction reads an object without S3 Encryption Client metadata as one
// whose metadata is in KEY.instruction (the S3 Encryption Client's
// instruction file mode). Without it, such an object is only looked up
// there when it says so (x-amz-crypto-instr-file, as the Java client
// writes), since any other object would cost a second GET.
func Instruction() ReadOption { return func(c *readConfig) { c.instruction = true } }

// Read reads the env file in obj, or in one version of it, with one GET
// and, for an envelope, one KMS Decrypt (plus one DescribeKey per alias
// entry in allow, at most once per Store.AliasTTL). See the package
// documentation for allow.
func (s *Store) Read(ctx context.Context, obj Object, version string, allow []string, opts ...ReadOption) (*Secret, error) {
	var cfg readConfig
	for _, o := range opts {
		o(&cfg)
	}
	if err := envelope.ValidateAllowList(allow); err != nil {
		return nil, err
	}
	raw, err := s.get(ctx, obj, version)
	if err != nil {
		return nil, err
	}
	pt, format, keyARN, err := s.decode(ctx, obj, raw, allow, cfg)
	if err != nil {
		raw.wipe()
		return nil, err
	}
	if format != FormatPlain {
		defer clear(pt)
	}
	vars, err := envfile.ParseLenient(pt)
	if err != nil {
		raw.wipe()
		return nil, mark(ErrCorrupt, fmt.Errorf("%s: %w", obj, err))
	}
	return &Secret{
		Object: obj, Vars: vars, Format: format, VersionID: raw.versionID, ETag: raw.etag,
		KeyARN: keyARN, SSE: raw.sse, raw: raw,
	}, nil
}

// decode finds the object's form and returns the env file in it.
func (s *Store) decode(ctx context.Context, obj Object, raw *rawObject, allow []string, cfg readConfig) ([]byte, Format, string, error) {
	switch {
	case isS3EC(raw.meta) || cfg.instruction && !envelope.HasMagic(raw.body):
		return s.openS3EC(ctx, obj, raw, allow, cfg.legacy)
	case envelope.HasMagic(raw.body):
		pt, key, err := s.openEnvelope(ctx, obj, raw.body, allow)
		return pt, FormatEnvelope, key, err
	}
	// A plain object. With an allow-list it must be SSE-KMS under an
	// allowed key: otherwise anyone who can write the bucket could
	// replace an envelope with a plain file of their own.
	if len(allow) > 0 && !cfg.anyPlain {
		key := raw.sseKey
		if raw.sse != types.ServerSideEncryptionAwsKms && raw.sse != types.ServerSideEncryptionAwsKmsDsse {
			key = ""
		}
		if err := s.sseKeyAllowed(ctx, key, allow); err != nil {
			return nil, "", "", fmt.Errorf("%s: not an envelope: %w", obj, err)
		}
	}
	return raw.body, FormatPlain, raw.sseKey, nil
}
