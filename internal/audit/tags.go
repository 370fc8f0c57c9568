package audit

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// MaxTagValue bounds a tag's value: labels, not documents.
const MaxTagValue = 256

var tagKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)

// AddTag parses K=V (-audit-tag) into tags. A key is a letter or _ then up
// to 63 letters, digits, _, . or -, what log platforms accept as a field
// name; a value is at most MaxTagValue bytes without control characters;
// a key given twice is an error rather than a silent override.
func AddTag(tags map[string]string, s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("-audit-tag %q: want KEY=VALUE", s)
	}
	if !tagKeyRE.MatchString(k) {
		return fmt.Errorf("-audit-tag %q: key %q: want a letter or _ then up to 63 letters, digits, _, . or -", s, k)
	}
	if len(v) > MaxTagValue {
		return fmt.Errorf("-audit-tag %s: value longer than %d bytes", k, MaxTagValue)
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return fmt.Errorf("-audit-tag %s: value holds a control character", k)
	}
	if _, dup := tags[k]; dup {
		return fmt.Errorf("-audit-tag %s: given twice", k)
	}
	tags[k] = v
	return nil
}
