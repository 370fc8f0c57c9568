package kmstest

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Operations a KeySpec's Allow may grant. "*" grants all of them.
var keyOps = []string{"Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey", "CreateAlias", "UpdateAlias"}

// KeySpec describes a key to create. Every field is optional.
type KeySpec struct {
	// ID is the key ID; a random UUID if empty.
	ID string
	// Material is the 32-byte master key; random if nil. Fixed material
	// lets kms-local decrypt blobs from an earlier run.
	Material []byte
	// Aliases are alias names (alias/NAME) pointing to the key.
	Aliases []string
	// Description is returned by DescribeKey.
	Description string
	// Allow maps a caller's access key ID to the operations it may call
	// on this key (names from Encrypt, Decrypt, GenerateDataKey,
	// DescribeKey, CreateAlias, UpdateAlias, or "*"). Nil allows every
	// caller everything; an empty non-nil map allows no one.
	Allow map[string][]string
}

// Key describes a key without its material.
type Key struct {
	ID          string
	ARN         string
	Aliases     []string
	Description string
	Enabled     bool
	Created     time.Time
}

type key struct {
	id          string
	material    []byte
	description string
	created     time.Time
	enabled     bool
	allow       map[string][]string
}

type alias struct {
	keyID            string
	created, updated time.Time
}

func (h *Handler) keyARN(id string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", h.region, h.account, id)
}

func (h *Handler) aliasARN(name string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:%s", h.region, h.account, name)
}

// CreateKey adds a key. It fails on an invalid spec or a key ID or alias
// that already exists.
func (h *Handler) CreateKey(spec KeySpec) (Key, error) {
	if spec.ID == "" {
		spec.ID = newUUID()
	}
	if !validKeyID(spec.ID) {
		return Key{}, fmt.Errorf("kmstest: invalid key ID %q", spec.ID)
	}
	material := slices.Clone(spec.Material)
	if material == nil {
		material = make([]byte, 32)
		rand.Read(material) // never fails since Go 1.24
	}
	if len(material) != 32 {
		return Key{}, fmt.Errorf("kmstest: key %s: material must be 32 bytes", spec.ID)
	}
	for _, a := range spec.Aliases {
		if err := validAliasName(a); err != nil {
			return Key{}, fmt.Errorf("kmstest: %w", err)
		}
	}
	for caller, ops := range spec.Allow {
		for _, op := range ops {
			if op != "*" && !slices.Contains(keyOps, op) {
				return Key{}, fmt.Errorf("kmstest: key %s: caller %s: unknown operation %q", spec.ID, caller, op)
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.keys[spec.ID]; ok {
		return Key{}, fmt.Errorf("kmstest: key %s already exists", spec.ID)
	}
	for _, a := range spec.Aliases {
		if _, ok := h.aliases[a]; ok {
			return Key{}, fmt.Errorf("kmstest: alias %s already exists", a)
		}
	}
	now := h.now()
	k := &key{id: spec.ID, material: material, description: spec.Description, created: now, enabled: true}
	if spec.Allow != nil {
		k.allow = make(map[string][]string, len(spec.Allow))
		for c, ops := range spec.Allow {
			k.allow[c] = slices.Clone(ops)
		}
	}
	h.keys[k.id] = k
	h.order = append(h.order, k.id)
	for _, a := range spec.Aliases {
		h.aliases[a] = &alias{keyID: k.id, created: now, updated: now}
	}
	return h.describe(k), nil
}

// SetEnabled enables or disables a key (addressed as in the API); a
// disabled key answers DisabledException.
func (h *Handler) SetEnabled(ref string, enabled bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	k, err := h.lookup(ref)
	if err != nil {
		return err
	}
	k.enabled = enabled
	return nil
}

// Key describes the key that ref (key ID, key ARN, alias name or alias
// ARN) names.
func (h *Handler) Key(ref string) (Key, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k, err := h.lookup(ref)
	if err != nil {
		return Key{}, err
	}
	return h.describe(k), nil
}

// Keys describes all keys in creation order.
func (h *Handler) Keys() []Key {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Key, 0, len(h.order))
	for _, id := range h.order {
		out = append(out, h.describe(h.keys[id]))
	}
	return out
}

// describe must be called with h.mu held.
func (h *Handler) describe(k *key) Key {
	var names []string
	for name, a := range h.aliases {
		if a.keyID == k.id {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return Key{ID: k.id, ARN: h.keyARN(k.id), Aliases: names, Description: k.description, Enabled: k.enabled, Created: k.created}
}

// lookup resolves a key reference the way KMS does; it must be called
// with h.mu held. Errors are *apiError NotFoundException.
func (h *Handler) lookup(ref string) (*key, error) {
	name := ref
	if rest, ok := strings.CutPrefix(ref, "arn:"); ok {
		parts := strings.SplitN(rest, ":", 5)
		if len(parts) != 5 || parts[0] != "aws" || parts[1] != "kms" {
			return nil, notFound("Invalid arn %s", ref)
		}
		if parts[2] != h.region || parts[3] != h.account {
			// A real KMS in this region and account cannot see it.
			return nil, notFound("Key '%s' does not exist", ref)
		}
		name = parts[4]
		if id, ok := strings.CutPrefix(name, "key/"); ok {
			if k, ok := h.keys[id]; ok {
				return k, nil
			}
			return nil, notFound("Key '%s' does not exist", ref)
		}
		if !strings.HasPrefix(name, "alias/") {
			return nil, notFound("Invalid arn %s", ref)
		}
	}
	if strings.HasPrefix(name, "alias/") {
		a, ok := h.aliases[name]
		if !ok {
			return nil, notFound("Alias %s is not found.", h.aliasARN(name))
		}
		return h.keys[a.keyID], nil
	}
	if k, ok := h.keys[name]; ok {
		return k, nil
	}
	if !validKeyID(name) {
		return nil, notFound("Invalid keyId '%s'", ref)
	}
	return nil, notFound("Key '%s' does not exist", h.keyARN(name))
}

// lookupKeyOnly resolves a key ID or key ARN but not an alias, as
// CreateAlias's TargetKeyId and ListAliases's KeyId require.
func (h *Handler) lookupKeyOnly(ref string) (*key, error) {
	if strings.HasPrefix(ref, "alias/") || strings.Contains(ref, ":alias/") {
		return nil, &apiError{"ValidationException", "an alias is not accepted here; use a key ID or key ARN"}
	}
	return h.lookup(ref)
}

// authorize reports whether caller may perform op on k.
func (k *key) authorize(caller, op string) bool {
	if k.allow == nil {
		return true
	}
	ops, ok := k.allow[caller]
	return ok && (slices.Contains(ops, op) || slices.Contains(ops, "*"))
}

func validKeyID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validAliasName(s string) error {
	name, ok := strings.CutPrefix(s, "alias/")
	if !ok || name == "" || len(s) > 256 {
		return fmt.Errorf("invalid alias name %q (want alias/NAME)", s)
	}
	if strings.HasPrefix(name, "aws/") {
		return fmt.Errorf("alias %q: the alias/aws/ prefix is reserved for AWS managed keys", s)
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("/_-", c)) {
			return fmt.Errorf("invalid alias name %q: only letters, digits, /, _ and - are allowed", s)
		}
	}
	return nil
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
