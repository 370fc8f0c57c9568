package unseal

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/pgp"
	"github.com/keyturn/keyturn/internal/secfile"
)

// ErrNoRekey means no rekey is in progress.
var ErrNoRekey = errors.New("no rekey in progress (start one with: unseal rekey init)")

// RekeyInit starts a rekey of the unseal keys to one share per recipient.
// With backup, Vault also keeps the new encrypted shares (sys/rekey/backup);
// with verify, the new shares only take effect once threshold of them have
// been submitted back (see RekeyVerify).
func RekeyInit(ctx context.Context, c *api.Client, threshold int, to []Recipient, backup, verify bool) (*api.RekeyStatusResponse, error) {
	req := &api.RekeyInitRequest{
		SecretShares:        len(to),
		SecretThreshold:     threshold,
		Backup:              backup,
		RequireVerification: verify,
	}
	for _, r := range to {
		req.PGPKeys = append(req.PGPKeys, r.Key.Base64())
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	st, err := c.Sys().RekeyInitWithContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("rekey init: %w", err)
	}
	return st, nil
}

// RekeyStatus returns the rekey in progress; ErrNoRekey if there is none.
func RekeyStatus(ctx context.Context, c *api.Client) (*api.RekeyStatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	st, err := c.Sys().RekeyStatusWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("rekey status: %w", err)
	}
	if !st.Started {
		return st, ErrNoRekey
	}
	return st, nil
}

// RekeyVerifyStatus returns the progress of the verification phase.
func RekeyVerifyStatus(ctx context.Context, c *api.Client) (*api.RekeyVerificationStatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	st, err := c.Sys().RekeyVerificationStatusWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("rekey verification status: %w", err)
	}
	return st, nil
}

// RekeyCancel cancels the rekey in progress, submitted shares and all.
// Vault requires the attempt's nonce for this.
func RekeyCancel(ctx context.Context, c *api.Client) error {
	st, err := RekeyStatus(ctx, c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	if err := c.Sys().RekeyCancelWithContextWithNonce(ctx, st.Nonce); err != nil {
		return fmt.Errorf("rekey cancel: %w", err)
	}
	return nil
}

// RekeySubmit sends a current share to sys/rekey/update for the attempt
// nonce. The answer of the submission that completes the rekey carries the
// new shares, encrypted to the rekey's PGP keys.
func RekeySubmit(ctx context.Context, c *api.Client, s *Share, nonce string) (*api.RekeyUpdateResponse, error) {
	var out api.RekeyUpdateResponse
	if err := putShare(ctx, c, "sys/rekey/update", s, nonce, &out); err != nil {
		return nil, fmt.Errorf("rekey update: %w", err)
	}
	return &out, nil
}

// RekeyVerify sends a new share to sys/rekey/verify with the verification
// nonce; once threshold new shares are in, the new keys take effect.
func RekeyVerify(ctx context.Context, c *api.Client, s *Share, nonce string) (*api.RekeyVerificationUpdateResponse, error) {
	var out api.RekeyVerificationUpdateResponse
	if err := putShare(ctx, c, "sys/rekey/verify", s, nonce, &out); err != nil {
		return nil, fmt.Errorf("rekey verify: %w", err)
	}
	return &out, nil
}

func putShare(ctx context.Context, c *api.Client, path string, s *Share, nonce string, out any) error {
	body, err := s.jsonBody(nonce)
	if err != nil {
		return err
	}
	defer pgp.ZeroBytes(body)
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	resp, err := c.Logical().WriteRawWithContext(ctx, path, body)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		if rejected(err) {
			return fmt.Errorf("%w: %s", ErrRejected, describe(err))
		}
		return &vaultError{err}
	}
	return resp.DecodeJSON(out)
}

// RekeyFileNames names the files for the new shares, in the order of
// Vault's pgp_fingerprints: after the public key file of the matching
// recipient (alice.asc gives alice.asc.key), else after the fingerprint.
func RekeyFileNames(fingerprints []string, known []Recipient) []string {
	byFpr := map[string]string{}
	for _, r := range known {
		byFpr[r.Key.Fingerprint()] = r.OutName()
	}
	used := map[string]int{}
	var out []string
	for _, f := range fingerprints {
		f = strings.ToLower(f)
		name, ok := byFpr[f]
		if !ok {
			name = f + KeyFileSuffix
		}
		used[name]++
		if n := used[name]; n > 1 {
			name = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(name, KeyFileSuffix), n, KeyFileSuffix)
		}
		out = append(out, name)
	}
	return out
}

// WriteKeyFiles writes encrypted entries (base64 PGP messages, as Vault
// returns them) to dir/names[i], mode 0600. It refuses anything that is not
// an encrypted message. If a write fails, the entries not yet written are
// returned by name so that the caller can show them rather than lose them.
func WriteKeyFiles(dir string, names, entries []string) (written []string, pending map[string]string, err error) {
	if len(names) != len(entries) {
		return nil, nil, fmt.Errorf("%d names for %d keys", len(names), len(entries))
	}
	for i, v := range entries {
		if _, err := pgp.DecodeMessage([]byte(v)); err != nil {
			return nil, nil, fmt.Errorf("entry %d of vault's answer is not a PGP message; nothing written", i+1)
		}
	}
	for i, name := range names {
		path := filepath.Join(dir, name)
		if err := secfile.Write(path, []byte(entries[i])); err != nil {
			pending = map[string]string{}
			for j := i; j < len(names); j++ {
				pending[names[j]] = entries[j]
			}
			return written, pending, err
		}
		written = append(written, path)
	}
	return written, nil, nil
}
