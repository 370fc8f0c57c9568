package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/unseal"
)

func cmdRekey(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return cli.Fail(cli.ExitUsage, errors.New("rekey needs a step: init, submit, status or cancel"), "run unseal -help for usage")
	}
	switch args[0] {
	case "init":
		return rekeyInit(ctx, e, args[1:])
	case "submit":
		return rekeySubmit(ctx, e, args[1:])
	case "status":
		return rekeyStatus(ctx, e, args[1:])
	case "cancel":
		return rekeyCancel(ctx, e, args[1:])
	case "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usage)
		return cli.ErrHelp
	}
	return cli.Fail(cli.ExitUsage, fmt.Errorf("unknown rekey step %q", args[0]), "steps: init, submit, status, cancel")
}

func rekeyInit(ctx context.Context, e *env, args []string) error {
	var c common
	fs := newFlags("rekey init", &c, true)
	shares := fs.Int("shares", 0, "")
	threshold := fs.Int("threshold", 0, "")
	backup := fs.Bool("backup", false, "")
	verify := fs.Bool("verify", false, "")
	var keys cli.Multi
	fs.Var(&keys, "pgp-key", "")
	if err := c.parse(e, fs, args, 0); err != nil {
		return err
	}
	if *threshold == 0 {
		return cli.Usagef("rekey init needs -threshold T")
	}
	if *shares == 0 {
		*shares = len(keys)
	}
	// The new shares are always encrypted: without PGP keys Vault would
	// hand them out in the clear.
	if err := unseal.CheckInitPlan(*shares, *threshold, len(keys)); err != nil {
		return cli.Fail(cli.ExitUsage, err)
	}
	to, err := unseal.ReadRecipients(keys)
	if err != nil {
		return cli.Fail(cli.ExitUsage, err)
	}
	client, addr, err := c.oneClient(ctx, e, true)
	if err != nil {
		return err
	}
	st, err := unseal.RekeyInit(ctx, client, *threshold, to, *backup, *verify)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Rekey started at %s: %d new shares, threshold %d; %d current shares needed.\n", addr, st.N, st.T, st.Required)
	fmt.Fprintf(e.stdout, "Nonce: %s\n", st.Nonce)
	fmt.Fprintln(e.stdout, "The new shares will be encrypted to:")
	for _, r := range to {
		fmt.Fprintf(e.stdout, "  %s  %s  %s\n", r.Path, r.Key.Fingerprint(), r.Key.UserID())
	}
	if st.Backup {
		fmt.Fprintln(e.stdout, "Vault keeps an encrypted backup of the new shares (sys/rekey/backup); delete it once they are distributed.")
	}
	if st.VerificationRequired {
		fmt.Fprintln(e.stdout, "Verification is required: the new shares take effect once their holders submit them back.")
	}
	fmt.Fprintln(e.stdout, "Each holder of a current share runs:")
	fmt.Fprintf(e.stdout, "    unseal rekey submit -key-file FILE -nonce %s (the last one also -out DIR -pgp-key ...)\n", st.Nonce)
	return nil
}

