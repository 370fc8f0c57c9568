package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/approle/bootstrap"
	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/secfile"
	"github.com/keyturn/keyturn/internal/vaultconn"
)

// common holds the flags every command takes.
type common struct {
	vault    vaultconn.Flags
	mount    string
	logLevel string
}

func newFlags(name string, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet("issuer "+name, flag.ContinueOnError)
	c.vault.Register(fs, true)
	fs.StringVar(&c.mount, "mount", approle.DefaultMount, "")
	fs.StringVar(&c.logLevel, "log-level", "warn", "")
	return fs
}

// client builds the Vault client once the flags are parsed.
func (c *common) client(stderr io.Writer) (*api.Client, hclog.Logger, error) {
	log, err := cli.NewLogger("issuer", c.logLevel, stderr)
	if err != nil {
		return nil, nil, err
	}
	vc, insecure, err := c.vault.Client(vaultconn.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	if insecure {
		(&cli.UI{Name: "issuer", Stderr: stderr}).Warnf("TLS verification of Vault's certificate is off (-tls-skip-verify or VAULT_SKIP_VERIFY)")
	}
	if vc.Token() == "" {
		return nil, nil, cli.Fail(cli.ExitUsage, fmt.Errorf("no Vault token"), "set VAULT_TOKEN or -token-file")
	}
	c.mount = strings.Trim(c.mount, "/")
	return vc, log, nil
}

func parse(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if err := cli.Parse(fs, args, usage, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Fail(cli.ExitUsage, fmt.Errorf("unexpected argument %q", fs.Arg(0)), "run issuer -help for usage")
	}
	return nil
}

func cmdBootstrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("bootstrap", &c)
	config := fs.String("config", "", "")
	dryRun := fs.Bool("dry-run", false, "")
	format := fs.String("format", "text", "")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *config == "" {
		return cli.Usagef("bootstrap needs -config FILE")
	}
	if *format != "text" && *format != "json" {
		return cli.Usagef("-format must be text or json, not %q", *format)
	}
	cfg, err := bootstrap.LoadConfig(*config)
	if err != nil {
		return err
	}
	vc, log, err := c.client(stderr)
	if err != nil {
		return err
	}
	plan, err := bootstrap.MakePlan(ctx, vc, cfg)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(plan); err != nil {
			return err
		}
	} else {
		printPlan(stdout, plan, *dryRun)
	}
	if *dryRun || len(plan.Pending()) == 0 {
		return nil
	}
	log.Debug("applying plan", "changes", len(plan.Pending()))
	if err := bootstrap.Apply(ctx, vc, plan); err != nil {
		return err
	}
	if *format == "text" {
		fmt.Fprintf(stdout, "Applied %d changes.\n", len(plan.Pending()))
	}
	return nil
}

func printPlan(w io.Writer, p *bootstrap.Plan, dryRun bool) {
	counts := map[bootstrap.Action]int{}
	for _, ch := range p.Changes {
		counts[ch.Action]++
		if ch.Action == bootstrap.NoChange {
			continue
		}
		mark := "+"
		if ch.Action == bootstrap.Update {
			mark = "~"
		}
		fmt.Fprintf(w, "%s %s %s\n", mark, ch.Kind, ch.Name)
		for _, f := range ch.Fields {
			switch {
			case f.Hidden:
				fmt.Fprintf(w, "    %s: (value hidden)\n", f.Field)
			case ch.Action == bootstrap.Create:
				fmt.Fprintf(w, "    %s: %s\n", f.Field, f.New)
			default:
				fmt.Fprintf(w, "    %s: %s -> %s\n", f.Field, f.Old, f.New)
			}
		}
	}
	if counts[bootstrap.Create]+counts[bootstrap.Update] == 0 {
		fmt.Fprintf(w, "No changes: Vault matches the config (%d objects).\n", counts[bootstrap.NoChange])
		return
	}
	verb := "Plan"
	if dryRun {
		verb = "Plan (dry run, nothing applied)"
	}
	fmt.Fprintf(w, "%s: %d to create, %d to update, %d unchanged.\n", verb, counts[bootstrap.Create], counts[bootstrap.Update], counts[bootstrap.NoChange])
}

