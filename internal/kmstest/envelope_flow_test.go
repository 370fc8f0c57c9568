package kmstest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/keyturn/keyturn/envelope"
	"github.com/keyturn/keyturn/internal/kmstest"
)

// The envelope package is pure; this test runs its documented read and
// write sequence against the KMS server, as keyturn's S3 backend will.

func sealFor(t *testing.T, c *kms.Client, keyRef, objectURI, plaintext string) []byte {
	t.Helper()
	ctx := map[string]string{envelope.ObjectContextKey: objectURI}
	dk, err := c.GenerateDataKey(context.Background(), &kms.GenerateDataKeyInput{
		KeyId: aws.String(keyRef), KeySpec: types.DataKeySpecAes256, EncryptionContext: ctx,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := envelope.Seal(envelope.Header{KeyARN: aws.ToString(dk.KeyId), Context: ctx, EncryptedDataKey: dk.CiphertextBlob}, dk.Plaintext, []byte(plaintext))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// open is the reader's sequence: parse, allow-list, object check, one KMS
// Decrypt, open.
func open(c *kms.Client, b []byte, objectURI string, allow []string) ([]byte, error) {
	ctx := context.Background()
	env, err := envelope.Parse(b)
	if err != nil {
		return nil, err
	}
	resolve := func(ctx context.Context, alias string) (string, error) {
		out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.KeyMetadata.Arn), nil
	}
	if err := envelope.CheckKeyAllowed(ctx, env.KeyARN, allow, resolve); err != nil {
		return nil, err
	}
	encCtx, err := env.DecryptContext(objectURI)
	if err != nil {
		return nil, err
	}
	dk, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: env.EncryptedDataKey, EncryptionContext: encCtx, KeyId: aws.String(env.KeyARN)})
	if err != nil {
		return nil, err
	}
	return envelope.Open(env, dk.Plaintext)
}

func TestEnvelopeFlow(t *testing.T) {
	s := kmstest.Start(t)
	prod := s.AddKey(kmstest.KeySpec{Aliases: []string{"alias/app-prod"}})
	s.AddKey(kmstest.KeySpec{Aliases: []string{"alias/attacker"}})
	c := s.Client("AKIDOPS")
	const obj = "s3://secrets/app/prod.env"
	b := sealFor(t, c, "alias/app-prod", obj, "A=1\nB=2\n")

	s.ResetCalls()
	pt, err := open(c, b, obj, []string{prod.ARN})
	if err != nil || string(pt) != "A=1\nB=2\n" {
		t.Fatalf("open: %q, %v", pt, err)
	}
	if got := s.AllCalls(); s.TotalCalls() != 1 || got["Decrypt"] != 1 {
		t.Fatalf("a read with a key ARN allow-list made KMS calls %v, want one Decrypt", got)
	}

	s.ResetCalls()
	if _, err := open(c, b, obj, []string{"alias/app-prod"}); err != nil {
		t.Fatalf("alias allow-list: %v", err)
	}
	if got := s.AllCalls(); got["DescribeKey"] != 1 || got["Decrypt"] != 1 {
		t.Fatalf("alias allow-list calls %v, want DescribeKey and Decrypt once each", got)
	}

	t.Run("substituted key refused before KMS", func(t *testing.T) {
		forged := sealFor(t, c, "alias/attacker", obj, "A=evil\n")
		s.ResetCalls()
		_, err := open(c, forged, obj, []string{prod.ARN})
		if !errors.Is(err, envelope.ErrKeyNotAllowed) {
			t.Fatalf("got %v, want ErrKeyNotAllowed", err)
		}
		if s.Calls("Decrypt") != 0 {
			t.Fatal("Decrypt was called for a key outside the allow-list")
		}
	})

	t.Run("copied envelope refused", func(t *testing.T) {
		if _, err := open(c, b, "s3://secrets/app/dev.env", []string{prod.ARN}); !errors.Is(err, envelope.ErrObjectMismatch) {
			t.Fatalf("got %v, want ErrObjectMismatch", err)
		}
		// Even a reader that skipped the check but took the object from
		// where it read is refused by KMS.
		env, _ := envelope.Parse(b)
		_, err := c.Decrypt(context.Background(), &kms.DecryptInput{
			CiphertextBlob:    env.EncryptedDataKey,
			EncryptionContext: map[string]string{envelope.ObjectContextKey: "s3://secrets/app/dev.env"},
		})
		var ice *types.InvalidCiphertextException
		if !errors.As(err, &ice) {
			t.Fatalf("KMS Decrypt under the copy's context: %v", err)
		}
	})

	t.Run("flipped byte refused", func(t *testing.T) {
		for _, i := range []int{20, len(b) / 2, len(b) - 1} {
			c2 := append([]byte(nil), b...)
			c2[i] ^= 1
			if _, err := open(c, c2, obj, []string{prod.ARN}); err == nil {
				t.Fatalf("byte %d flipped: accepted", i)
			}
		}
	})
}