func rekeySubmit(ctx context.Context, e *env, args []string) error {
	var c common
	var d decryptFlags
	fs := newFlags("rekey submit", &c, true)
	d.register(fs)
	keyFile := fs.String("key-file", "", "")
	nonce := fs.String("nonce", "", "")
	out := fs.String("out", "", "")
	var keys cli.Multi
	fs.Var(&keys, "pgp-key", "")
	if err := c.parse(e, fs, args, 0); err != nil {
		return err
	}
	if *keyFile == "" {
		return cli.Usagef("rekey submit needs -key-file FILE")
	}
	known, err := unseal.ReadRecipients(keys)
	if err != nil {
		return cli.Fail(cli.ExitUsage, err)
	}
	client, addr, err := c.oneClient(ctx, e, true)
	if err != nil {
		return err
	}
	st, err := unseal.RekeyStatus(ctx, client)
	if err != nil {
		return err
	}
	if st.VerificationNonce != "" {
		return rekeyVerify(ctx, e, &c, &d, client, st, *keyFile, *nonce)
	}
	if *nonce != "" && *nonce != st.Nonce {
		return fmt.Errorf("the rekey in progress has nonce %s, not %s: it was cancelled and started again; check with its initiator", st.Nonce, *nonce)
	}
	if len(st.PGPFingerprints) == 0 {
		// Completing such a rekey would return the new shares in the clear.
		return errors.New("the rekey in progress encrypts the new shares to no PGP key; cancel it and start one with unseal rekey init -pgp-key FILE")
	}
	names := unseal.RekeyFileNames(st.PGPFingerprints, known)
	completes := st.Progress+1 >= st.Required
	if completes {
		if *out == "" {
			return cli.Usagef("this share completes the rekey: give -out DIR for the new share files (and -pgp-key FILE... to name them)")
		}
		if err := unseal.PrepareOutDir(*out, names); err != nil {
			return err
		}
	}
	dec, err := d.decrypter(e)
	if err != nil {
		return err
	}
	defer dec.Close()
	share, err := dec.DecryptShare(ctx, *keyFile)
	if err != nil {
		return err
	}
	defer share.Wipe()
	c.log.Info("submitting share to rekey", "node", addr)
	resp, err := unseal.RekeySubmit(ctx, client, share, st.Nonce)
	share.Wipe()
	if err != nil {
		return err
	}
	if !resp.Complete {
		now, err := unseal.RekeyStatus(ctx, client)
		if err == nil {
			fmt.Fprintf(e.stdout, "Share accepted: rekey progress %d/%d.\n", now.Progress, now.Required)
		} else {
			fmt.Fprintln(e.stdout, "Share accepted.")
		}
		return nil
	}
	return rekeyComplete(e, resp, *out, known)
}

