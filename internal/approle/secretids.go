package approle

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/vaulterr"
)

// SecretIDInfo describes one secret ID by its accessor; it never holds the
// secret ID itself.
type SecretIDInfo struct {
	Accessor       string            `json:"secret_id_accessor"`
	CreationTime   time.Time         `json:"creation_time"`
	ExpirationTime time.Time         `json:"expiration_time,omitzero"` // zero: never
	UsesLeft       int               `json:"uses_left"`                // 0: unlimited
	Metadata       map[string]string `json:"metadata,omitempty"`
	CIDRList       []string          `json:"cidr_list,omitempty"`
}

// ListSecretIDs returns the live secret IDs of a role, oldest first.
func ListSecretIDs(ctx context.Context, c *api.Client, mount, role string) ([]SecretIDInfo, error) {
	op := fmt.Sprintf("list secret IDs of role %q", role)
	sec, err := c.Logical().ListWithContext(ctx, secretIDPath(mount, role))
	if err != nil {
		return nil, vaulterr.Classify(op, err)
	}
	var out []SecretIDInfo
	if sec == nil {
		return out, nil
	}
	keys, _ := sec.Data["keys"].([]any)
	for _, k := range keys {
		acc, _ := k.(string)
		info, err := LookupAccessor(ctx, c, mount, role, acc)
		if err != nil {
			// It may have been used up or expired since the list.
			if errors.Is(err, vaulterr.ErrNotFound) {
				continue
			}
			return nil, err
		}
		out = append(out, *info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreationTime.Before(out[j].CreationTime) })
	return out, nil
}

// LookupAccessor describes the secret ID behind an accessor.
func LookupAccessor(ctx context.Context, c *api.Client, mount, role, accessor string) (*SecretIDInfo, error) {
	op := fmt.Sprintf("look up secret ID accessor %q of role %q", accessor, role)
	sec, err := c.Logical().WriteWithContext(ctx, fmt.Sprintf("auth/%s/role/%s/secret-id-accessor/lookup", mount, role),
		map[string]any{"secret_id_accessor": accessor})
	if err != nil {
		return nil, vaulterr.Classify(op, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, &vaulterr.Error{Op: op, Kind: vaulterr.ErrNotFound}
	}
	info := &SecretIDInfo{Accessor: accessor, UsesLeft: intField(sec.Data["secret_id_num_uses"])}
	info.CreationTime = timeField(sec.Data["creation_time"])
	info.ExpirationTime = timeField(sec.Data["expiration_time"])
	if md, ok := sec.Data["metadata"].(map[string]any); ok && len(md) > 0 {
		info.Metadata = map[string]string{}
		for k, v := range md {
			info.Metadata[k] = fmt.Sprint(v)
		}
	}
	if cl, ok := sec.Data["cidr_list"].([]any); ok {
		for _, v := range cl {
			info.CIDRList = append(info.CIDRList, fmt.Sprint(v))
		}
	}
	return info, nil
}

// RevokeAccessor destroys the secret ID behind an accessor. An unknown
// accessor is vaulterr.ErrNotFound (Vault itself would answer a bare 500).
func RevokeAccessor(ctx context.Context, c *api.Client, mount, role, accessor string) error {
	if _, err := LookupAccessor(ctx, c, mount, role, accessor); err != nil {
		return err
	}
	_, err := c.Logical().WriteWithContext(ctx, fmt.Sprintf("auth/%s/role/%s/secret-id-accessor/destroy", mount, role),
		map[string]any{"secret_id_accessor": accessor})
	if err != nil {
		return vaulterr.Classify(fmt.Sprintf("revoke secret ID accessor %q of role %q", accessor, role), err)
	}
	return nil
}

func timeField(v any) time.Time {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}
