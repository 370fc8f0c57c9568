package s3src

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyturn/keyturn/envelope"
)

// Metadata of the AWS S3 Encryption Client (x-amz-meta-* on the object, or
// the JSON of an instruction file).
const (
	s3ecKeyV1     = "x-amz-key"
	s3ecKeyV2     = "x-amz-key-v2"
	s3ecIV        = "x-amz-iv"
	s3ecMatDesc   = "x-amz-matdesc"
	s3ecWrapAlg   = "x-amz-wrap-alg"
	s3ecCEKAlg    = "x-amz-cek-alg"
	s3ecTagLen    = "x-amz-tag-len"
	s3ecPlainLen  = "x-amz-unencrypted-content-length"
	s3ecInstrFile = "x-amz-crypto-instr-file" // set by the Java client on an object whose metadata is in an instruction file
	s3ecCEKCtxKey = "aws:" + s3ecCEKAlg       // the encryption context entry that pins the content cipher

	s3ecGCM         = "AES/GCM/NoPadding"
	s3ecCBC         = "AES/CBC/PKCS5Padding"
	s3ecKMSContext  = "kms+context"
	s3ecLegacyKMS   = "kms"
	s3ecInstruction = ".instruction"

	maxMatDesc = 8 << 10
)

// errS3ECMoved is an S3 Encryption Client object read under another name
// than the one its encryption context binds; it is an
// envelope.ErrObjectMismatch too.
var errS3ECMoved error = s3ecMoved{}

type s3ecMoved struct{}

func (s3ecMoved) Error() string        { return "S3 Encryption Client object made for another object" }
func (s3ecMoved) Is(target error) bool { return target == envelope.ErrObjectMismatch }

// isS3EC reports whether the object carries S3 Encryption Client
// metadata, in any version.
func isS3EC(meta map[string]string) bool {
	for _, k := range []string{s3ecKeyV1, s3ecKeyV2, s3ecWrapAlg, s3ecCEKAlg, s3ecMatDesc, s3ecInstrFile} {
		if _, ok := meta[k]; ok {
			return true
		}
	}
	return false
}

// s3ecMeta is the S3 Encryption Client metadata of one object, parsed but
// not yet trusted: all of it is written by whoever wrote the object.
type s3ecMeta struct {
	keyHeader string // which of x-amz-key-v2 and x-amz-key holds the wrapped key
	wrapped   []byte
	iv        []byte
	matDesc   map[string]string
	wrapAlg   string
	cekAlg    string
	plainLen  int // -1 if not given
}

// legacy reports whether the object is in the v1 format: content in
// AES-CBC, a KMS key wrap without the content algorithm in its context,
// or the key in the v1 header.
func (m *s3ecMeta) legacy() bool {
	return m.cekAlg == s3ecCBC || m.wrapAlg == s3ecLegacyKMS || m.keyHeader == s3ecKeyV1
}

// describe names the object's format for messages, from what it has.
func (m *s3ecMeta) describe() string {
	cek := m.cekAlg
	if cek == "" {
		cek = "no " + s3ecCEKAlg
	}
	return fmt.Sprintf("%s, key wrap %q, key in %s", cek, m.wrapAlg, m.keyHeader)
}

// parseS3ECMeta parses an object's S3 Encryption Client metadata. It
// checks form only (base64, lengths, JSON); whether the format is one
// keyturn reads is decided by the caller.
func parseS3ECMeta(meta map[string]string) (*s3ecMeta, error) {
	m := &s3ecMeta{wrapAlg: meta[s3ecWrapAlg], cekAlg: meta[s3ecCEKAlg], plainLen: -1}
	switch {
	case meta[s3ecKeyV2] != "":
		m.keyHeader = s3ecKeyV2
	case meta[s3ecKeyV1] != "":
		m.keyHeader = s3ecKeyV1
	default:
		return nil, fmt.Errorf("no %s or %s metadata", s3ecKeyV2, s3ecKeyV1)
	}
	if m.cekAlg == "" && m.keyHeader == s3ecKeyV1 {
		m.cekAlg = s3ecCBC // the v1 clients' only cipher before x-amz-cek-alg existed
	}
	var err error
	if m.wrapped, err = base64.StdEncoding.DecodeString(meta[m.keyHeader]); err != nil || len(m.wrapped) == 0 || len(m.wrapped) > MaxBlobSize {
		return nil, fmt.Errorf("%s is not a base64 wrapped key", m.keyHeader)
	}
	if m.iv, err = base64.StdEncoding.DecodeString(meta[s3ecIV]); err != nil || len(m.iv) == 0 {
		return nil, fmt.Errorf("%s is not base64", s3ecIV)
	}
	md := meta[s3ecMatDesc]
	if md == "" {
		md = "{}"
	}
	if len(md) > maxMatDesc {
		return nil, fmt.Errorf("%s is longer than %d bytes", s3ecMatDesc, maxMatDesc)
	}
	if err := json.Unmarshal([]byte(md), &m.matDesc); err != nil || m.matDesc == nil {
		return nil, fmt.Errorf("%s is not a JSON object of strings", s3ecMatDesc)
	}
	if tl := meta[s3ecTagLen]; tl != "" && tl != "128" {
		return nil, fmt.Errorf("tag length %q, want 128", tl)
	}
	if pl, ok := meta[s3ecPlainLen]; ok && pl != "" {
		n, err := strconv.Atoi(pl)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s is not a length", s3ecPlainLen)
		}
		m.plainLen = n
	}
	return m, nil
}