// rekeyComplete writes the new share files from the completing answer.
func rekeyComplete(e *env, resp *api.RekeyUpdateResponse, out string, known []unseal.Recipient) error {
	names := unseal.RekeyFileNames(resp.PGPFingerprints, known)
	if out == "" {
		// This submission completed the rekey although another one was
		// expected to (they raced). The answer exists only here; the
		// entries are ciphertext, so print them rather than lose them.
		fmt.Fprintln(e.stdout, "Rekey complete, but no -out DIR was given. Save each encrypted new share into its file:")
		for i, n := range names {
			fmt.Fprintf(e.stdout, "%s: %s\n", n, resp.KeysB64[i])
		}
		return nil
	}
	written, pending, err := unseal.WriteKeyFiles(out, names, resp.KeysB64)
	if len(pending) > 0 {
		fmt.Fprintln(e.stderr, "unseal: these encrypted new shares were not written; save each into its file:")
		for _, n := range names {
			if v, ok := pending[n]; ok {
				fmt.Fprintf(e.stderr, "%s: %s\n", n, v)
			}
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Rekey complete: %d new share files (mode 0600):\n", len(written))
	for i, p := range written {
		fmt.Fprintf(e.stdout, "  %-32s for %s\n", p, strings.ToLower(resp.PGPFingerprints[i]))
	}
	if resp.Backup {
		fmt.Fprintln(e.stdout, "Vault keeps an encrypted backup of them (sys/rekey/backup); delete it once they are distributed.")
	}
	if resp.VerificationRequired {
		fmt.Fprintf(e.stdout, "The new shares take effect after verification: their holders run\n    unseal rekey submit -key-file NEW-FILE -nonce %s\n", resp.VerificationNonce)
		fmt.Fprintln(e.stdout, "Until then the current shares stay valid.")
	} else {
		fmt.Fprintln(e.stdout, "The new shares are in effect now; the old files no longer unseal this Vault.")
	}
	return nil
}

// rekeyVerify submits a new share during the verification phase.
func rekeyVerify(ctx context.Context, e *env, c *common, d *decryptFlags, client *api.Client, st *api.RekeyStatusResponse, keyFile, nonce string) error {
	if nonce != "" && nonce != st.VerificationNonce {
		return fmt.Errorf("the verification in progress has nonce %s, not %s", st.VerificationNonce, nonce)
	}
	dec, err := d.decrypter(e)
	if err != nil {
		return err
	}
	defer dec.Close()
	share, err := dec.DecryptShare(ctx, keyFile)
	if err != nil {
		return err
	}
	defer share.Wipe()
	c.log.Info("submitting new share for verification")
	resp, err := unseal.RekeyVerify(ctx, client, share, st.VerificationNonce)
	share.Wipe()
	if err != nil {
		return err
	}
	if resp.Complete {
		fmt.Fprintln(e.stdout, "Verification complete: the new shares are in effect; the old files no longer unseal this Vault.")
		return nil
	}
	if vs, err := unseal.RekeyVerifyStatus(ctx, client); err == nil {
		fmt.Fprintf(e.stdout, "New share verified: progress %d/%d.\n", vs.Progress, vs.T)
	} else {
		fmt.Fprintln(e.stdout, "New share verified.")
	}
	return nil
}

type rekeyStatusJSON struct {
	Started              bool     `json:"started"`
	Nonce                string   `json:"nonce,omitempty"`
	Shares               int      `json:"shares"`
	Threshold            int      `json:"threshold"`
	Progress             int      `json:"progress"`
	Required             int      `json:"required"`
	PGPFingerprints      []string `json:"pgp_fingerprints"`
	Backup               bool     `json:"backup"`
	VerificationRequired bool     `json:"verification_required"`
	VerificationNonce    string   `json:"verification_nonce,omitempty"`
	VerificationProgress int      `json:"verification_progress,omitempty"`
}

func rekeyStatus(ctx context.Context, e *env, args []string) error {
	var c common
	fs := newFlags("rekey status", &c, true)
	format := fs.String("format", "text", "")
	if err := c.parse(e, fs, args, 0); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	client, _, err := c.oneClient(ctx, e, true)
	if err != nil {
		return err
	}
	st, err := unseal.RekeyStatus(ctx, client)
	if err != nil && !errors.Is(err, unseal.ErrNoRekey) {
		return err
	}
	js := rekeyStatusJSON{Started: st.Started, Nonce: st.Nonce, Shares: st.N, Threshold: st.T, Progress: st.Progress,
		Required: st.Required, PGPFingerprints: st.PGPFingerprints, Backup: st.Backup,
		VerificationRequired: st.VerificationRequired, VerificationNonce: st.VerificationNonce}
	if st.VerificationNonce != "" {
		if vs, err := unseal.RekeyVerifyStatus(ctx, client); err == nil {
			js.VerificationProgress = vs.Progress
		}
	}
	if *format == "json" {
		return printJSON(e.stdout, js)
	}
	switch {
	case !st.Started:
		fmt.Fprintln(e.stdout, "No rekey in progress.")
	case st.VerificationNonce != "":
		fmt.Fprintf(e.stdout, "Rekey done, verification in progress: %d/%d new shares verified (nonce %s).\n", js.VerificationProgress, st.T, st.VerificationNonce)
	default:
		fmt.Fprintf(e.stdout, "Rekey in progress (nonce %s): %d/%d current shares submitted; new: %d shares, threshold %d.\n",
			st.Nonce, st.Progress, st.Required, st.N, st.T)
		for _, f := range st.PGPFingerprints {
			fmt.Fprintf(e.stdout, "  new share for %s\n", strings.ToLower(f))
		}
		if st.Backup {
			fmt.Fprintln(e.stdout, "  with backup in Vault")
		}
		if st.VerificationRequired {
			fmt.Fprintln(e.stdout, "  with verification")
		}
	}
	return nil
}

func rekeyCancel(ctx context.Context, e *env, args []string) error {
	var c common
	fs := newFlags("rekey cancel", &c, true)
	if err := c.parse(e, fs, args, 0); err != nil {
		return err
	}
	client, _, err := c.oneClient(ctx, e, true)
	if err != nil {
		return err
	}
	if err := unseal.RekeyCancel(ctx, client); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Rekey cancelled; the current shares stay in effect.")
	return nil
}
