package kmstest

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Request and response shapes follow the KMS API reference; only the
// members this server acts on are declared, the rest are ignored.

const symmetricDefault = "SYMMETRIC_DEFAULT"

// epoch is how the JSON 1.1 protocol encodes timestamps.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(time.Time(t).UnixMilli())/1000, 'f', 3, 64), nil
}

type keyMetadata struct {
	AWSAccountID          string   `json:"AWSAccountId"`
	Arn                   string   `json:"Arn"`
	CreationDate          epoch    `json:"CreationDate"`
	CustomerMasterKeySpec string   `json:"CustomerMasterKeySpec"`
	Description           string   `json:"Description"`
	Enabled               bool     `json:"Enabled"`
	EncryptionAlgorithms  []string `json:"EncryptionAlgorithms"`
	KeyID                 string   `json:"KeyId"`
	KeyManager            string   `json:"KeyManager"`
	KeySpec               string   `json:"KeySpec"`
	KeyState              string   `json:"KeyState"`
	KeyUsage              string   `json:"KeyUsage"`
	MultiRegion           bool     `json:"MultiRegion"`
	Origin                string   `json:"Origin"`
}

func (h *Handler) metadata(k *key) keyMetadata {
	state := "Enabled"
	if !k.enabled {
		state = "Disabled"
	}
	return keyMetadata{
		AWSAccountID: h.account, Arn: h.keyARN(k.id), CreationDate: epoch(k.created),
		CustomerMasterKeySpec: symmetricDefault, Description: k.description, Enabled: k.enabled,
		EncryptionAlgorithms: []string{symmetricDefault}, KeyID: k.id, KeyManager: "CUSTOMER",
		KeySpec: symmetricDefault, KeyState: state, KeyUsage: "ENCRYPT_DECRYPT", Origin: "AWS_KMS",
	}
}

