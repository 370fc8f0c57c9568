package prestart

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyturn/keyturn/internal/audit"
	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/envfile"
	"github.com/keyturn/keyturn/internal/envfmt"
	"github.com/keyturn/keyturn/internal/launch"
	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/retry"
	"github.com/keyturn/keyturn/internal/secfile"
	"github.com/keyturn/keyturn/internal/source"
)

// IO is what a run gets from its process.
type IO struct {
	Stdin          io.Reader // nil reads nothing
	Stdout, Stderr io.Writer
	// Environ is the process environment (os.Environ() in main): the
	// credentials are looked up in it, and the child's environment and an
	// exec: source's are built from it without them.
	Environ []string
	// Audit receives the audit trail (-audit); nil writes none. The
	// caller opens it, so that it can add the exit line once it knows the
	// exit code, and closes it.
	Audit *audit.Auditor
}

// runner carries one Run through its steps.
type runner struct {
	plan *Plan
	io   IO
	log  hclog.Logger
	// audit is io.Audit: nil when there is no audit trail.
	audit *audit.Auditor
	// readers and exec are what a run reaches the outside world through;
	// tests replace them.
	readers func(s *Session) source.Readers
	exec    func(argv, env []string) error
	extra   map[string]ReaderFunc // WithReader
	// procs is held (shared) by whoever waits for a command it started
	// with os/exec (an exec: source, an AWS credential_process) and
	// taken by the supervisor's reaper, whose wait4(-1) would otherwise
	// take that command's exit status (see supervise.Options.ReapLock).
	procs sync.RWMutex
}

// secrets is what the read step returns.
type secrets struct {
	loaded []source.Loaded
	vars   map[string]string
	leases int // how many secrets came with a lease
}

// rendered is every output, rendered before any is written.
type rendered struct{ printed, envFile bytes.Buffer }

// Run carries out a plan that Complete accepted: it returns when the output
// is written, or when the supervised application has exited; in exec mode it
// returns only on failure. The Vault address and TLS settings come from the
// plan's vaultconn.Flags and the VAULT_* variables as the Vault CLI reads
// them; AWS settings as the AWS CLI reads them.
func Run(ctx context.Context, p *Plan, io IO, opts ...Option) error {
	log, err := cli.NewLogger("prestart", p.LogLevel, io.Stderr)
	if err != nil {
		return err
	}
	r := &runner{plan: p, io: io, log: log, audit: io.Audit, exec: launch.Exec}
	r.readers = r.defaultReaders
	for _, o := range opts {
		o(r)
	}
	return r.run(ctx)
}

func (r *runner) run(ctx context.Context) error {
	p := r.plan
	// A trail that cannot be written stops the start before any
	// credential is used.
	r.audit.Emit(r.startEvent())
	if err := r.audit.Err(); err != nil {
		return err
	}
	if p.FromEnvFile != "" {
		return r.fromEnvFile()
	}
	// Bound the whole start: a Vault that hangs instead of refusing must
	// not keep the container waiting past -timeout either. A supervisor
	// outlives the start, so it gets the parent context, without the
	// cancellation on SIGTERM: that signal is the child's to act on.
	long := context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, p.Timeout+5*time.Second)
	defer cancel()
	if err := r.preflight(); err != nil {
		return err
	}
	var s *Session
	if p.NeedsVault() {
		var err error
		if s, err = Login(ctx, p, r.io, r.log); err != nil {
			return err
		}
	}
	readers := r.readers(s)
	got, err := r.read(ctx, readers)
	if err != nil {
		s.Revoke("reading the secrets failed")
		return err
	}
	s.setLeases(got.leases)
	// From here on every failure revokes the token: nothing will use it,
	// and a live token left behind is a credential for whoever finds it.
	out, err := r.render(got.vars)
	if err != nil {
		s.Revoke("rendering the output failed")
		return err
	}
	if p.DryRun {
		// Nothing will use what a dry run read, leases included; a dry
		// run writes no token sink either.
		s.Revoke("dry run")
		return dryRun(r.io.Stdout, got.loaded, p.Certs)
	}
	certs, err := r.issue(ctx, s)
	if err != nil {
		s.Revoke("issuing a certificate failed")
		return err
	}
	// Fail closed: a start whose audit trail could not be written so far
	// hands nothing to anyone.
	if err := r.audit.Err(); err != nil {
		s.Revoke("writing the audit trail failed")
		return err
	}
	if err := r.write(s, out, certs, len(got.vars)); err != nil {
		s.Revoke("writing the output failed")
		return err
	}
	switch {
	case len(p.Command) == 0:
		r.revokeIfUnused(s, got.leases)
		return nil
	case p.Supervise.Enabled:
		return r.supervise(long, s, readers, got, certs)
	}
	r.revokeIfUnused(s, got.leases)
	if err := r.auditExec(); err != nil {
		s.Revoke("writing the audit trail failed")
		return err
	}
	// exec returns only when the command could not be started.
	err = r.exec(p.Command, r.childEnv(got.vars, s))
	s.Revoke("starting the command failed")
	return err
}

// preflight finds the command and the output directories before logging
// in: a typo must not spend the one-time secret ID.
func (r *runner) preflight() error {
	if err := r.checkSchemes(); err != nil {
		return err
	}
	for _, p := range r.plan.outputs() {
		if fi, err := os.Stat(filepath.Dir(p)); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s: directory %s does not exist", p, filepath.Dir(p))
		}
	}
	if len(r.plan.Command) > 0 {
		if _, err := launch.LookPath(r.plan.Command[0], r.childEnv(nil, nil)); err != nil {
			return err
		}
	}
	return nil
}

