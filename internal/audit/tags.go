package audit

import (
	"fmt"
	"strings"
	"unicode"
)

// MaxTagValue bounds a tag's value: labels, not documents.
const MaxTagValue = 256

// validTagKey is ^[A-Za-z_][A-Za-z0-9_.-]{0,63}$, checked by hand: as a
// package-level regexp its 63 repeats cost every start a third of a
// millisecond to compile, whether or not -audit-tag is used.
func validTagKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// AddTag parses K=V (-audit-tag) into tags. A key is a letter or _ then up
// to 63 letters, digits, _, . or -, what log platforms accept as a field
// name; a value is at most MaxTagValue bytes without control characters;
// a key given twice is an error rather than a silent override.
func AddTag(tags map[string]string, s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("-audit-tag %q: want KEY=VALUE", s)
	}
	if !validTagKey(k) {
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
