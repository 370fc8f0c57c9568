// Command bench measures how long it takes from a container's start to a
// running application that holds its secrets, for every backend prestart
// reads, in one run on the same servers: a loopback dev Vault, a MinIO, and
// keyturn's KMS test server.
//
// Each case (one job: one KV secret, a wrapped secret ID, 20 paths, an S3
// envelope of 1 or 200 variables, a prefix of 20 KMS blobs) has contenders
// doing the same job: prestart; a bare client making the same requests
// with nothing but net/http (Vault) or aws-sdk-go-v2 (S3), then execve
// (barevault and bares3, kept here and not in the product); for Vault,
// barevault again with the official Vault client linked but unused
// (barevault-api), the floor of any client built on it; Vault Agent in
// process-supervisor mode; and the shell way with the Vault CLI. Rounds
// run every contender of every case once, each round starting one further
// along, so that noise falls on all alike; the report gives min, median
// and max, and the median of the paired per-round ratios.
//
// It also times prestart -version against an empty Go program and one
// that only links vault/api, issuer mint against the bare client's mint
// (and barevault-api's) with 1 and 32 concurrent launchers, counts the
// requests of each start at the servers (Vault's file audit device, a
// counting proxy in front of MinIO, the KMS server's counters), and reads
// the memory of prestart -supervise after its start and after N token
// renewals. -out writes the report as markdown (docs/benchmarks.md).
//
// It is a benchmark, not a test: it fails only when something does not
// start; the report says which targets were met.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const usage = `Usage: go run ./internal/bench [flags]

Builds the bare clients (barevault also as barevault-api, with vault/api
linked but unused), an empty Go program and one that only links vault/api,
starts a dev Vault (-vault), a MinIO (-minio) and a KMS test server on
loopback, and measures.
make bench builds the binaries (make build) and runs it with -out docs/benchmarks.md.

