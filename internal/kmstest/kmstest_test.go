package kmstest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

var bg = context.Background()

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestEncryptDecrypt(t *testing.T) {
	s := Start(t)
	k := s.AddKey(KeySpec{Aliases: []string{"alias/app-dev"}})
	c := s.Client("AKIDOPS")
	ctx := map[string]string{"keyturn:object": "s3://b/k", "env": "dev"}

	enc, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String("alias/app-dev"), Plaintext: []byte("orange1"), EncryptionContext: ctx})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(enc.KeyId) != k.ARN || enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatalf("Encrypt KeyId = %s, algorithm %s", aws.ToString(enc.KeyId), enc.EncryptionAlgorithm)
	}
	if bytes.Contains(enc.CiphertextBlob, []byte("orange1")) {
		t.Fatal("blob contains the plaintext")
	}
	// No KeyId: the blob names its key, as in AWS. Context order is irrelevant.
	dec, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"env": "dev", "keyturn:object": "s3://b/k"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(dec.Plaintext) != "orange1" || aws.ToString(dec.KeyId) != k.ARN {
		t.Fatalf("Decrypt = %q under %s", dec.Plaintext, aws.ToString(dec.KeyId))
	}
	// Every form of naming the right key is accepted.
	for _, ref := range []string{k.ID, k.ARN, "alias/app-dev", "arn:aws:kms:us-east-1:111122223333:alias/app-dev"} {
		if _, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx, KeyId: aws.String(ref)}); err != nil {
			t.Errorf("Decrypt with KeyId %s: %v", ref, err)
		}
	}
	if got := s.Calls("Decrypt"); got != 5 {
		t.Fatalf("Decrypt calls = %d, want 5", got)
	}
	if got := s.Calls("Encrypt"); got != 1 {
		t.Fatalf("Encrypt calls = %d, want 1", got)
	}
}

func TestGenerateDataKey(t *testing.T) {
	s := Start(t)
	k := s.AddKey(KeySpec{})
	c := s.Client("AKID")
	ctx := map[string]string{"keyturn:object": "s3://b/k"}
	out, err := c.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(k.ID), KeySpec: types.DataKeySpecAes256, EncryptionContext: ctx})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Plaintext) != 32 || aws.ToString(out.KeyId) != k.ARN {
		t.Fatalf("data key of %d bytes under %s", len(out.Plaintext), aws.ToString(out.KeyId))
	}
	dec, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ctx})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec.Plaintext, out.Plaintext) {
		t.Fatal("decrypted data key differs")
	}
	n, err := c.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(k.ID), NumberOfBytes: aws.Int32(7)})
	if err != nil || len(n.Plaintext) != 7 {
		t.Fatalf("NumberOfBytes 7: %v", err)
	}
	for name, in := range map[string]*kms.GenerateDataKeyInput{
		"neither": {KeyId: aws.String(k.ID)},
		"both":    {KeyId: aws.String(k.ID), KeySpec: types.DataKeySpecAes128, NumberOfBytes: aws.Int32(16)},
		"zero":    {KeyId: aws.String(k.ID), NumberOfBytes: aws.Int32(0)},
	} {
		if _, err := c.GenerateDataKey(bg, in); errorCode(err) != "ValidationException" {
			t.Errorf("%s: got %v, want ValidationException", name, err)
		}
	}
}

func TestContextMismatch(t *testing.T) {
	s := Start(t)
	k := s.AddKey(KeySpec{})
	c := s.Client("AKID")
	enc, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(k.ARN), Plaintext: []byte("x"), EncryptionContext: map[string]string{"keyturn:object": "s3://b/a"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, ctx := range map[string]map[string]string{
		"other object": {"keyturn:object": "s3://b/b"},
		"missing":      nil,
		"extra entry":  {"keyturn:object": "s3://b/a", "x": "y"},
	} {
		_, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx})
		var ice *types.InvalidCiphertextException
		if !errors.As(err, &ice) {
			t.Errorf("%s: got %v, want *types.InvalidCiphertextException", name, err)
		}
	}
}