// useKey resolves ref and checks that the caller may run op on it and that
// it is enabled. The returned key is safe to use without the lock: its
// material never changes.
func (h *Handler) useKey(r *request, ref, op string) (*key, error) {
	if ref == "" {
		return nil, validation("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k, err := h.lookup(ref)
	if err != nil {
		return nil, err
	}
	return k, h.check(r, k, op)
}

// check must be called with h.mu held.
func (h *Handler) check(r *request, k *key, op string) error {
	r.keyARN = h.keyARN(k.id)
	if !k.authorize(r.caller, op) {
		return &apiError{"AccessDeniedException", fmt.Sprintf(
			"User: %s is not authorized to perform: kms:%s on resource: %s because no resource-based policy allows the kms:%s action",
			r.caller, op, r.keyARN, op)}
	}
	if !k.enabled {
		return &apiError{"DisabledException", r.keyARN + " is disabled."}
	}
	return nil
}

func checkAlgorithm(alg string) error {
	if alg != "" && alg != symmetricDefault {
		return &apiError{"InvalidKeyUsageException", "this server supports only the SYMMETRIC_DEFAULT encryption algorithm"}
	}
	return nil
}

func dryRun(on bool) error {
	if on {
		return &apiError{"DryRunOperationException", "The request would have succeeded, but the DryRun option is set."}
	}
	return nil
}

func (h *Handler) encrypt(r *request) (any, error) {
	var in struct {
		KeyID               string            `json:"KeyId"`
		Plaintext           []byte            `json:"Plaintext"`
		EncryptionContext   map[string]string `json:"EncryptionContext"`
		EncryptionAlgorithm string            `json:"EncryptionAlgorithm"`
		DryRun              bool              `json:"DryRun"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if len(in.Plaintext) < 1 || len(in.Plaintext) > 4096 {
		return nil, validation("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096")
	}
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	k, err := h.useKey(r, in.KeyID, "Encrypt")
	if err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	blob, err := sealBlob(k, in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return map[string]any{"CiphertextBlob": blob, "KeyId": r.keyARN, "EncryptionAlgorithm": symmetricDefault}, nil
}

func (h *Handler) decrypt(r *request) (any, error) {
	var in struct {
		CiphertextBlob      []byte            `json:"CiphertextBlob"`
		EncryptionContext   map[string]string `json:"EncryptionContext"`
		KeyID               string            `json:"KeyId"`
		EncryptionAlgorithm string            `json:"EncryptionAlgorithm"`
		DryRun              bool              `json:"DryRun"`
		Recipient           any               `json:"Recipient"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if len(in.CiphertextBlob) < 1 || len(in.CiphertextBlob) > 6144 {
		return nil, validation("1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length between 1 and 6144")
	}
	if in.Recipient != nil {
		return nil, &apiError{"UnsupportedOperationException", "Recipient (Nitro Enclaves) is not supported by this server"}
	}
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	invalid := &apiError{"InvalidCiphertextException", ""}
	id, err := blobKeyID(in.CiphertextBlob)
	if err != nil {
		return nil, invalid
	}
	h.mu.Lock()
	k, ok := h.keys[id]
	var named *key
	if ok && in.KeyID != "" {
		named, err = h.lookup(in.KeyID)
	}
	if ok && err == nil {
		if named != nil && named != k {
			err = &apiError{"IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation."}
		} else {
			err = h.check(r, k, "Decrypt")
		}
	}
	h.mu.Unlock()
	if !ok {
		// A blob naming no key here is indistinguishable from a forged one.
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	pt, err := openBlob(k, in.CiphertextBlob, in.EncryptionContext)
	if err != nil {
		// Wrong context and tampering look alike to AES-GCM, and to KMS.
		return nil, invalid
	}
	return map[string]any{"KeyId": r.keyARN, "Plaintext": pt, "EncryptionAlgorithm": symmetricDefault}, nil
}

func (h *Handler) generateDataKey(r *request) (any, error) {
	var in struct {
		KeyID             string            `json:"KeyId"`
		KeySpec           string            `json:"KeySpec"`
		NumberOfBytes     *int              `json:"NumberOfBytes"`
		EncryptionContext map[string]string `json:"EncryptionContext"`
		DryRun            bool              `json:"DryRun"`
		Recipient         any               `json:"Recipient"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	var n int
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != nil, in.KeySpec == "" && in.NumberOfBytes == nil:
		return nil, validation("Please specify either number of bytes or key spec.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return nil, validation("1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]", in.KeySpec)
	case *in.NumberOfBytes < 1 || *in.NumberOfBytes > 1024:
		return nil, validation("1 validation error detected: Value at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024")
	default:
		n = *in.NumberOfBytes
	}
	if in.Recipient != nil {
		return nil, &apiError{"UnsupportedOperationException", "Recipient (Nitro Enclaves) is not supported by this server"}
	}
	k, err := h.useKey(r, in.KeyID, "GenerateDataKey")
	if err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	dk := make([]byte, n)
	rand.Read(dk) // never fails since Go 1.24
	blob, err := sealBlob(k, dk, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return map[string]any{"CiphertextBlob": blob, "Plaintext": dk, "KeyId": r.keyARN}, nil
}

func (h *Handler) describeKey(r *request) (any, error) {
	var in struct {
		KeyID string `json:"KeyId"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if in.KeyID == "" {
		return nil, validation("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k, err := h.lookup(in.KeyID)
	if err != nil {
		return nil, err
	}
	r.keyARN = h.keyARN(k.id)
	// DescribeKey works on disabled keys, so only the caller is checked.
	if !k.authorize(r.caller, "DescribeKey") {
		return nil, &apiError{"AccessDeniedException", fmt.Sprintf(
			"User: %s is not authorized to perform: kms:DescribeKey on resource: %s", r.caller, r.keyARN)}
	}
	return map[string]any{"KeyMetadata": h.metadata(k)}, nil
}

type aliasEntry struct {
	AliasArn        string `json:"AliasArn"`
	AliasName       string `json:"AliasName"`
	TargetKeyID     string `json:"TargetKeyId"`
	CreationDate    epoch  `json:"CreationDate"`
	LastUpdatedDate epoch  `json:"LastUpdatedDate"`
}

// listAliases pages through aliases sorted by name; the marker is the last
// name returned. Like IAM's kms:ListAliases it is an account-level
// permission, so per-key caller lists do not apply.
func (h *Handler) listAliases(r *request) (any, error) {
	var in struct {
		KeyID  string `json:"KeyId"`
		Limit  *int   `json:"Limit"`
		Marker string `json:"Marker"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	limit := 50
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 100 {
			return nil, validation("1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value between 1 and 100")
		}
		limit = *in.Limit
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	filter := ""
	if in.KeyID != "" {
		k, err := h.lookupKeyOnly(in.KeyID)
		if err != nil {
			return nil, err
		}
		filter = k.id
		r.keyARN = h.keyARN(k.id)
	}
	var names []string
	for name, a := range h.aliases {
		if (filter == "" || a.keyID == filter) && name > in.Marker {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := map[string]any{"Truncated": false}
	if len(names) > limit {
		names = names[:limit]
		out["Truncated"] = true
		out["NextMarker"] = names[limit-1]
	}
	entries := make([]aliasEntry, 0, len(names))
	for _, name := range names {
		a := h.aliases[name]
		entries = append(entries, aliasEntry{AliasArn: h.aliasARN(name), AliasName: name, TargetKeyID: a.keyID,
			CreationDate: epoch(a.created), LastUpdatedDate: epoch(a.updated)})
	}
	out["Aliases"] = entries
	return out, nil
}

func (h *Handler) createKey(r *request) (any, error) {
	var in struct {
		Description           string `json:"Description"`
		KeyUsage              string `json:"KeyUsage"`
		KeySpec               string `json:"KeySpec"`
		CustomerMasterKeySpec string `json:"CustomerMasterKeySpec"`
		Policy                string `json:"Policy"`
		Origin                string `json:"Origin"`
		MultiRegion           bool   `json:"MultiRegion"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if in.KeyUsage != "" && in.KeyUsage != "ENCRYPT_DECRYPT" ||
		in.KeySpec != "" && in.KeySpec != symmetricDefault ||
		in.CustomerMasterKeySpec != "" && in.CustomerMasterKeySpec != symmetricDefault ||
		in.Origin != "" && in.Origin != "AWS_KMS" || in.MultiRegion {
		return nil, &apiError{"UnsupportedOperationException", "this server creates only single-Region SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys"}
	}
	if in.Policy != "" {
		// Ignoring a policy would silently grant more than asked for.
		return nil, &apiError{"MalformedPolicyDocumentException", "key policies are not supported by this server; it allows every caller on keys created through the API"}
	}
	created, err := h.CreateKey(KeySpec{Description: in.Description})
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k := h.keys[created.ID]
	r.keyARN = created.ARN
	return map[string]any{"KeyMetadata": h.metadata(k)}, nil
}

func (h *Handler) createAlias(r *request) (any, error) {
	return h.setAlias(r, "CreateAlias")
}

func (h *Handler) updateAlias(r *request) (any, error) {
	return h.setAlias(r, "UpdateAlias")
}

func (h *Handler) setAlias(r *request, op string) (any, error) {
	var in struct {
		AliasName   string `json:"AliasName"`
		TargetKeyID string `json:"TargetKeyId"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if err := validAliasName(in.AliasName); err != nil {
		return nil, validation("%s", err.Error())
	}
	if in.TargetKeyID == "" {
		return nil, validation("1 validation error detected: Value null at 'targetKeyId' failed to satisfy constraint: Member must not be null")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k, err := h.lookupKeyOnly(in.TargetKeyID)
	if err != nil {
		return nil, err
	}
	if err := h.check(r, k, op); err != nil {
		return nil, err
	}
	now := h.now()
	a, exists := h.aliases[in.AliasName]
	switch {
	case op == "CreateAlias" && exists:
		return nil, &apiError{"AlreadyExistsException", "An alias with the name " + h.aliasARN(in.AliasName) + " already exists"}
	case op == "UpdateAlias" && !exists:
		return nil, notFound("Alias %s is not found.", h.aliasARN(in.AliasName))
	case exists:
		a.keyID, a.updated = k.id, now
	default:
		h.aliases[in.AliasName] = &alias{keyID: k.id, created: now, updated: now}
	}
	return struct{}{}, nil
}