Flags:
  -prestart FILE   prestart, static build (default bin/prestart: the lean
                   build, which runs bin/prestart-s3 beside it for s3://)
  -issuer FILE     issuer, static build (default bin/issuer)
  -vault FILE      vault binary (default bin/vault)
  -minio FILE      minio binary (default bin/minio)
  -cases LIST      comma-separated subset of: startup, kv1, kv1-wrapped, kv20,
                   s3-env1, s3-env200, s3-blobs20, mint, supervise (default all)
  -n N             rounds of the start cases (default 31; the rounds take less
                   time than the renewals, which run meanwhile)
  -startup N       rounds of the start-up case (default 200)
  -mint-rounds N   rounds of each mint measurement (default 5)
  -mints N         mints per round: N with 1 launcher, 4N spread over 32 (default 32)
  -renewals N      token renewals of prestart -supervise, whose memory is read
                   at each quarter of them (default 1000, at least 4; about
                   0.7 s each, in the background of the rest)
  -out FILE        also write the report as markdown to FILE
`

func main() {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	var o options
	fs.StringVar(&o.bins.prestart, "prestart", "bin/prestart", "")
	fs.StringVar(&o.bins.issuer, "issuer", "bin/issuer", "")
	fs.StringVar(&o.bins.vault, "vault", "bin/vault", "")
	fs.StringVar(&o.bins.minio, "minio", "bin/minio", "")
	cases := fs.String("cases", "", "")
	fs.IntVar(&o.n, "n", 31, "")
	fs.IntVar(&o.startupN, "startup", 200, "")
	fs.IntVar(&o.mintRounds, "mint-rounds", 5, "")
	fs.IntVar(&o.mints, "mints", 32, "")
	fs.Int64Var(&o.renewals, "renewals", 1000, "")
	fs.StringVar(&o.out, "out", "", "")
	if err := fs.Parse(os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		os.Exit(2)
	}
	if err := o.parseCases(*cases); err != nil || o.n < 1 || o.startupN < 1 || o.mintRounds < 1 || o.mints < 1 || o.renewals < 4 {
		if err == nil {
			err = fmt.Errorf("-n, -startup, -mint-rounds and -mints must be at least 1, -renewals at least 4")
		}
		fmt.Fprintf(os.Stderr, "bench: error: %v\n", err)
		os.Exit(2)
	}
	if err := run(&o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: error: %v\n", err)
		os.Exit(1)
	}
}

var allCases = []string{"startup", "kv1", "kv1-wrapped", "kv20", "s3-env1", "s3-env200", "s3-blobs20", "mint", "supervise"}

type options struct {
	bins                    binaries
	want                    map[string]bool
	n, startupN, mintRounds int
	mints                   int
	renewals                int64
	out                     string
}

func (o *options) parseCases(list string) error {
	o.want = map[string]bool{}
	if list == "" {
		for _, c := range allCases {
			o.want[c] = true
		}
		return nil
	}
	for _, c := range strings.Split(list, ",") {
		c = strings.TrimSpace(c)
		ok := false
		for _, a := range allCases {
			ok = ok || a == c
		}
		if !ok {
			return fmt.Errorf("-cases: unknown case %q (have %s)", c, strings.Join(allCases, ", "))
		}
		o.want[c] = true
	}
	return nil
}

func (o *options) needVault() bool {
	return o.want["kv1"] || o.want["kv1-wrapped"] || o.want["kv20"] || o.want["mint"] || o.want["supervise"]
}

func (o *options) needS3() bool {
	return o.want["s3-env1"] || o.want["s3-env200"] || o.want["s3-blobs20"]
}

func progress(s string) { fmt.Fprintf(os.Stderr, "bench: %s %s\n", time.Now().Format("15:04:05"), s) }

func run(o *options) error {
	b := &o.bins
	for _, p := range []*string{&b.prestart, &b.issuer, &b.vault, &b.minio} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	need := []string{b.prestart}
	if o.needVault() {
		need = append(need, b.vault)
	}
	if o.want["mint"] {
		need = append(need, b.issuer)
	}
	if o.needS3() {
		need = append(need, b.minio)
	}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (make bench builds it)", err)
		}
	}
	dir, err := os.MkdirTemp("", "keyturn-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	progress("building the bare clients and the empty programs")
	if err := b.build(dir); err != nil {
		return err
	}
	r := &report{opts: o, started: time.Now(), bins: b}
	var v *vaultLab
	if o.needVault() {
		progress("starting vault")
		if v, err = startVault(b.vault, dir); err != nil {
			return err
		}
		defer v.stop()
	}
	var sup *superviseRun
	if o.want["supervise"] {
		progress("starting prestart -supervise (renewals run in the background)")
		if sup, err = startSupervise(b, v, o.renewals); err != nil {
			return err
		}
		defer sup.stop()
		r.supervise = sup
	}
	var l *s3Lab
	if o.needS3() {
		progress("starting minio and the KMS server, writing the objects")
		if l, err = startS3(b.minio, dir); err != nil {
			return err
		}
		defer l.stop()
	}
	if o.want["startup"] {
		progress(fmt.Sprintf("start-up: %d rounds", o.startupN))
		sc := []*benchCase{startupCase(b)}
		if r.startup, err = runRounds(sc, o.startupN, func(string) {}); err != nil {
			return err
		}
		r.startupCase = sc[0]
	}
	var cases []*benchCase
	if v != nil {
		for _, c := range vaultCases(b, v) {
			if o.want[c.id] {
				cases = append(cases, c)
			}
		}
	}
	if l != nil {
		for _, c := range s3Cases(b, l) {
			if o.want[c.id] {
				cases = append(cases, c)
			}
		}
	}
	if len(cases) > 0 {
		progress(fmt.Sprintf("counting the requests of one start of each (%d cases)", len(cases)))
		if r.counts, err = countRequests(cases, v, l); err != nil {
			return err
		}
		progress(fmt.Sprintf("timing: %d rounds of %d cases", o.n, len(cases)))
		if r.starts, err = runRounds(cases, o.n, progress); err != nil {
			return err
		}
		r.cases = cases
	}
	if o.want["mint"] {
		progress("counting the requests of one mint each")
		if r.mintCounts, err = countMint(b, v); err != nil {
			return err
		}
		for _, c := range [][2]int{{1, o.mints}, {32, max(1, o.mints/8)}} {
			progress(fmt.Sprintf("mint: %d launchers × %d mints, %d rounds", c[0], c[1], o.mintRounds))
			m, err := benchMint(b, v, c[0], c[1], o.mintRounds)
			if err != nil {
				return err
			}
			r.mint = append(r.mint, m)
		}
	}
	if sup != nil {
		progress(fmt.Sprintf("supervise: waiting for %d token renewals", o.renewals))
		if err := sup.finish(o.renewals, progress); err != nil {
			return err
		}
	}
	if err := r.versions(); err != nil {
		return err
	}
	md := r.markdown()
	fmt.Print(md)
	if o.out != "" {
		return writeFile(o.out, []byte(md))
	}
	return nil
}

// writeFile replaces path atomically (temp file in the same directory,
// then rename), so a failed run leaves the last report in place.
func writeFile(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".bench-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
