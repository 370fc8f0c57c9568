package s3src

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/keyturn/keyturn/envelope"
	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/source"
)

// Kinds of failure, for errors.Is. See the package documentation.
var (
	ErrRefused     = errors.New("refused")
	ErrUnavailable = errors.New("S3 or KMS unavailable")
	ErrConflict    = errors.New("conflict")
	ErrCorrupt     = errors.New("corrupt object")
	ErrUnsupported = errors.New("unsupported object format")
)

// kindError gives err a kind without changing its message.
type kindError struct{ kind, err error }

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() []error {
	if e.kind == ErrUnavailable {
		// retry.ErrUnavailable is what every caller's retry loop waits
		// out; ErrUnavailable stays for callers that name this package.
		return []error{e.err, e.kind, retry.ErrUnavailable}
	}
	return []error{e.err, e.kind}
}

// APIError is an error answer from S3 or KMS, reduced to what a person
// and a program need: which call, the API's error code and message. It
// never holds request bodies, so never plaintext or keys.
type APIError struct {
	What    string // "get s3://b/k", "KMS decrypt s3://b/k", ...
	Code    string // "AccessDenied", "IncorrectKeyException", ...
	Message string
	Status  int // HTTP status, 0 if unknown
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return e.What + ": " + e.Code
	}
	return e.What + ": " + e.Code + ": " + e.Message
}

func mark(kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: kind, err: err}
}

// envelopeError gives the envelope package's errors their kinds: a
// changed byte, a moved object or a key outside the allow-list is a
// refusal; an envelope that does not parse is corrupt.
func envelopeError(err error) error {
	switch {
	case errors.Is(err, envelope.ErrAuthentication), errors.Is(err, envelope.ErrKeyNotAllowed),
		errors.Is(err, envelope.ErrObjectMismatch):
		return mark(ErrRefused, err)
	case errors.Is(err, envelope.ErrInvalidAllowList):
		return err
	case errors.Is(err, envelope.ErrUnsupportedVersion):
		return mark(ErrUnsupported, err)
	}
	return mark(ErrCorrupt, err)
}

// awsError turns an SDK error into a short message with a kind. The SDK's
// own text ("operation error S3: GetObject, https response error
// StatusCode: 403, RequestID: ...") is kept only where there is no API
// error code to say it better.
func awsError(what string, err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		status := 0
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			status = re.HTTPStatusCode()
		}
		msg := &APIError{What: what, Code: ae.ErrorCode(), Message: ae.ErrorMessage(), Status: status}
		if kind := apiKind(ae.ErrorCode(), status); kind != nil {
			return mark(kind, msg)
		}
		return error(msg)
	}
	var se *smithyhttp.RequestSendError
	if errors.As(err, &se) || errors.Is(err, context.DeadlineExceeded) {
		return mark(ErrUnavailable, fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

func apiKind(code string, status int) error {
	switch code {
	case "AccessDenied", "AccessDeniedException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
		"InvalidSignatureException", "UnrecognizedClientException", "ExpiredToken", "ExpiredTokenException",
		"InvalidToken", "IncorrectKeyException", "InvalidCiphertextException", "AllAccessDisabled":
		return ErrRefused
	case "NoSuchKey", "NoSuchBucket", "NoSuchVersion":
		return source.ErrNotFound
	case "PreconditionFailed", "ConditionalRequestConflict":
		return ErrConflict
	case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "ThrottlingException",
		"KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException":
		return ErrUnavailable
	}
	switch {
	case status == http.StatusForbidden:
		return ErrRefused
	case status == http.StatusPreconditionFailed:
		return ErrConflict
	case status >= 500:
		return ErrUnavailable
	case status == http.StatusNotFound && code == "NotFound":
		// HeadObject has no body, so S3 can only say "NotFound".
		return source.ErrNotFound
	}
	return nil
}

// Hint returns a suggestion for a person reading err, or "". It never
// repeats anything secret: err's message holds none.
func Hint(err error) string {
	switch {
	case errors.Is(err, errNoAllowList):
		return "name the KMS key the object is encrypted under: prestart -secrets 's3://BUCKET/KEY?kms=KEY', s3kms -kms-key KEY"
	case errors.Is(err, envelope.ErrKeyNotAllowed):
		return "the object is not encrypted under an allowed KMS key: if the key was changed on purpose, allow the new one; otherwise someone who can write the bucket replaced the object"
	case errors.Is(err, errS3ECMoved):
		return "the S3 Encryption Client object was encrypted for another object and copied here; write it again under this name, or convert the original with s3kms migrate"
	case errors.Is(err, envelope.ErrObjectMismatch):
		return "the envelope was sealed for another object and copied here; an envelope must be re-sealed to move (s3kms pull, then s3kms push)"
	case errors.Is(err, errBindMismatch):
		return "the blob was encrypted for another object and copied here; encrypt it again for this name (s3kms put-blob)"
	case errors.Is(err, errUnbound):
		return "re-encrypt the blob bound to its object: s3kms put-blob, or aws kms encrypt --encryption-context (docs/s3.md)"
	case errors.Is(err, envelope.ErrAuthentication):
		return "the object was modified after it was encrypted; restore a good version (s3kms versions, s3kms rollback)"
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case "IncorrectKeyException":
			return "the ciphertext was made under another KMS key than the one ?kms= allows: if the key was changed on purpose, allow the new one; otherwise someone replaced the object"
		case "InvalidCiphertextException":
			return "KMS cannot decrypt it under this key and encryption context: the ciphertext was modified, or made for another object and copied here; restore a good version (s3kms versions, s3kms rollback)"
		case "NotFoundException":
			return "the KMS key does not exist in this account and region; check the key ID or alias and AWS_REGION"
		case "DisabledException", "KMSInvalidStateException":
			return "the KMS key is disabled or pending deletion; enable it or allow the key that replaced it"
		}
	}
	switch {
	case errors.Is(err, ErrRefused):
		return "the AWS identity in use may not do this; check its IAM and key policies"
	case errors.Is(err, ErrUnavailable):
		return "check the network, AWS_REGION and any endpoint override (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_KMS)"
	case errors.Is(err, ErrConflict):
		return "someone else changed the object at the same time; run the command again to apply the change on top of theirs"
	case errors.Is(err, ErrCorrupt):
		return "the object is damaged or not an env file; restore a good version (s3kms versions, s3kms rollback)"
	}
	return ""
}
