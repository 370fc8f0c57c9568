package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/envfile"
	"github.com/keyturn/keyturn/internal/envfmt"
	"github.com/keyturn/keyturn/internal/launch"
	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/secfile"
	"github.com/keyturn/keyturn/internal/source"
)

func fetchAndDeliver(ctx context.Context, o *options, ui *cli.UI, stdout, stderr io.Writer) error {
	log, err := cli.NewLogger("prestart", o.logLevel, stderr)
	if err != nil {
		return err
	}
	// Bound the whole start: a Vault that hangs instead of refusing must
	// not keep the container waiting past -timeout either. A supervisor
	// outlives the start, so it gets the parent context, without the
	// cancellation on SIGTERM: that signal is the child's to act on.
	long := context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, o.timeout+5*time.Second)
	defer cancel()
	// Find the command and the output directories before logging in: a
	// typo must not spend the one-time secret ID.
	outputs := []string{o.envFile, o.tokenSink}
	for _, c := range o.certs {
		outputs = append(outputs, filepath.Join(c.Dir, "cert.pem"))
	}
	for _, p := range outputs {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Dir(p)); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s: directory %s does not exist", p, filepath.Dir(p))
		}
	}
	if len(o.command) > 0 {
		if _, err := launch.LookPath(o.command[0], os.Environ()); err != nil {
			return err
		}
	}
	// Log in only when a vault:// source needs it: an S3-only container
	// has no Vault to talk to.
	var s *session
	needVault := len(o.certs) > 0
	for _, r := range o.requests {
		needVault = needVault || r.Ref.Scheme == "vault"
	}
	if needVault {
		if s, err = login(ctx, o, log, ui); err != nil {
			return err
		}
	}
	readers := readers(s)
	var env *envfmt.Env
	var loaded []source.Loaded
	err = retry.Do(ctx, retryPolicy(o, log), func(ctx context.Context) error {
		var err error
		env, loaded, err = source.Collect(ctx, readers, o.requests, o.override)
		return err
	})
	if err != nil {
		s.revoke(log, "reading the secrets failed")
		return err
	}
	leases := 0
	for _, l := range loaded {
		log.Info("read secret", "source", l.Ref, "variables", len(l.Names), "version", l.Version)
		if l.Lease != nil {
			leases++
		}
	}
	vars := env.Vars()

	// Render everything before writing anything, so a value that cannot
	// be represented fails the run before any file or output appears.
	var printed, envFile bytes.Buffer
	if o.print != "" {
		f, _ := envfmt.ParseFormat(o.print)
		if err := envfmt.Render(&printed, f, vars); err != nil {
			return err
		}
	}
	if o.envFile != "" {
		if err := envfmt.EnvFile(&envFile, vars); err != nil {
			return err
		}
	}
	if o.dryRun {
		// Nothing will use what a dry run read, leases included.
		if o.tokenSink == "" {
			s.revoke(log, "dry run")
		}
		return dryRun(stdout, loaded, o.certs)
	}
	var certs []*pkicert.Cert
	for _, r := range o.certs {
		var cert *pkicert.Cert
		err := retry.Do(ctx, retryPolicy(o, log), func(ctx context.Context) error {
			var err error
			cert, err = pkicert.Issue(ctx, s.client, r)
			return err
		})
		if err != nil {
			return err
		}
		certs = append(certs, cert)
	}
	if o.tokenSink != "" && s != nil {
		if err := secfile.Write(o.tokenSink, []byte(s.client.Token()+"\n")); err != nil {
			return err
		}
	}
	if o.envFile != "" {
		if err := secfile.Write(o.envFile, envFile.Bytes()); err != nil {
			return err
		}
		log.Info("wrote env file", "path", o.envFile, "variables", len(vars))
	}
	for i, cert := range certs {
		if err := cert.Write(o.certs[i].Dir); err != nil {
			return err
		}
		log.Info("wrote certificate", "dir", o.certs[i].Dir, "serial", cert.Serial, "not_after", cert.NotAfter)
		cert.Zero()
	}
	if o.print != "" {
		if _, err := stdout.Write(printed.Bytes()); err != nil {
			return err
		}
	}
	if len(o.command) == 0 {
		s.revokeIfUnused(o, leases, log)
		return nil
	}
	if o.supervise {
		return superviseApp(long, o, s, readers, loaded, vars, certs, log)
	}
	s.revokeIfUnused(o, leases, log)
	token := ""
	if o.passToken && s != nil {
		token = s.client.Token()
	}
	childEnv := launch.Env(os.Environ(), vars, launch.EnvOptions{Pristine: o.pristine, Keep: o.keepEnv, Token: token})
	log.Debug("exec", "command", o.command[0], "variables", len(vars))
	return launch.Exec(o.command, childEnv)
}

// revokeIfUnused revokes a token prestart logged in for when nothing will
// use it after prestart is gone: no -pass-token, no -token-sink, and no
// leases (revoking a token revokes the leases it created, such as
// database credentials the application is about to use).
func (s *session) revokeIfUnused(o *options, leases int, log hclog.Logger) {
	if o.passToken || o.tokenSink != "" || leases > 0 {
		return
	}
	s.revoke(log, "no one uses it after start")
}

func (s *session) revoke(log hclog.Logger, why string) {
	if s == nil || !s.ownToken {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.client.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
		log.Warn("could not revoke the login token", "error", err)
		return
	}
	log.Debug("revoked the login token", "reason", why)
}

func dryRun(w io.Writer, loaded []source.Loaded, certs []pkicert.Request) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(loaded) > 0 {
		fmt.Fprintln(tw, "NAME\tSOURCE\tVERSION\tLEASE")
	}
	for _, l := range loaded {
		version := l.Version
		if version == "" {
			version = "-"
		}
		lease := "-"
		if l.Lease != nil {
			lease = l.Lease.Duration.String()
			if l.Lease.Renewable {
				lease += " renewable"
			}
		}
		for _, n := range l.Names {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, l.Ref, version, lease)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range certs {
		fmt.Fprintf(w, "certificate %s/{cert,key,ca}.pem from %s for %s (not issued in a dry run)\n", c.Dir, c.Path, c.Params.Get("common_name"))
	}
	return nil
}

// fromEnvFile is the main-job half of the ContainerPilot recipe: load the
// file the preStart job wrote, remove it, exec.
func fromEnvFile(o *options) error {
	if _, err := launch.LookPath(o.command[0], os.Environ()); err != nil {
		return err
	}
	b, err := secfile.ReadAndRemove(o.fromEnvFile, envfile.MaxSize)
	if err != nil {
		return err
	}
	vars, err := envfile.Parse(bytes.NewReader(b))
	clear(b)
	if err != nil {
		return fmt.Errorf("env file %s: %w", o.fromEnvFile, err)
	}
	if len(vars) == 0 {
		return fmt.Errorf("env file %s holds no variables", o.fromEnvFile)
	}
	return launch.Exec(o.command, launch.Env(os.Environ(), vars, launch.EnvOptions{Pristine: o.pristine, Keep: o.keepEnv}))
}
