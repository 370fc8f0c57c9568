package envelope

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// KeyARN is a parsed KMS key ARN, arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID.
type KeyARN struct {
	Partition, Region, Account, KeyID string
}

// String returns the ARN in its canonical form.
func (k KeyARN) String() string {
	return "arn:" + k.Partition + ":kms:" + k.Region + ":" + k.Account + ":key/" + k.KeyID
}

// ParseKeyARN parses a KMS key ARN. Alias ARNs and bare key IDs are refused:
// an envelope header must name the key itself.
func ParseKeyARN(s string) (KeyARN, error) {
	a, err := parseKMSARN(s)
	if err != nil {
		return KeyARN{}, err
	}
	id, ok := strings.CutPrefix(a.resource, "key/")
	if !ok || !validKeyID(id) {
		return KeyARN{}, errors.New("KMS ARN does not name a key (want ...:key/KEY-ID)")
	}
	return KeyARN{Partition: a.partition, Region: a.region, Account: a.account, KeyID: id}, nil
}

type kmsARN struct {
	partition, region, account, resource string
}

func parseKMSARN(s string) (kmsARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" {
		return kmsARN{}, errors.New("not a KMS ARN (want arn:PARTITION:kms:REGION:ACCOUNT:RESOURCE)")
	}
	a := kmsARN{partition: parts[1], region: parts[3], account: parts[4], resource: parts[5]}
	if !validLabel(a.partition) || !validLabel(a.region) {
		return kmsARN{}, errors.New("KMS ARN has an invalid partition or region")
	}
	if len(a.account) != 12 || strings.Trim(a.account, "0123456789") != "" {
		return kmsARN{}, errors.New("KMS ARN has an invalid account ID (want 12 digits)")
	}
	return a, nil
}

// validLabel accepts partitions and regions such as aws, aws-us-gov,
// eu-central-1.
func validLabel(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validKeyID accepts the forms AWS assigns: a UUID, or mrk- followed by 32
// hex digits for multi-Region keys. The check is by character set so that
// other KMS implementations' IDs also pass.
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

// validAliasName accepts alias/NAME with the characters KMS allows in
// alias names.
func validAliasName(s string) bool {
	name, ok := strings.CutPrefix(s, "alias/")
	if !ok || name == "" || len(s) > 256 {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("/_-", c)) {
			return false
		}
	}
	return true
}

// AliasResolver returns the ARN of the key an alias currently points to,
// typically from KMS DescribeKey(KeyId: alias) and its KeyMetadata.Arn. The
// alias is passed exactly as written in the allow-list: alias/NAME (to be
// resolved in the caller's own account and region) or an alias ARN.
type AliasResolver func(ctx context.Context, alias string) (keyARN string, err error)

// allowEntry is one parsed allow-list entry.
type allowEntry struct {
	raw     string
	key     *KeyARN // key ARN form
	keyID   string  // bare key ID form
	alias   *kmsARN // alias ARN form; nil with isAlias for alias/NAME
	isAlias bool
}

func parseAllowEntry(s string) (allowEntry, error) {
	e := allowEntry{raw: s}
	switch {
	case strings.HasPrefix(s, "arn:"):
		a, err := parseKMSARN(s)
		if err != nil {
			return e, err
		}
		if id, ok := strings.CutPrefix(a.resource, "key/"); ok && validKeyID(id) {
			e.key = &KeyARN{Partition: a.partition, Region: a.region, Account: a.account, KeyID: id}
			return e, nil
		}
		if validAliasName(a.resource) {
			e.alias, e.isAlias = &a, true
			return e, nil
		}
		return e, errors.New("KMS ARN names neither a key nor an alias")
	case strings.HasPrefix(s, "alias/"):
		if !validAliasName(s) {
			return e, errors.New("invalid alias name")
		}
		e.isAlias = true
		return e, nil
	case validKeyID(s):
		e.keyID = s
		return e, nil
	}
	return e, errors.New("want a key ARN, key ID, alias/NAME or alias ARN")
}

// ValidateAllowList checks every entry's syntax, so that a command can
// refuse a bad -kms-allow flag before doing anything else.
func ValidateAllowList(allow []string) error {
	for i, s := range allow {
		if _, err := parseAllowEntry(s); err != nil {
			return fmt.Errorf("%w: entry %d %q: %w", ErrInvalidAllowList, i+1, s, err)
		}
	}
	return nil
}

// CheckKeyAllowed decides whether an envelope whose header names
// headerKeyARN may be decrypted, given an allow-list of KMS keys. Call it
// after Parse and before any KMS Decrypt. It returns nil if allowed,
// an error wrapping ErrKeyNotAllowed if not, one wrapping
// ErrInvalidAllowList if any entry is malformed (the whole list is refused,
// failing closed), or the resolver's error.
//
// Matching, entry by entry, all comparisons exact and case-sensitive:
//
//   - key ARN (arn:P:kms:R:A:key/ID): allowed if it equals the header's key
//     ARN in partition, region, account and key ID.
//   - key ID (ID): allowed if it equals the header ARN's key ID, in any
//     account and region. AWS assigns key IDs, so nobody can create a key
//     with a chosen ID; use the ARN form to also pin account and region.
//   - alias ARN (arn:P:kms:R:A:alias/NAME): an alias only points to keys in
//     its own account and region, so the entry is skipped unless those
//     match the header's; otherwise resolve is called with the entry and
//     the result must equal the header's key ARN.
//   - alias name (alias/NAME): resolve is called with the entry and the
//     result must equal the header's key ARN.
//
// Key ARN and key ID entries are tried first and need no KMS call. Alias
// entries cost one resolve call each (a KMS DescribeKey) and match the key
// the alias points to now: after an alias is moved to a new key, envelopes
// sealed under the old key are refused until they are re-sealed. With
// resolve nil, alias entries never match. An empty list allows nothing.
func CheckKeyAllowed(ctx context.Context, headerKeyARN string, allow []string, resolve AliasResolver) error {
	hk, err := ParseKeyARN(headerKeyARN)
	if err != nil {
		return fmt.Errorf("%w: header key: %w", ErrKeyNotAllowed, err)
	}
	if len(allow) == 0 {
		return fmt.Errorf("%w: the allow-list is empty", ErrKeyNotAllowed)
	}
	entries := make([]allowEntry, 0, len(allow))
	for i, s := range allow {
		e, err := parseAllowEntry(s)
		if err != nil {
			return fmt.Errorf("%w: entry %d %q: %w", ErrInvalidAllowList, i+1, s, err)
		}
		entries = append(entries, e)
	}
	for _, e := range entries {
		if e.key != nil && *e.key == hk || e.keyID != "" && e.keyID == hk.KeyID {
			return nil
		}
	}
	unresolved := false
	for _, e := range entries {
		if !e.isAlias {
			continue
		}
		if e.alias != nil && (e.alias.partition != hk.Partition || e.alias.region != hk.Region || e.alias.account != hk.Account) {
			continue
		}
		if resolve == nil {
			unresolved = true
			continue
		}
		got, err := resolve(ctx, e.raw)
		if err != nil {
			return fmt.Errorf("envelope: resolve KMS alias %q: %w", e.raw, err)
		}
		if rk, err := ParseKeyARN(got); err == nil && rk == hk {
			return nil
		}
	}
	if unresolved {
		return fmt.Errorf("%w: %s is not in the allow-list (alias entries were not resolved)", ErrKeyNotAllowed, headerKeyARN)
	}
	return fmt.Errorf("%w: %s is not in the allow-list", ErrKeyNotAllowed, headerKeyARN)
}