// openS3EC decrypts an S3 Encryption Client object. The v2 format (KMS
// key wrap with context, kms+context, and AES-256-GCM content: what the v2
// clients write by default) is always read. The legacy v1 format (AES-CBC
// content, or a KMS key wrap whose context does not pin the content
// algorithm) is read only when legacy is set, with a warning on every
// read: CBC does not authenticate the content, so whoever can write the
// object can change the plaintext without KMS or keyturn noticing.
func (s *Store) openS3EC(ctx context.Context, obj Object, raw *rawObject, allow []string, legacy bool) ([]byte, Format, string, error) {
	meta := raw.meta
	if meta[s3ecKeyV2] == "" && meta[s3ecKeyV1] == "" {
		im, err := s.instructionFile(ctx, obj)
		if err != nil {
			return nil, FormatS3EC, "", err
		}
		meta = im
	}
	m, err := parseS3ECMeta(meta)
	if err != nil {
		return nil, FormatS3EC, "", mark(ErrCorrupt, fmt.Errorf("%s: S3 Encryption Client metadata: %w", obj, err))
	}
	// A writer may bind the object by putting keyturn:object into the
	// material description, which is the KMS encryption context: KMS then
	// refuses any change to it, and the reader refuses it elsewhere.
	if where, ok := m.matDesc[envelope.ObjectContextKey]; ok && where != obj.String() {
		return nil, FormatS3EC, "", mark(ErrRefused, fmt.Errorf("%s: %w: its material description binds it to %s", obj, errS3ECMoved, where))
	}
	if m.legacy() {
		if !legacy {
			return nil, FormatS3ECv1, "", mark(ErrUnsupported, fmt.Errorf("%s: legacy S3 Encryption Client v1 object (%s): refused, since its content is not authenticated; read it with ?legacy (s3kms pull -legacy), or convert it with s3kms migrate", obj, m.describe()))
		}
		pt, key, err := s.openS3ECv1(ctx, obj, raw.body, m, allow)
		if err == nil {
			s.Log.Warn("read a legacy S3 Encryption Client v1 object: its content is not authenticated; convert it with s3kms migrate", "object", obj.String(), "format", m.describe())
		}
		return pt, FormatS3ECv1, key, err
	}
	switch {
	case m.wrapAlg != s3ecKMSContext:
		return nil, FormatS3EC, "", mark(ErrUnsupported, fmt.Errorf("%s: S3 Encryption Client key wrap %q is not supported (only KMS: %s, or %s with ?legacy)", obj, m.wrapAlg, s3ecKMSContext, s3ecLegacyKMS))
	case m.cekAlg != s3ecGCM:
		return nil, FormatS3EC, "", mark(ErrUnsupported, fmt.Errorf("%s: S3 Encryption Client content algorithm %q is not supported (only %s, or %s with ?legacy)", obj, m.cekAlg, s3ecGCM, s3ecCBC))
	}
	// The v2 clients put the content algorithm into the encryption
	// context, so KMS only releases the key for the algorithm it was
	// made for; a mismatch means the metadata was changed.
	if m.matDesc[s3ecCEKCtxKey] != m.cekAlg {
		return nil, FormatS3EC, "", mark(ErrRefused, fmt.Errorf("%s: the encryption context's %s does not match %s: the object's metadata was altered", obj, s3ecCEKCtxKey, s3ecCEKAlg))
	}
	key, keyARN, err := s.decryptBlob(ctx, obj.String()+" S3 Encryption Client key", m.wrapped, m.matDesc, allow)
	if err != nil {
		return nil, FormatS3EC, "", err
	}
	defer clear(key)
	pt, err := openGCM(obj, key, m, raw.body)
	return pt, FormatS3EC, keyARN, err
}

// openS3ECv1 decrypts a v1 object whose data key KMS wrapped (x-amz-wrap-alg
// kms: the material description is the encryption context).
func (s *Store) openS3ECv1(ctx context.Context, obj Object, body []byte, m *s3ecMeta, allow []string) ([]byte, string, error) {
	if m.wrapAlg != s3ecLegacyKMS && m.wrapAlg != s3ecKMSContext {
		return nil, "", mark(ErrUnsupported, fmt.Errorf("%s: S3 Encryption Client v1 key wrap %q is not supported (only kms: a client-side master key never reaches keyturn)", obj, m.wrapAlg))
	}
	if m.cekAlg != s3ecCBC && m.cekAlg != s3ecGCM {
		return nil, "", mark(ErrUnsupported, fmt.Errorf("%s: S3 Encryption Client content algorithm %q is not supported", obj, m.cekAlg))
	}
	key, keyARN, err := s.decryptBlob(ctx, obj.String()+" S3 Encryption Client key", m.wrapped, m.matDesc, allow)
	if err != nil {
		return nil, "", err
	}
	defer clear(key)
	var pt []byte
	if m.cekAlg == s3ecGCM {
		pt, err = openGCM(obj, key, m, body)
	} else {
		pt, err = openCBC(obj, key, m, body)
	}
	return pt, keyARN, err
}

