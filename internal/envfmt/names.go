package envfmt

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrEmptyName is returned when a name sanitises to nothing.
var ErrEmptyName = errors.New("empty variable name")

// SanitizeName maps s onto [A-Z0-9_] as described in the package
// documentation: ASCII letters upper-cased, anything else outside [A-Z0-9_]
// replaced by "_", a leading digit prefixed with "_". The result is always a
// valid shell identifier. An empty s is ErrEmptyName.
func SanitizeName(s string) (string, error) {
	if s == "" {
		return "", ErrEmptyName
	}
	var b strings.Builder
	b.Grow(len(s) + 1)
	if s[0] >= '0' && s[0] <= '9' {
		b.WriteByte('_')
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
			b.WriteByte(c)
		default:
			// One "_" per character, not per byte, so "é" is "_" rather than
			// "__"; an invalid byte counts as one character.
			_, size := utf8.DecodeRuneInString(s[i:])
			b.WriteByte('_')
			i += size
			continue
		}
		i++
	}
	return b.String(), nil
}

// ValidName reports whether name is a shell identifier: [A-Za-z_][A-Za-z0-9_]*.
// Only such names can be exported by a shell, so every renderer requires it.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Flatten turns a JSON-like secret into variables as described in the package
// documentation. prefix, if not empty, is the first name segment. Keys of
// nested maps are visited in sorted order so that errors are deterministic.
func Flatten(prefix string, data map[string]any) (map[string]string, error) {
	f := flattener{out: make(map[string]string), from: make(map[string]string)}
	var path []string
	if prefix != "" {
		path = []string{prefix}
	}
	if err := f.mapValue(path, data); err != nil {
		return nil, err
	}
	return f.out, nil
}

type flattener struct {
	out  map[string]string
	from map[string]string // name -> key path that produced it, for conflicts
}

func (f *flattener) mapValue(path []string, m map[string]any) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := f.value(append(path[:len(path):len(path)], k), m[k]); err != nil {
			return err
		}
	}
	return nil
}

func (f *flattener) value(path []string, v any) error {
	switch v := v.(type) {
	case map[string]any:
		return f.mapValue(path, v)
	case []any:
		for i, e := range v {
			if err := f.value(append(path[:len(path):len(path)], strconv.Itoa(i)), e); err != nil {
				return err
			}
		}
		return nil
	}
	s, err := scalar(v)
	if err != nil {
		return fmt.Errorf("flatten key %q: %w", keyPath(path), err)
	}
	name, err := SanitizeName(strings.Join(path, "_"))
	if err != nil {
		return fmt.Errorf("flatten key %q: %w", keyPath(path), err)
	}
	if prev, ok := f.from[name]; ok {
		return &ConflictError{Name: name, First: prev, Second: keyPath(path), Keys: true}
	}
	f.from[name] = keyPath(path)
	f.out[name] = s
	return nil
}

// scalar renders a leaf value. The error never includes the value itself.
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case json.Number:
		return v.String(), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", errors.New("number is not finite")
		}
	case float32:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return "", errors.New("number is not finite")
		}
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
	default:
		return "", fmt.Errorf("unsupported value type %T", v)
	}
	// The remaining cases are numbers: use exactly the text encoding/json
	// would produce, so "as their JSON text" holds for every numeric type.
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode number: %w", err)
	}
	return string(b), nil
}

// keyPath shows a key path the way a user would write it, for messages.
func keyPath(path []string) string {
	return strings.Join(path, ".")
}
