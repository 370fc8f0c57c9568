package s3src

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Metadata of the AWS S3 Encryption Client (x-amz-meta-* on the object).
const (
	s3ecKeyV1     = "x-amz-key"
	s3ecKeyV2     = "x-amz-key-v2"
	s3ecIV        = "x-amz-iv"
	s3ecMatDesc   = "x-amz-matdesc"
	s3ecWrapAlg   = "x-amz-wrap-alg"
	s3ecCEKAlg    = "x-amz-cek-alg"
	s3ecTagLen    = "x-amz-tag-len"
	s3ecPlainLen  = "x-amz-unencrypted-content-length"
	s3ecCEKCtxKey = "aws:" + s3ecCEKAlg // the encryption context entry that pins the content cipher

	s3ecGCM         = "AES/GCM/NoPadding"
	s3ecCBC         = "AES/CBC/PKCS5Padding"
	s3ecKMSContext  = "kms+context"
	s3ecLegacyKMS   = "kms"
	s3ecInstruction = ".instruction"
)

// isS3EC reports whether the object carries S3 Encryption Client
// metadata, in any version.
func isS3EC(meta map[string]string) bool {
	for _, k := range []string{s3ecKeyV1, s3ecKeyV2, s3ecWrapAlg, s3ecCEKAlg, s3ecMatDesc} {
		if _, ok := meta[k]; ok {
			return true
		}
	}
	return false
}

// openS3EC decrypts an S3 Encryption Client v2 object whose data key is
// wrapped by KMS with context (kms+context) and whose content is
// AES-256-GCM, the format the v2 clients write by default. Everything
// else is refused: the legacy v1 format encrypts with AES-CBC, which does
// not authenticate the content, and wraps the key without binding the
// content algorithm, so a reader cannot tell a modified object from a
// genuine one.
func (s *Store) openS3EC(ctx context.Context, obj Object, raw *rawObject, allow []string) ([]byte, string, error) {
	m := raw.meta
	cekAlg, wrapAlg := m[s3ecCEKAlg], m[s3ecWrapAlg]
	switch {
	case cekAlg == s3ecCBC || m[s3ecKeyV1] != "" && m[s3ecKeyV2] == "":
		return nil, "", mark(ErrUnsupported, fmt.Errorf("%s: legacy S3 Encryption Client v1 object (AES-CBC content or x-amz-key): refused, since CBC does not authenticate the content; re-encrypt it with a v2 client, or push the env file with s3kms", obj))
	case wrapAlg == s3ecLegacyKMS:
		return nil, "", mark(ErrUnsupported, fmt.Errorf("%s: legacy S3 Encryption Client key wrap %q (no encryption context): refused; re-encrypt it with a v2 client (kms+context), or push the env file with s3kms", obj, wrapAlg))
	case wrapAlg != s3ecKMSContext:
		return nil, "", mark(ErrUnsupported, fmt.Errorf("%s: S3 Encryption Client key wrap %q is not supported (only KMS, %s)", obj, wrapAlg, s3ecKMSContext))
	case cekAlg != s3ecGCM:
		return nil, "", mark(ErrUnsupported, fmt.Errorf("%s: S3 Encryption Client content algorithm %q is not supported (only %s)", obj, cekAlg, s3ecGCM))
	case m[s3ecKeyV2] == "":
		return nil, "", mark(ErrUnsupported, fmt.Errorf("%s: S3 Encryption Client object without %s metadata: an instruction file (%s%s) is not read", obj, s3ecKeyV2, obj.Key, s3ecInstruction))
	}
	if tl := m[s3ecTagLen]; tl != "" && tl != "128" {
		return nil, "", mark(ErrCorrupt, fmt.Errorf("%s: S3 Encryption Client tag length %q, want 128", obj, tl))
	}
	wrapped, err := base64.StdEncoding.DecodeString(m[s3ecKeyV2])
	if err != nil || len(wrapped) == 0 {
		return nil, "", mark(ErrCorrupt, fmt.Errorf("%s: %s is not base64", obj, s3ecKeyV2))
	}
	iv, err := base64.StdEncoding.DecodeString(m[s3ecIV])
	if err != nil || len(iv) != 12 {
		return nil, "", mark(ErrCorrupt, fmt.Errorf("%s: %s is not a base64 12-byte GCM nonce", obj, s3ecIV))
	}
	var encCtx map[string]string
	if err := json.Unmarshal([]byte(m[s3ecMatDesc]), &encCtx); err != nil {
		return nil, "", mark(ErrCorrupt, fmt.Errorf("%s: %s is not a JSON object of strings", obj, s3ecMatDesc))
	}
	// The v2 clients put the content algorithm into the encryption
	// context, so KMS only releases the key for the algorithm it was
	// made for; a mismatch means the metadata was changed.
	if encCtx[s3ecCEKCtxKey] != cekAlg {
		return nil, "", mark(ErrRefused, fmt.Errorf("%s: the encryption context's %s does not match %s: the object's metadata was altered", obj, s3ecCEKCtxKey, s3ecCEKAlg))
	}
	key, keyARN, err := s.decryptBlob(ctx, obj.String()+" S3 Encryption Client key", wrapped, encCtx, allow)
	if err != nil {
		return nil, "", err
	}
	defer clear(key)
	if len(key) != 32 {
		return nil, "", mark(ErrCorrupt, fmt.Errorf("%s: S3 Encryption Client data key is %d bytes, want 32", obj, len(key)))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, "", err
	}
	pt, err := aead.Open(nil, iv, raw.body, nil)
	if err != nil {
		return nil, "", mark(ErrRefused, fmt.Errorf("%s: S3 Encryption Client object: %w", obj, errors.New("authentication failed (wrong key or modified content)")))
	}
	if pl := m[s3ecPlainLen]; pl != "" {
		if n, err := strconv.Atoi(pl); err != nil || n != len(pt) {
			clear(pt)
			return nil, "", mark(ErrCorrupt, fmt.Errorf("%s: plaintext length differs from %s", obj, s3ecPlainLen))
		}
	}
	return pt, keyARN, nil
}
