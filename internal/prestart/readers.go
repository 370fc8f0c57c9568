package prestart

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/source/execsrc"
	"github.com/keyturn/keyturn/internal/source/s3src"
	"github.com/keyturn/keyturn/internal/source/vaultsrc"
)

// defaultReaders returns the source readers by scheme. vault:// needs the
// session; the other schemes bring their own credentials: s3:// loads the
// AWS configuration (as the AWS CLI does) on first use, exec: runs a
// command with the process environment minus the bootstrap credentials.
func (r *runner) defaultReaders(s *Session) source.Readers {
	readers := source.Readers{
		"s3": s3src.NewReader(func(ctx context.Context) (*s3src.Store, error) {
			return s3src.Load(ctx, s3src.Options{Logger: r.log, AliasTTL: r.plan.Supervise.Poll})
		}),
		"exec": &execsrc.Reader{Stderr: r.io.Stderr, Environ: r.io.Environ},
	}
	if s != nil {
		readers["vault"] = vaultsrc.New(s.Client())
	}
	return readers
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