func TestTamperedBlob(t *testing.T) {
	s := Start(t)
	k := s.AddKey(KeySpec{})
	c := s.Client("AKID")
	enc, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(k.ID), Plaintext: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range enc.CiphertextBlob {
		b := bytes.Clone(enc.CiphertextBlob)
		b[i] ^= 0x01
		_, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: b})
		var ice *types.InvalidCiphertextException
		if !errors.As(err, &ice) {
			t.Fatalf("byte %d flipped: got %v, want InvalidCiphertextException", i, err)
		}
	}
	for _, b := range [][]byte{{1}, []byte("not a blob at all, just some bytes")} {
		if _, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: b}); errorCode(err) != "InvalidCiphertextException" {
			t.Fatalf("garbage blob: %v", err)
		}
	}
}

func TestIncorrectKey(t *testing.T) {
	s := Start(t)
	a := s.AddKey(KeySpec{Aliases: []string{"alias/a"}})
	s.AddKey(KeySpec{Aliases: []string{"alias/b"}})
	c := s.Client("AKID")
	enc, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(a.ID), Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: aws.String("alias/b")})
	var ike *types.IncorrectKeyException
	if !errors.As(err, &ike) {
		t.Fatalf("got %v, want *types.IncorrectKeyException", err)
	}
	_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: aws.String("alias/missing")})
	var nfe *types.NotFoundException
	if !errors.As(err, &nfe) {
		t.Fatalf("got %v, want *types.NotFoundException", err)
	}
}

func TestAccessDenied(t *testing.T) {
	s := Start(t)
	// Seed 004: operators encrypt, the service may only decrypt.
	k := s.AddKey(KeySpec{Aliases: []string{"alias/svc"}, Allow: map[string][]string{
		"AKIDOPS": {"*"},
		"AKIDSVC": {"Decrypt"},
	}})
	ops, svc, other := s.Client("AKIDOPS"), s.Client("AKIDSVC"), s.Client("AKIDOTHER")
	enc, err := ops.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String("alias/svc"), Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatalf("service Decrypt: %v", err)
	}
	checks := map[string]error{}
	_, checks["svc Encrypt"] = svc.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(k.ARN), Plaintext: []byte("x")})
	_, checks["svc GenerateDataKey"] = svc.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(k.ARN), KeySpec: types.DataKeySpecAes256})
	_, checks["svc DescribeKey"] = svc.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(k.ID)})
	_, checks["other Decrypt"] = other.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	// KMS does not model AccessDeniedException, so the SDK returns a
	// smithy.APIError carrying the code, as it does against AWS.
	for name, err := range checks {
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
			t.Errorf("%s: got %v, want AccessDeniedException", name, err)
		} else if !strings.Contains(ae.ErrorMessage(), k.ARN) {
			t.Errorf("%s: message %q does not name the key", name, ae.ErrorMessage())
		}
	}
}