func openGCM(obj Object, key []byte, m *s3ecMeta, body []byte) ([]byte, error) {
	if len(key) != 32 {
		return nil, mark(ErrCorrupt, fmt.Errorf("%s: S3 Encryption Client data key is %d bytes, want 32", obj, len(key)))
	}
	if len(m.iv) != 12 {
		return nil, mark(ErrCorrupt, fmt.Errorf("%s: %s is not a 12-byte GCM nonce", obj, s3ecIV))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, m.iv, body, nil)
	if err != nil {
		return nil, mark(ErrRefused, fmt.Errorf("%s: S3 Encryption Client object: %w", obj, errors.New("authentication failed (wrong key or modified content)")))
	}
	return checkPlainLen(obj, m, pt)
}

// openCBC decrypts AES-CBC with PKCS#5 padding. A wrong padding is
// reported like any other damage: the content was modified or the key is
// not the one it was made with; nothing authenticates it either way.
func openCBC(obj Object, key []byte, m *s3ecMeta, body []byte) ([]byte, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, mark(ErrCorrupt, fmt.Errorf("%s: S3 Encryption Client data key is %d bytes, not an AES key", obj, len(key)))
	}
	if len(m.iv) != aes.BlockSize {
		return nil, mark(ErrCorrupt, fmt.Errorf("%s: %s is not a 16-byte CBC IV", obj, s3ecIV))
	}
	if len(body) == 0 || len(body)%aes.BlockSize != 0 {
		return nil, mark(ErrCorrupt, fmt.Errorf("%s: AES-CBC content of %d bytes is not whole blocks", obj, len(body)))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(body))
	cipher.NewCBCDecrypter(block, m.iv).CryptBlocks(pt, body)
	n, ok := unpadPKCS7(pt)
	if !ok {
		clear(pt)
		return nil, mark(ErrCorrupt, fmt.Errorf("%s: AES-CBC padding is invalid (modified content)", obj))
	}
	clear(pt[n:])
	return checkPlainLen(obj, m, pt[:n])
}

// unpadPKCS7 returns the length of pt without its PKCS#7 padding.
func unpadPKCS7(pt []byte) (int, bool) {
	if len(pt) == 0 || len(pt)%aes.BlockSize != 0 {
		return 0, false
	}
	p := int(pt[len(pt)-1])
	if p == 0 || p > aes.BlockSize {
		return 0, false
	}
	want := make([]byte, p)
	for i := range want {
		want[i] = byte(p)
	}
	if subtle.ConstantTimeCompare(pt[len(pt)-p:], want) != 1 {
		return 0, false
	}
	return len(pt) - p, true
}

func checkPlainLen(obj Object, m *s3ecMeta, pt []byte) ([]byte, error) {
	if m.plainLen >= 0 && m.plainLen != len(pt) {
		clear(pt)
		return nil, mark(ErrCorrupt, fmt.Errorf("%s: plaintext length differs from %s", obj, s3ecPlainLen))
	}
	return pt, nil
}

// maxInstructionFile bounds an instruction file: a few metadata fields.
const maxInstructionFile = 16 << 10

// instructionFile reads KEY.instruction, where an S3 Encryption Client
// configured for instruction files keeps the metadata of KEY: a JSON
// object with the same x-amz-* fields.
func (s *Store) instructionFile(ctx context.Context, obj Object) (map[string]string, error) {
	ins := Object{Bucket: obj.Bucket, Key: obj.Key + s3ecInstruction}
	raw, err := s.get(ctx, ins, "")
	if err != nil {
		return nil, fmt.Errorf("%s: S3 Encryption Client object without %s metadata: %w", obj, s3ecKeyV2, err)
	}
	m, err := parseInstructionFile(raw.body)
	if err != nil {
		return nil, mark(ErrCorrupt, fmt.Errorf("%s: %w", ins, err))
	}
	return m, nil
}

// parseInstructionFile parses an instruction file into metadata as it
// would stand on the object (keys lower-cased). Numbers, which some
// clients write for lengths, become their decimal text.
func parseInstructionFile(b []byte) (map[string]string, error) {
	if len(b) > maxInstructionFile {
		return nil, fmt.Errorf("instruction file is longer than %d bytes", maxInstructionFile)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return nil, errors.New("instruction file is not a JSON object")
	}
	m := make(map[string]string, len(fields))
	for k, v := range fields {
		var str string
		if err := json.Unmarshal(v, &str); err == nil {
			m[strings.ToLower(k)] = str
			continue
		}
		var n json.Number
		if err := json.Unmarshal(v, &n); err == nil {
			m[strings.ToLower(k)] = n.String()
			continue
		}
		return nil, fmt.Errorf("instruction file field %q is neither a string nor a number", k)
	}
	return m, nil
}
