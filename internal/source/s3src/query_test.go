package s3src

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/source"
)

func TestParseQueryVersionKeepsPlus(t *testing.T) {
	for ref, want := range map[string]string{
		"s3://b/k?version=3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY&kms=k":             "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
		"s3://b/k?kms=k&version=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY#FIELD":     "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
		"s3://b/k?version=a%2Fb%3D%26":                                         "a/b=&",
		"s3://b/k?version=" + PinValue("odd id+with=&#%") + "&kms=k":           "odd id+with=&#%",
		"s3://b/k?version=" + PinValue("Uo.6rq_vdmCi2W3Qx+FGg/n3Qy9RA==") + "": "Uo.6rq_vdmCi2W3Qx+FGg/n3Qy9RA==",
	} {
		r, err := source.ParseRef(ref)
		if err != nil {
			t.Fatal(err)
		}
		q, err := parseQuery(r)
		if err != nil || q.version != want {
			t.Errorf("%s: version %q %v, want %q", ref, q.version, err, want)
		}
	}
	if got := PinValue("abc+def/ghi"); got != "abc+def/ghi" {
		t.Errorf("PinValue changed a plain version ID: %q", got)
	}
}

func TestParseQueryOptions(t *testing.T) {
	ok := map[string]query{
		"s3://b/p/?blobs&bind=strict&raw&kms=k": {allow: []string{"k"}, blobs: true, strict: true, raw: true},
		"s3://b/k?legacy&instruction&kms=k":     {allow: []string{"k"}, legacy: true, instruction: true},
	}
	for ref, want := range ok {
		r, _ := source.ParseRef(ref)
		q, err := parseQuery(r)
		if err != nil || q.blobs != want.blobs || q.strict != want.strict || q.raw != want.raw || q.legacy != want.legacy ||
			q.instruction != want.instruction || strings.Join(q.allow, ",") != strings.Join(want.allow, ",") {
			t.Errorf("%s: %+v %v", ref, q, err)
		}
	}
	for _, ref := range []string{
		"s3://b/k?bogus", "s3://b/k?version=", "s3://b/k?version=1&version=2", "s3://b/p/?blobs&version=1",
		"s3://b/k?bind=strict", "s3://b/k?raw", "s3://b/p/?blobs&bind=loose", "s3://b/p/?blobs&legacy",
		"s3://b/k?legacy=yes", "s3://b/k?version=%zz",
	} {
		r, err := source.ParseRef(ref)
		if err != nil {
			continue
		}
		if q, err := parseQuery(r); err == nil {
			t.Errorf("%s accepted: %+v", ref, q)
		}
	}
}

func TestUnavailableMatchesRetry(t *testing.T) {
	err := mark(ErrUnavailable, errors.New("get s3://b/k: connection refused"))
	if !errors.Is(err, retry.ErrUnavailable) || !errors.Is(err, ErrUnavailable) || !retry.Unavailable(err) {
		t.Fatalf("%v does not match both markers", err)
	}
	if errors.Is(mark(ErrRefused, errors.New("x")), retry.ErrUnavailable) {
		t.Fatal("a refusal is marked temporary")
	}
}

func TestHintFollowsTheCause(t *testing.T) {
	for code, want := range map[string]string{
		"IncorrectKeyException":      "another KMS key",
		"InvalidCiphertextException": "modified",
		"AccessDeniedException":      "AWS identity",
	} {
		err := awsError("KMS decrypt s3://b/k", &smithy.GenericAPIError{Code: code})
		if h := Hint(err); !strings.Contains(h, want) {
			t.Errorf("%s: hint %q, want %q", code, h, want)
		}
	}
}
