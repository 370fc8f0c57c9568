package s3src

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseS3ECMeta: object metadata is written by whoever can write the
// bucket. The parser must never panic, and what it accepts must be
// well-formed.
func FuzzParseS3ECMeta(f *testing.F) {
	f.Add("AQIDBA==", "", "AAECAwQFBgcICQoLDA0ODw==", `{"kms_cmk_id":"arn:aws:kms:us-east-1:1:key/k"}`, "kms", "AES/CBC/PKCS5Padding", "", "12")
	f.Add("", "AQIDBA==", "AAECAwQFBgcICQoL", `{"aws:x-amz-cek-alg":"AES/GCM/NoPadding"}`, "kms+context", "AES/GCM/NoPadding", "128", "0")
	f.Fuzz(func(t *testing.T, keyV2, keyV1, iv, matdesc, wrap, cek, tagLen, plainLen string) {
		meta := map[string]string{s3ecKeyV2: keyV2, s3ecKeyV1: keyV1, s3ecIV: iv, s3ecMatDesc: matdesc,
			s3ecWrapAlg: wrap, s3ecCEKAlg: cek, s3ecTagLen: tagLen, s3ecPlainLen: plainLen}
		m, err := parseS3ECMeta(meta)
		if err != nil {
			return
		}
		if len(m.wrapped) == 0 || len(m.iv) == 0 || m.matDesc == nil || m.plainLen < -1 {
			t.Fatalf("accepted %+v", m)
		}
		if m.keyHeader != s3ecKeyV2 && m.keyHeader != s3ecKeyV1 {
			t.Fatalf("key header %q", m.keyHeader)
		}
		_ = m.legacy()
		_ = m.describe()
	})
}

// FuzzParseInstructionFile: an instruction file is as untrusted as the
// object.
func FuzzParseInstructionFile(f *testing.F) {
	f.Add([]byte(`{"x-amz-key-v2":"AQID","x-amz-iv":"AAEC","x-amz-matdesc":"{}","x-amz-wrap-alg":"kms","x-amz-cek-alg":"AES/CBC/PKCS5Padding","x-amz-unencrypted-content-length":12}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseInstructionFile(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > 4*len(b)+16 {
			t.Fatalf("grew from %d to %d bytes", len(b), len(out))
		}
	})
}

// FuzzUnpadPKCS7: the padding check of legacy CBC content.
func FuzzUnpadPKCS7(f *testing.F) {
	f.Add(bytes.Repeat([]byte{16}, 16))
	f.Add(append(bytes.Repeat([]byte{'a'}, 13), 3, 3, 3))
	f.Add(append(bytes.Repeat([]byte{'a'}, 15), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ok := unpadPKCS7(b)
		if !ok {
			return
		}
		p := len(b) - n
		if p < 1 || p > 16 || len(b)%16 != 0 {
			t.Fatalf("accepted padding %d of %d bytes", p, len(b))
		}
		for _, c := range b[n:] {
			if int(c) != p {
				t.Fatalf("padding byte %d, want %d", c, p)
			}
		}
	})
}
