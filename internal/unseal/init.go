package unseal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/api"
)

// InitPlan is a checked request to initialise Vault.
type InitPlan struct {
	Threshold int
	Operators []Recipient // one share each, in this order
	RootToken Recipient   // the key the root token is encrypted to
	OutDir    string
}

// InitTimeout bounds the init request.
const InitTimeout = 5 * time.Minute

// ErrAlreadyInitialized means the node reports itself initialised.
var ErrAlreadyInitialized = errors.New("vault is already initialized")

// CheckInitPlan validates the numbers the way Vault does, before anything is
// sent: one key per share, 1 <= threshold <= shares, and a threshold of at
// least 2 when there is more than one share (otherwise every share alone
// would unseal Vault).
func CheckInitPlan(shares, threshold, keys int) error {
	switch {
	case keys == 0:
		return errors.New("no -pgp-key given: every share is encrypted to one operator's key")
	case shares != keys:
		return fmt.Errorf("-shares is %d but %d -pgp-key files were given: one key per share", shares, keys)
	case shares > 255:
		return errors.New("at most 255 shares")
	case threshold < 1 || threshold > shares:
		return fmt.Errorf("-threshold must be between 1 and the number of shares (%d)", shares)
	case shares > 1 && threshold < 2:
		return errors.New("-threshold must be at least 2 when there are several shares: with 1, every operator alone could unseal Vault")
	}
	return nil
}

// Files lists the files the plan writes, share files first.
func (p *InitPlan) Files() []string {
	var out []string
	for _, r := range p.Operators {
		out = append(out, r.OutName())
	}
	return append(out, RootTokenFile)
}

// InitResult is what init wrote.
type InitResult struct {
	Shares    int
	Threshold int
	Files     []string // paths, in the order of Operators, then the root token
	// Pending is set when writing failed: the encrypted entries not yet
	// written, by file name, so the caller can show them instead of losing
	// Vault's only copy. They are ciphertext; printing them is safe.
	Pending map[string]string
}

// CheckUninitialized returns ErrAlreadyInitialized for an initialised node,
// and an error for one that does not unseal with Shamir shares.
func CheckUninitialized(ctx context.Context, c *api.Client) error {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	st, err := c.Sys().SealStatusWithContext(ctx)
	if err != nil {
		return fmt.Errorf("seal status: %w", err)
	}
	if st.Initialized {
		return ErrAlreadyInitialized
	}
	if st.Type != "" && st.Type != "shamir" {
		return fmt.Errorf("the node uses seal type %q (auto-unseal), which has recovery keys, not unseal keys; init supports Shamir seals", st.Type)
	}
	return nil
}

// Init initialises the Vault node behind c with the plan's PGP keys. It
// refuses a node that is already initialised or does not use Shamir
// unsealing, and refuses to write anything Vault returned in the clear.
func Init(ctx context.Context, c *api.Client, p *InitPlan) (*InitResult, error) {
	if err := CheckUninitialized(ctx, c); err != nil {
		return nil, err
	}
	req := &api.InitRequest{
		SecretShares:    len(p.Operators),
		SecretThreshold: p.Threshold,
		RootTokenPGPKey: p.RootToken.Key.Base64(),
	}
	for _, r := range p.Operators {
		req.PGPKeys = append(req.PGPKeys, r.Key.Base64())
	}
	// Initialising raft storage takes seconds; the bound is generous
	// because giving up early would leave Vault initialised with its only
	// copy of the shares in an answer nobody reads.
	ictx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	resp, err := c.Sys().InitWithContext(ictx, req)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	if len(resp.KeysB64) != len(p.Operators) {
		return nil, fmt.Errorf("init: vault returned %d keys for %d operators", len(resp.KeysB64), len(p.Operators))
	}
	// Every entry must be an encrypted message; a plaintext share or token
	// would mean Vault ignored the PGP keys, and is not written anywhere.
	contents := append(append([]string{}, resp.KeysB64...), resp.RootToken)
	res := &InitResult{Shares: len(p.Operators), Threshold: p.Threshold}
	written, pending, err := WriteKeyFiles(p.OutDir, p.Files(), contents)
	res.Files, res.Pending = written, pending
	if err != nil {
		return res, fmt.Errorf("vault is initialised, but writing the key files failed: %w", err)
	}
	return res, nil
}
