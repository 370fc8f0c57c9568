package s3src

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keyturn/keyturn/envelope"
)

// resolveAlias is the envelope.AliasResolver: one DescribeKey per alias
// and AliasTTL, since an alias entry is checked for every object read, and
// an alias an operator moves must stop vouching for its old key. Objects
// are read concurrently, so a resolution in flight is waited for rather
// than asked again.
func (s *Store) resolveAlias(ctx context.Context, alias string) (string, error) {
	for {
		s.mu.Lock()
		e, ok := s.aliases[alias]
		if ok && time.Now().Before(e.expires) {
			s.mu.Unlock()
			return e.arn, nil
		}
		wait, busy := s.resolving[alias]
		if !busy {
			done := make(chan struct{})
			s.resolving[alias] = done
			s.mu.Unlock()
			arn, err := s.describeAlias(ctx, alias)
			s.mu.Lock()
			if err == nil {
				s.aliases[alias] = aliasEntry{arn: arn, expires: time.Now().Add(s.AliasTTL)}
			}
			delete(s.resolving, alias)
			s.mu.Unlock()
			close(done)
			return arn, err
		}
		s.mu.Unlock()
		select {
		case <-wait: // resolved, or failed: then ask again, with own context
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func (s *Store) describeAlias(ctx context.Context, alias string) (string, error) {
	out, err := s.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &alias})
	if err != nil {
		return "", awsError("KMS describe "+alias, err)
	}
	if out.KeyMetadata == nil || out.KeyMetadata.Arn == nil {
		return "", fmt.Errorf("KMS describe %s: no key ARN in the answer", alias)
	}
	return *out.KeyMetadata.Arn, nil
}

// checkAllowed refuses a key outside the allow-list; an empty list
// allows nothing.
func (s *Store) checkAllowed(ctx context.Context, keyARN string, allow []string) error {
	if len(allow) == 0 {
		return mark(ErrRefused, errNoAllowList)
	}
	if err := envelope.CheckKeyAllowed(ctx, keyARN, allow, s.resolveAlias); err != nil {
		if errors.Is(err, envelope.ErrKeyNotAllowed) {
			return mark(ErrRefused, err)
		}
		return err
	}
	return nil
}

var errNoAllowList = errors.New("no KMS key allow-list: name the key the object must be encrypted under (?kms=KEY for prestart, -kms-key or -kms-allow for s3kms)")

// decryptBlob decrypts a KMS ciphertext blob (a data key, or a
// secret) under an allowed key. With one allowed key it is passed as
// KeyId, and KMS itself refuses a blob made under any other key; with
// several, the key KMS reports having used is checked and the plaintext
// dropped unless it is allowed.
func (s *Store) decryptBlob(ctx context.Context, what string, blob []byte, encCtx map[string]string, allow []string) ([]byte, string, error) {
	if len(allow) == 0 {
		return nil, "", mark(ErrRefused, errNoAllowList)
	}
	in := &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: encCtx}
	if len(allow) == 1 {
		in.KeyId = aws.String(allow[0])
	}
	out, err := s.KMS.Decrypt(ctx, in)
	if err != nil {
		return nil, "", awsError("KMS decrypt "+what, err)
	}
	keyARN := aws.ToString(out.KeyId)
	if len(allow) > 1 {
		if err := s.checkAllowed(ctx, keyARN, allow); err != nil {
			clear(out.Plaintext)
			return nil, "", err
		}
	}
	return out.Plaintext, keyARN, nil
}

// seal encrypts plaintext into an envelope for obj under a fresh data key
// from kmsKey (key ID, ARN or alias).
func (s *Store) seal(ctx context.Context, obj Object, kmsKey string, plaintext []byte) ([]byte, string, error) {
	encCtx := map[string]string{envelope.ObjectContextKey: obj.String()}
	out, err := s.KMS.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             &kmsKey,
		KeySpec:           kmstypes.DataKeySpecAes256,
		EncryptionContext: encCtx,
	})
	if err != nil {
		return nil, "", awsError("KMS generate data key under "+kmsKey, err)
	}
	defer clear(out.Plaintext)
	h := envelope.Header{KeyARN: aws.ToString(out.KeyId), Context: encCtx, EncryptedDataKey: out.CiphertextBlob}
	b, err := envelope.Seal(h, out.Plaintext, plaintext)
	if err != nil {
		return nil, "", err
	}
	return b, h.KeyARN, nil
}

// openEnvelope authenticates and decrypts an envelope read from obj: the
// key is checked against the allow-list and the object identity against
// where the bytes came from before KMS is asked for anything.
func (s *Store) openEnvelope(ctx context.Context, obj Object, body []byte, allow []string) ([]byte, string, error) {
	env, err := envelope.Parse(body)
	if err != nil {
		return nil, "", envelopeError(fmt.Errorf("%s: %w", obj, err))
	}
	if err := s.checkAllowed(ctx, env.KeyARN, allow); err != nil {
		return nil, "", fmt.Errorf("%s: %w", obj, err)
	}
	encCtx, err := env.DecryptContext(obj.String())
	if err != nil {
		return nil, "", envelopeError(err)
	}
	out, err := s.KMS.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    env.EncryptedDataKey,
		EncryptionContext: encCtx,
		KeyId:             &env.KeyARN,
	})
	if err != nil {
		return nil, "", awsError(obj.String()+": KMS decrypt data key", err)
	}
	defer clear(out.Plaintext)
	pt, err := envelope.Open(env, out.Plaintext)
	if err != nil {
		return nil, "", envelopeError(fmt.Errorf("%s: %w", obj, err))
	}
	return pt, env.KeyARN, nil
}

// sseKeyAllowed says whether the SSE-KMS key S3 reports for a plain object
// is in the allow-list. AWS reports the key ARN, which is checked as for an
// envelope; S3-compatible stores report other forms (MinIO:
// arn:aws:kms:NAME), so an entry equal to the reported key, or to its last
// component, also matches.
func (s *Store) sseKeyAllowed(ctx context.Context, sseKey string, allow []string) error {
	if sseKey == "" {
		return mark(ErrRefused, fmt.Errorf("%w: the object is neither an envelope nor encrypted with SSE-KMS", envelope.ErrKeyNotAllowed))
	}
	last := sseKey
	if i := strings.LastIndexAny(last, ":/"); i >= 0 {
		last = last[i+1:]
	}
	if slices.Contains(allow, sseKey) || slices.Contains(allow, last) {
		return nil
	}
	if _, err := envelope.ParseKeyARN(sseKey); err == nil {
		return s.checkAllowed(ctx, sseKey, allow)
	}
	return mark(ErrRefused, fmt.Errorf("%w: SSE-KMS key %s is not in the allow-list", envelope.ErrKeyNotAllowed, sseKey))
}