func cmdMint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("mint", &c)
	role := fs.String("role", "", "")
	wrapTTL := fs.Duration("wrap-ttl", approle.DefaultWrapTTL, "")
	noWrap := fs.Bool("no-wrap", false, "")
	format := fs.String("format", "text", "")
	out := fs.String("out", "", "")
	numUses := fs.Int("num-uses", 0, "")
	ttl := fs.Duration("ttl", 0, "")
	var cidrs, meta cli.Multi
	fs.Var(&cidrs, "cidr", "")
	fs.Var(&meta, "meta", "")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *role == "" {
		return cli.Usagef("mint needs -role NAME")
	}
	switch *format {
	case "text", "json", "env":
	default:
		return cli.Usagef("-format must be text, json or env, not %q", *format)
	}
	opts, err := mintOptions(*wrapTTL, *noWrap, *numUses, *ttl, cidrs, meta)
	if err != nil {
		return err
	}
	// Open the output lazily: a failed mint must leave no file behind.
	dst := secfile.NewOutput("-")
	dst.Stdout = stdout
	if *out != "" {
		// Check the directory before minting, so that a typo does not
		// leave a minted secret ID with nowhere to go.
		if fi, err := os.Stat(filepath.Dir(*out)); err != nil || !fi.IsDir() {
			return fmt.Errorf("-out %s: directory %s does not exist", *out, filepath.Dir(*out))
		}
		dst = secfile.NewOutput(*out)
	}
	defer dst.Abort()
	vc, log, err := c.client(stderr)
	if err != nil {
		return err
	}
	m, err := approle.Mint(ctx, vc, c.mount, *role, opts...)
	if err != nil {
		return err
	}
	log.Info("minted secret ID", "role", *role, "secret_id_accessor", m.SecretIDAccessor, "wrapped", !*noWrap, "expires", m.Expires)
	if err := renderMinted(dst, m, *format); err != nil {
		return err
	}
	if err := dst.Commit(); err != nil {
		return err
	}
	if *out != "" {
		fmt.Fprintf(stderr, "issuer: wrote %s for role %q to %s (secret ID accessor %s, expires %s)\n",
			map[bool]string{true: "secret ID", false: "wrapping token"}[*noWrap], *role, *out, m.SecretIDAccessor, expiry(m.Expires))
	}
	return nil
}

// mintOptions turns mint's flags into options, refusing values Vault would
// misread (a negative count or TTL means "unlimited" to it).
func mintOptions(wrapTTL time.Duration, noWrap bool, numUses int, ttl time.Duration, cidrs, meta []string) ([]approle.MintOption, error) {
	opts := []approle.MintOption{approle.WithWrapTTL(wrapTTL)}
	if noWrap {
		opts = append(opts, approle.WithoutWrapping())
	}
	if len(cidrs) > 0 {
		opts = append(opts, approle.WithCIDRs(cidrs...))
	}
	if numUses < 0 || ttl < 0 {
		return nil, cli.Usagef("-num-uses and -ttl cannot be negative")
	}
	if numUses > 0 {
		opts = append(opts, approle.WithNumUses(numUses))
	}
	if ttl > 0 {
		opts = append(opts, approle.WithTTL(ttl))
	}
	md := map[string]string{}
	for _, kv := range meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, cli.Usagef("-meta %q is not KEY=VALUE", kv)
		}
		md[k] = v
	}
	if len(md) > 0 {
		opts = append(opts, approle.WithMetadata(md))
	}
	return opts, nil
}

func renderMinted(w io.Writer, m *approle.Minted, format string) error {
	var err error
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(m)
	case "env":
		if m.WrappingToken != "" {
			_, err = fmt.Fprintf(w, "VAULT_WRAPPED_SECRET_ID=%s\n", m.WrappingToken)
		} else {
			_, err = fmt.Fprintf(w, "VAULT_SECRET_ID=%s\n", m.SecretID)
		}
	default:
		if m.WrappingToken != "" {
			_, err = fmt.Fprintln(w, m.WrappingToken)
		} else {
			_, err = fmt.Fprintln(w, m.SecretID)
		}
	}
	return err
}

func expiry(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339)
}

func cmdRoleID(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("role-id", &c)
	role := fs.String("role", "", "")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *role == "" {
		return cli.Usagef("role-id needs -role NAME")
	}
	vc, _, err := c.client(stderr)
	if err != nil {
		return err
	}
	id, err := approle.RoleID(ctx, vc, c.mount, *role)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, id)
	return err
}

func cmdList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("list", &c)
	role := fs.String("role", "", "")
	format := fs.String("format", "text", "")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *role == "" {
		return cli.Usagef("list needs -role NAME")
	}
	if *format != "text" && *format != "json" {
		return cli.Usagef("-format must be text or json, not %q", *format)
	}
	vc, _, err := c.client(stderr)
	if err != nil {
		return err
	}
	ids, err := approle.ListSecretIDs(ctx, vc, c.mount, *role)
	if err != nil {
		return err
	}
	if *format == "json" {
		if ids == nil {
			ids = []approle.SecretIDInfo{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ids)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCESSOR\tCREATED\tEXPIRES\tUSES LEFT\tMETADATA")
	for _, id := range ids {
		uses := "unlimited"
		if id.UsesLeft > 0 {
			uses = fmt.Sprint(id.UsesLeft)
		}
		var md []string
		for k, v := range id.Metadata {
			md = append(md, k+"="+v)
		}
		sort.Strings(md)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id.Accessor, id.CreationTime.Format(time.RFC3339), expiry(id.ExpirationTime), uses, strings.Join(md, ","))
	}
	return tw.Flush()
}

func cmdRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("revoke", &c)
	role := fs.String("role", "", "")
	accessor := fs.String("accessor", "", "")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *role == "" || *accessor == "" {
		return cli.Usagef("revoke needs -role NAME and -accessor ACCESSOR")
	}
	vc, _, err := c.client(stderr)
	if err != nil {
		return err
	}
	if err := approle.RevokeAccessor(ctx, vc, c.mount, *role, *accessor); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Revoked secret ID %s of role %q.\n", *accessor, *role)
	return nil
}
