package s3src

import (
	"fmt"
	"strings"

	"github.com/keyturn/keyturn/envelope"
)

// Object names an S3 object.
type Object struct {
	Bucket, Key string
}

// String returns s3://BUCKET/KEY, the object's identity in an envelope's
// encryption context.
func (o Object) String() string { return envelope.ObjectURI(o.Bucket, o.Key) }

// ParseObject parses s3://BUCKET/KEY.
func ParseObject(uri string) (Object, error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return Object{}, fmt.Errorf("%q is not an s3://BUCKET/KEY URI", uri)
	}
	if strings.ContainsAny(rest, "?#") {
		return Object{}, fmt.Errorf("%q: an object URI takes no ?query or #fragment here", uri)
	}
	return splitPath(rest)
}

// splitPath splits BUCKET/KEY.
func splitPath(p string) (Object, error) {
	bucket, key, _ := strings.Cut(p, "/")
	if bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		return Object{}, fmt.Errorf("s3://%s: want s3://BUCKET/KEY with a bucket and an object key", p)
	}
	return Object{Bucket: bucket, Key: key}, nil
}

// ParseBucket parses s3://BUCKET (a trailing slash is allowed).
func ParseBucket(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	rest = strings.TrimSuffix(rest, "/")
	if !ok || rest == "" || strings.ContainsAny(rest, "/?#") {
		return "", fmt.Errorf("%q is not an s3://BUCKET URI", uri)
	}
	return rest, nil
}
