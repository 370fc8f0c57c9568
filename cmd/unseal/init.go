package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/unseal"
)

func cmdInit(ctx context.Context, e *env, args []string) error {
	var c common
	fs := newFlags("init", &c, true)
	shares := fs.Int("shares", 0, "")
	threshold := fs.Int("threshold", 0, "")
	rootKey := fs.String("root-token-pgp-key", "", "")
	out := fs.String("out", "", "")
	var keys cli.Multi
	fs.Var(&keys, "pgp-key", "")
	if err := c.parse(e, fs, args, 0); err != nil {
		return err
	}
	if *out == "" {
		return cli.Usagef("init needs -out DIR for the encrypted key files")
	}
	if *threshold == 0 {
		return cli.Usagef("init needs -threshold T: how many operators must turn their key to unseal")
	}
	if *shares == 0 {
		*shares = len(keys)
	}
	if err := unseal.CheckInitPlan(*shares, *threshold, len(keys)); err != nil {
		return cli.Fail(cli.ExitUsage, err)
	}
	ops, err := unseal.ReadRecipients(keys)
	if err != nil {
		return cli.Fail(cli.ExitUsage, err)
	}
	plan := &unseal.InitPlan{Threshold: *threshold, Operators: ops, RootToken: ops[0], OutDir: *out}
	if *rootKey != "" {
		rt, err := unseal.ReadRecipients([]string{*rootKey})
		if err != nil {
			return cli.Fail(cli.ExitUsage, err)
		}
		plan.RootToken = rt[0]
	}
	client, addr, err := c.oneClient(ctx, e, false)
	if err != nil {
		return err
	}
	// Checked here as well as in Init so that nothing is printed or
	// created for a Vault that is already initialised.
	if err := unseal.CheckUninitialized(ctx, client); err != nil {
		return err
	}
	if err := unseal.PrepareOutDir(*out, plan.Files()); err != nil {
		return err
	}

	fmt.Fprintf(e.stdout, "Initialising Vault at %s: %d shares, threshold %d.\n", addr, len(ops), *threshold)
	printRecipients(e, *out, ops, plan.RootToken)
	c.log.Info("initialising", "node", addr, "shares", len(ops), "threshold", *threshold)
	res, err := unseal.Init(ctx, client, plan)
	if res != nil && len(res.Pending) > 0 {
		// Vault has no other copy: show the encrypted entries that could
		// not be written rather than lose them.
		fmt.Fprintln(e.stderr, "unseal: these encrypted entries were not written; save each into its file:")
		names := make([]string, 0, len(res.Pending))
		for n := range res.Pending {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(e.stderr, "%s: %s\n", n, res.Pending[n])
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Vault is initialised. Wrote %d files (mode 0600) to %s.\n", len(res.Files), *out)
	fmt.Fprintln(e.stdout, "Give each operator their file. To turn a key:")
	fmt.Fprintln(e.stdout, "    unseal key -key-file FILE -address URL... (or -nodes FILE)")
	fmt.Fprintln(e.stdout, "or by hand: base64 -d < FILE | gpg -dq")
	return nil
}

// printRecipients prints who gets which file, with each key's fingerprint
// and user id, so that operators can check them against their own keys.
func printRecipients(e *env, dir string, ops []unseal.Recipient, root unseal.Recipient) {
	for _, r := range ops {
		fmt.Fprintf(e.stdout, "  %-32s for %s  %s  %s\n", filepath.Join(dir, r.OutName()), r.Path, r.Key.Fingerprint(), r.Key.UserID())
	}
	if root.Key != nil {
		fmt.Fprintf(e.stdout, "  %-32s for %s  %s  %s  (root token)\n", filepath.Join(dir, unseal.RootTokenFile), root.Path, root.Key.Fingerprint(), root.Key.UserID())
	}
}