func TestDescribeKeyAndAliases(t *testing.T) {
	s := Start(t, WithRegion("eu-west-1"), WithAccount("444455556666"))
	k := s.AddKey(KeySpec{Description: "app dev", Aliases: []string{"alias/app-dev"}})
	c := s.Client("AKID")
	for _, ref := range []string{k.ID, k.ARN, "alias/app-dev", "arn:aws:kms:eu-west-1:444455556666:alias/app-dev"} {
		out, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
		if err != nil {
			t.Fatalf("DescribeKey(%s): %v", ref, err)
		}
		m := out.KeyMetadata
		if aws.ToString(m.Arn) != k.ARN || aws.ToString(m.KeyId) != k.ID || aws.ToString(m.AWSAccountId) != "444455556666" ||
			!m.Enabled || m.KeyState != types.KeyStateEnabled || m.KeyUsage != types.KeyUsageTypeEncryptDecrypt ||
			aws.ToString(m.Description) != "app dev" || m.CreationDate == nil || m.CreationDate.IsZero() {
			t.Fatalf("DescribeKey(%s) = %+v", ref, m)
		}
	}
	if !strings.HasPrefix(k.ARN, "arn:aws:kms:eu-west-1:444455556666:key/") {
		t.Fatalf("ARN %s", k.ARN)
	}
	for _, ref := range []string{"alias/nope", "arn:aws:kms:us-east-1:444455556666:key/" + k.ID, "00000000-0000-4000-8000-000000000000", "arn:aws:kms:eu-west-1:444455556666:alias/nope"} {
		if _, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(ref)}); errorCode(err) != "NotFoundException" {
			t.Errorf("DescribeKey(%s): got %v, want NotFoundException", ref, err)
		}
	}

	// CreateKey, CreateAlias, UpdateAlias and paging through ListAliases.
	ck, err := c.CreateKey(bg, &kms.CreateKeyInput{Description: aws.String("created")})
	if err != nil {
		t.Fatal(err)
	}
	newID := aws.ToString(ck.KeyMetadata.KeyId)
	for _, name := range []string{"alias/a", "alias/b", "alias/c"} {
		if _, err := c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(newID)}); err != nil {
			t.Fatalf("CreateAlias(%s): %v", name, err)
		}
	}
	_, err = c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/a"), TargetKeyId: aws.String(k.ID)})
	var aee *types.AlreadyExistsException
	if !errors.As(err, &aee) {
		t.Fatalf("duplicate alias: %v", err)
	}
	if _, err := c.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/c"), TargetKeyId: aws.String(k.ARN)}); err != nil {
		t.Fatal(err)
	}
	var names []string
	var pages int
	p := kms.NewListAliasesPaginator(c, &kms.ListAliasesInput{Limit: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range out.Aliases {
			names = append(names, aws.ToString(a.AliasName))
			want := newID
			if name := aws.ToString(a.AliasName); name == "alias/app-dev" || name == "alias/c" {
				want = k.ID
			}
			if aws.ToString(a.TargetKeyId) != want || aws.ToString(a.AliasArn) != "arn:aws:kms:eu-west-1:444455556666:"+aws.ToString(a.AliasName) {
				t.Errorf("alias entry %+v", a)
			}
		}
	}
	if strings.Join(names, " ") != "alias/a alias/app-dev alias/b alias/c" || pages != 2 {
		t.Fatalf("aliases %v in %d pages", names, pages)
	}
	out, err := c.ListAliases(bg, &kms.ListAliasesInput{KeyId: aws.String(k.ARN)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Aliases) != 2 || out.Truncated {
		t.Fatalf("aliases of %s: %+v", k.ID, out.Aliases)
	}
	got, err := s.Key("alias/c")
	if err != nil || got.ID != k.ID || strings.Join(got.Aliases, " ") != "alias/app-dev alias/c" {
		t.Fatalf("Key(alias/c) = %+v, %v", got, err)
	}
}

func TestDisabledKey(t *testing.T) {
	s := Start(t)
	k := s.AddKey(KeySpec{})
	c := s.Client("AKID")
	enc, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(k.ID), Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetEnabled(k.ARN, false); err != nil {
		t.Fatal(err)
	}
	_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	var de *types.DisabledException
	if !errors.As(err, &de) {
		t.Fatalf("got %v, want DisabledException", err)
	}
	out, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(k.ID)})
	if err != nil || out.KeyMetadata.KeyState != types.KeyStateDisabled {
		t.Fatalf("DescribeKey of a disabled key: %v", err)
	}
}

func TestDryRun(t *testing.T) {
	s := Start(t)
	k := s.AddKey(KeySpec{})
	_, err := s.Client("AKID").Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(k.ID), Plaintext: []byte("x"), DryRun: aws.Bool(true)})
	var dre *types.DryRunOperationException
	if !errors.As(err, &dre) {
		t.Fatalf("got %v, want DryRunOperationException", err)
	}
}