// read reads every source, retrying while a backend is unavailable.
func (r *runner) read(ctx context.Context, readers source.Readers) (*secrets, error) {
	var env *envfmt.Env
	var loaded []source.Loaded
	attempts := keepLeases(readers)
	err := retry.Do(ctx, retryPolicy(r.plan, r.log), func(ctx context.Context) error {
		var err error
		env, loaded, err = source.Collect(ctx, attempts, r.plan.Requests, r.plan.Override, source.AllowNames(r.plan.AllowNames...))
		return err
	})
	if err != nil {
		return nil, err
	}
	got := &secrets{loaded: loaded, vars: env.Vars()}
	for i, l := range loaded {
		r.log.Info("read secret", "source", l.Ref, "variables", len(l.Names), "version", l.Version)
		r.audit.Emit(readEvent(r.plan.Requests[i].Ref, l, false))
		if l.Lease != nil {
			got.leases++
		}
	}
	return got, nil
}

// render renders every output, so a value that cannot be represented fails
// the run before any file or output appears.
func (r *runner) render(vars map[string]string) (*rendered, error) {
	out := &rendered{}
	if r.plan.Print != "" {
		f, err := envfmt.ParseFormat(r.plan.Print)
		if err != nil {
			return nil, err
		}
		if err := envfmt.Render(&out.printed, f, vars); err != nil {
			return nil, err
		}
	}
	if r.plan.EnvFile != "" {
		if err := envfmt.EnvFile(&out.envFile, vars); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// issue issues the certificates, retrying while Vault is unavailable.
func (r *runner) issue(ctx context.Context, s *Session) ([]*pkicert.Cert, error) {
	// Concurrently, as the reads: each issue waits for Vault to generate
	// a key, and nothing links one certificate to another. A failure is
	// reported for the first failing request in order, as for the reads.
	certs := make([]*pkicert.Cert, len(r.plan.Certs))
	errs := make([]error, len(r.plan.Certs))
	sem := make(chan struct{}, source.MaxConcurrentReads)
	var wg sync.WaitGroup
	for i, req := range r.plan.Certs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = retry.Do(ctx, retryPolicy(r.plan, r.log), func(ctx context.Context) error {
				var err error
				certs[i], err = pkicert.Issue(ctx, s.Client(), req)
				return err
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			r.audit.Emit(certEvent("issued", r.plan.Certs[i], certs[i]))
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return certs, nil
}

// write writes the token sink, the env file, the certificates and the
// printed output, in that order.
func (r *runner) write(s *Session, out *rendered, certs []*pkicert.Cert, nvars int) error {
	p := r.plan
	if p.TokenSink != "" && s != nil {
		if err := secfile.Write(p.TokenSink, []byte(s.Token()+"\n")); err != nil {
			return err
		}
	}
	if p.EnvFile != "" {
		if err := secfile.Write(p.EnvFile, out.envFile.Bytes()); err != nil {
			return err
		}
		r.log.Info("wrote env file", "path", p.EnvFile, "variables", nvars)
	}
	for i, cert := range certs {
		if err := cert.Write(p.Certs[i].Dir); err != nil {
			return err
		}
		r.log.Info("wrote certificate", "dir", p.Certs[i].Dir, "serial", cert.Serial, "not_after", cert.NotAfter)
		cert.Zero()
	}
	if p.Print != "" {
		if _, err := r.io.Stdout.Write(out.printed.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// revokeIfUnused revokes a token prestart logged in for when nothing will
// use it after prestart is gone: no -pass-token, no -token-sink, and no
// leases (revoking a token revokes the leases it created, such as
// database credentials the application is about to use).
func (r *runner) revokeIfUnused(s *Session, leases int) {
	if r.plan.PassToken || r.plan.TokenSink != "" || leases > 0 {
		return
	}
	s.Revoke("no one uses it after start")
}

// childEnv is the application's environment: the process's without the
// bootstrap credentials (or only -keep-env names), plus the secrets, plus
// the token with -pass-token.
func (r *runner) childEnv(vars map[string]string, s *Session) []string {
	o := launch.EnvOptions{Pristine: r.plan.Pristine, Keep: r.plan.KeepEnv}
	if r.plan.PassToken {
		o.Token = s.Token()
	}
	return launch.Env(r.io.Environ, vars, o)
}

// fromEnvFile is the main-job half of the ContainerPilot recipe: load the
// file the preStart job wrote, remove it, exec.
func (r *runner) fromEnvFile() error {
	path := r.plan.FromEnvFile
	if _, err := launch.LookPath(r.plan.Command[0], r.childEnv(nil, nil)); err != nil {
		return err
	}
	b, err := secfile.ReadAndRemove(path, envfile.MaxSize)
	if err != nil {
		return consumed(err, "env file", path, false)
	}
	vars, err := envfile.Parse(bytes.NewReader(b))
	clear(b)
	if err != nil {
		return fmt.Errorf("env file %s: %w", path, err)
	}
	if len(vars) == 0 {
		return fmt.Errorf("env file %s holds no variables", path)
	}
	if err := r.auditExec(); err != nil {
		return err
	}
	return r.exec(r.plan.Command, r.childEnv(vars, nil))
}
