package envelope

import (
	"context"
	"errors"
	"testing"
)

func TestParseKeyARN(t *testing.T) {
	k, err := ParseKeyARN(testARN)
	if err != nil {
		t.Fatal(err)
	}
	want := KeyARN{Partition: "aws", Region: "us-east-1", Account: "111122223333", KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab"}
	if k != want || k.String() != testARN {
		t.Fatalf("got %+v", k)
	}
	if _, err := ParseKeyARN("arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"); err != nil {
		t.Fatalf("multi-Region key in GovCloud: %v", err)
	}
	for _, bad := range []string{
		"", "1234abcd", "alias/app", "arn:aws:kms:us-east-1:111122223333:alias/app",
		"arn:aws:s3:::bucket", "arn:aws:kms:us-east-1:1111:key/abc", "arn:aws:kms:US-EAST-1:111122223333:key/abc",
		"arn:aws:kms:us-east-1:111122223333:key/", "arn:aws:kms:us-east-1:111122223333:key/a:b",
		"arn:aws:kms:us-east-1:111122223333:key/a/b", "arn::kms:us-east-1:111122223333:key/abc",
	} {
		if _, err := ParseKeyARN(bad); err == nil {
			t.Errorf("ParseKeyARN(%q) accepted", bad)
		}
	}
}

func TestCheckKeyAllowed(t *testing.T) {
	const (
		keyID     = "1234abcd-12ab-34cd-56ef-1234567890ab"
		otherARN  = "arn:aws:kms:us-east-1:111122223333:key/99999999-12ab-34cd-56ef-1234567890ab"
		aliasARN  = "arn:aws:kms:us-east-1:111122223333:alias/app-prod"
		foreignAl = "arn:aws:kms:eu-west-1:111122223333:alias/app-prod"
	)
	aliases := map[string]string{"alias/app-prod": testARN, aliasARN: testARN, "alias/app-dev": otherARN}
	var calls []string
	resolve := func(_ context.Context, alias string) (string, error) {
		calls = append(calls, alias)
		arn, ok := aliases[alias]
		if !ok {
			return "", errors.New("alias not found")
		}
		return arn, nil
	}
	cases := []struct {
		name      string
		allow     []string
		want      error // nil means allowed
		wantCalls int
	}{
		{"key ARN", []string{testARN}, nil, 0},
		{"key ID", []string{keyID}, nil, 0},
		{"alias name", []string{"alias/app-prod"}, nil, 1},
		{"alias ARN", []string{aliasARN}, nil, 1},
		{"direct match first", []string{"alias/app-dev", testARN}, nil, 0},
		{"other key ARN", []string{otherARN}, ErrKeyNotAllowed, 0},
		{"other key ID", []string{"99999999-12ab-34cd-56ef-1234567890ab"}, ErrKeyNotAllowed, 0},
		{"same ID other region", []string{"arn:aws:kms:eu-west-1:111122223333:key/" + keyID}, ErrKeyNotAllowed, 0},
		{"same ID other account", []string{"arn:aws:kms:us-east-1:444455556666:key/" + keyID}, ErrKeyNotAllowed, 0},
		{"alias to other key", []string{"alias/app-dev"}, ErrKeyNotAllowed, 1},
		{"alias ARN other region skipped", []string{foreignAl}, ErrKeyNotAllowed, 0},
		{"empty list", nil, ErrKeyNotAllowed, 0},
		{"case differs", []string{"1234ABCD-12ab-34cd-56ef-1234567890ab"}, ErrKeyNotAllowed, 0},
		{"malformed entry fails closed", []string{testARN, "arn:aws:s3:::bucket"}, ErrInvalidAllowList, 0},
		{"bad alias", []string{"alias/"}, ErrInvalidAllowList, 0},
		{"bad key ID", []string{"key id with spaces"}, ErrInvalidAllowList, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls = nil
			err := CheckKeyAllowed(context.Background(), testARN, c.allow, resolve)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if len(calls) != c.wantCalls {
				t.Fatalf("resolver called %d times (%v), want %d", len(calls), calls, c.wantCalls)
			}
		})
	}
}

func TestCheckKeyAllowedResolverEdges(t *testing.T) {
	ctx := context.Background()
	if err := CheckKeyAllowed(ctx, testARN, []string{"alias/app-prod"}, nil); !errors.Is(err, ErrKeyNotAllowed) {
		t.Fatalf("nil resolver: %v", err)
	}
	boom := errors.New("kms unavailable")
	err := CheckKeyAllowed(ctx, testARN, []string{"alias/app-prod"}, func(context.Context, string) (string, error) { return "", boom })
	if !errors.Is(err, boom) || errors.Is(err, ErrKeyNotAllowed) {
		t.Fatalf("resolver failure: %v", err)
	}
	// A resolver answering with a key ID rather than an ARN does not match.
	err = CheckKeyAllowed(ctx, testARN, []string{"alias/app-prod"}, func(context.Context, string) (string, error) {
		return "1234abcd-12ab-34cd-56ef-1234567890ab", nil
	})
	if !errors.Is(err, ErrKeyNotAllowed) {
		t.Fatalf("resolver returning a key ID: %v", err)
	}
	if err := CheckKeyAllowed(ctx, "alias/app-prod", []string{"alias/app-prod"}, nil); !errors.Is(err, ErrKeyNotAllowed) {
		t.Fatalf("alias as header key: %v", err)
	}
}

func TestValidateAllowList(t *testing.T) {
	good := []string{testARN, "1234abcd-12ab-34cd-56ef-1234567890ab", "alias/app-prod", "alias/team/app_1", "arn:aws:kms:us-east-1:111122223333:alias/x"}
	if err := ValidateAllowList(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "alias/", "alias/a b", "arn:aws:kms:us-east-1:111122223333:grant/x", "s3://b/k"} {
		if err := ValidateAllowList([]string{bad}); !errors.Is(err, ErrInvalidAllowList) {
			t.Errorf("ValidateAllowList(%q) = %v", bad, err)
		}
	}
}
