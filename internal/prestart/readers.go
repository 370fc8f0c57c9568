package prestart

import (
	"context"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/source/execsrc"
	"github.com/keyturn/keyturn/internal/source/vaultsrc"
)

// Option changes what a run can reach.
type Option func(*runner)

// ReaderFunc makes the reader of one scheme for a run.
type ReaderFunc func(ReaderEnv) source.Reader

// ReaderEnv is what a run gives the readers it makes.
type ReaderEnv struct {
	Log hclog.Logger
	// Poll is -poll: how long a resolved KMS alias may be trusted, for
	// instance.
	Poll time.Duration
	// Processes is held (shared) by a reader while it waits for a
	// command it started (an AWS credential_process, say): a
	// supervising prestart reaps with wait4(-1), which would otherwise
	// take that command's exit status. Hold it around the command only,
	// never around network I/O: reaping waits for it.
	Processes sync.Locker
}

// WithReader adds the reader of scheme. The s3:// reader comes in this
// way, so that a prestart built without it does not link the AWS SDK: that
// SDK's package initialisation alone costs a run that never reads S3 more
// than the rest of start-up together.
func WithReader(scheme string, f ReaderFunc) Option {
	return func(r *runner) {
		if r.extra == nil {
			r.extra = map[string]ReaderFunc{}
		}
		r.extra[scheme] = f
	}
}

// defaultReaders returns the source readers by scheme. vault:// needs the
// session; the other schemes bring their own credentials: exec: runs a
// command with the process environment minus the bootstrap credentials,
// and the readers added by WithReader (s3:// loads the AWS configuration,
// as the AWS CLI does, on first use).
func (r *runner) defaultReaders(s *Session) source.Readers {
	procs := r.procs.RLocker()
	readers := source.Readers{
		"exec": lockedReader{&execsrc.Reader{Stderr: r.io.Stderr, Environ: r.io.Environ}, procs},
	}
	for scheme, f := range r.extra {
		readers[scheme] = f(ReaderEnv{Log: r.log, Poll: r.plan.Supervise.Poll, Processes: procs})
	}
	if s != nil {
		readers["vault"] = vaultsrc.New(s.Client())
	}
	return readers
}

// lockedReader holds l for whole reads: an exec: source is a command from
// start to end.
type lockedReader struct {
	source.Reader
	l sync.Locker
}

func (r lockedReader) Read(ctx context.Context, ref source.Ref) (*source.Result, error) {
	r.l.Lock()
	defer r.l.Unlock()
	return r.Reader.Read(ctx, ref)
}

// checkSchemes refuses, before the login spends a one-time secret ID, a
// source that this build cannot read.
func (r *runner) checkSchemes() error {
	for _, req := range r.plan.Requests {
		switch scheme := req.Ref.Scheme; {
		case scheme == "vault", scheme == "exec", r.extra[scheme] != nil:
		default:
			return &UnsupportedSchemeError{Scheme: scheme, Ref: req.Ref.String()}
		}
	}
	return nil
}

// dryRun prints what a run would deliver: names, sources, versions and
// leases, never a value.
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