func TestWrongRegionRefused(t *testing.T) {
	s := Start(t)
	k := s.AddKey(KeySpec{})
	cfg := s.Config("AKID")
	cfg.Region = "us-west-2"
	_, err := kms.NewFromConfig(cfg).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(k.ID)})
	if errorCode(err) != "InvalidSignatureException" {
		t.Fatalf("got %v, want InvalidSignatureException", err)
	}
}

// TestWire checks the raw protocol details the SDK does not show.
func TestWire(t *testing.T) {
	s := Start(t)
	post := func(target, auth, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Errorf("Content-Type %q", ct)
		}
		return resp.StatusCode, string(b)
	}
	const auth = "AWS4-HMAC-SHA256 Credential=AKIDRAW/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00"
	cases := []struct{ target, auth, body, want string }{
		{"TrentService.Sign", auth, "{}", `"__type":"UnknownOperationException"`},
		{"", auth, "{}", `"__type":"UnknownOperationException"`},
		{"TrentService.ListAliases", "", "{}", `"__type":"MissingAuthenticationTokenException"`},
		{"TrentService.ListAliases", "AWS4-HMAC-SHA256 Signature=00", "{}", `"__type":"IncompleteSignatureException"`},
		{"TrentService.ListAliases", auth, "{", `"__type":"SerializationException"`},
		{"TrentService.Encrypt", auth, `{"Plaintext":"eA=="}`, `"__type":"ValidationException"`},
	}
	for _, c := range cases {
		code, body := post(c.target, c.auth, c.body)
		if code != http.StatusBadRequest || !strings.Contains(body, c.want) || !strings.Contains(body, `"message":`) {
			t.Errorf("%s: %d %s, want 400 with %s", c.target, code, body, c.want)
		}
	}
	if code, body := post("TrentService.ListAliases", auth, "{}"); code != 200 || body != `{"Aliases":[],"Truncated":false}` {
		t.Errorf("ListAliases: %d %s", code, body)
	}
	if got := s.Calls("Sign"); got != 1 {
		t.Errorf("unknown operations are counted too: Sign = %d", got)
	}
	s.ResetCalls()
	if s.TotalCalls() != 0 {
		t.Error("ResetCalls left counts")
	}
}

func TestCreateKeySpecErrors(t *testing.T) {
	h := NewHandler()
	if _, err := h.CreateKey(KeySpec{ID: "k1", Aliases: []string{"alias/x"}}); err != nil {
		t.Fatal(err)
	}
	for name, spec := range map[string]KeySpec{
		"duplicate ID":    {ID: "k1"},
		"duplicate alias": {Aliases: []string{"alias/x"}},
		"bad alias":       {Aliases: []string{"x"}},
		"reserved alias":  {Aliases: []string{"alias/aws/s3"}},
		"short material":  {Material: make([]byte, 16)},
		"bad ID":          {ID: "a/b"},
		"unknown op":      {Allow: map[string][]string{"AKID": {"kms:Decrypt"}}},
	} {
		if _, err := h.CreateKey(spec); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if len(h.Keys()) != 1 {
		t.Fatalf("failed creations left keys: %+v", h.Keys())
	}
}

func TestFixedMaterialIsStable(t *testing.T) {
	material := bytes.Repeat([]byte{7}, 32)
	a := Start(t)
	a.AddKey(KeySpec{ID: "fixed", Material: material})
	enc, err := a.Client("AKID").Encrypt(bg, &kms.EncryptInput{KeyId: aws.String("fixed"), Plaintext: []byte("persisted")})
	if err != nil {
		t.Fatal(err)
	}
	b := Start(t)
	b.AddKey(KeySpec{ID: "fixed", Material: material})
	dec, err := b.Client("AKID").Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "persisted" {
		t.Fatalf("a second server with the same material: %v", err)
	}
}
