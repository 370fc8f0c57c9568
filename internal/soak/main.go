// Command soak runs prestart -supervise for a long time against a dev Vault
// through a fault proxy that cuts Vault off periodically, and reports
// whether prestart kept up: renewals, logins, restarts, missed renewals
// (see ledger), and its threads, open files and resident memory at start
// and end, which must stay flat. It then scans prestart's log for every
// secret value, credential, token and private key it handled.
//
// The role's tokens live 3s with a 10s max TTL and its secret IDs are
// reusable; prestart reads two fields of a leased secret (10s lease) and
// issues a PKI certificate with a 10s TTL. A cut
// is a blackhole: connections are held open and nothing passes.
//
// It exits 1 when a renewal was missed outside the cuts, a secret reached
// the log or the audit trail, or goroutines, threads, open files or memory
// grew by more than 10% (and more than one) after the warm-up.
// `make soak` runs it; it is not part of `make test`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyturn/keyturn/internal/faultproxy"
)

const usage = `Usage:
    soak [flags]

Runs prestart -supervise against a dev Vault through a fault proxy that
cuts Vault off for -cut-for every -cut-every, then prints what prestart did
and how its threads, open files and memory moved. Exit 1 if a renewal was
missed outside the cuts, a secret reached prestart's log, or a resource
grew by more than 10%.

Flags:
    -duration D        how long to run (default 10m)
    -cut-every D       time between the starts of two cuts (default 2m)
    -cut-for D         how long each cut lasts (default 20s)
    -warmup D          time before the start figures are taken (default 1m:
                       Go's heap grows to its working size first)
    -settle D          time after a cut within which failures still count as
                       the cut's, and within which prestart must renew again
                       (default 30s: a request in flight, then the login
                       backoff)
    -client-timeout D  VAULT_CLIENT_TIMEOUT for prestart (default 0: unset, so
                       prestart's own 10s per request applies)
    -prestart FILE     prestart binary (default bin/prestart)
    -vault FILE        vault binary (default bin/vault)
    -keep              keep the work directory (logs) at the end
`

type config struct {
	duration, cutEvery, cutFor, settle, warmup, clientTimeout time.Duration
	prestart, vault                                           string
	keep                                                      bool
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.DurationVar(&cfg.duration, "duration", 10*time.Minute, "")
	fs.DurationVar(&cfg.cutEvery, "cut-every", 2*time.Minute, "")
	fs.DurationVar(&cfg.cutFor, "cut-for", 20*time.Second, "")
	fs.DurationVar(&cfg.settle, "settle", 30*time.Second, "")
	fs.DurationVar(&cfg.warmup, "warmup", time.Minute, "")
	fs.DurationVar(&cfg.clientTimeout, "client-timeout", 0, "")
	fs.StringVar(&cfg.prestart, "prestart", "bin/prestart", "")
	fs.StringVar(&cfg.vault, "vault", "bin/vault", "")
	fs.BoolVar(&cfg.keep, "keep", false, "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Print(usage)
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "soak: error: %v\n%s", err, usage)
		os.Exit(2)
	}
	if fs.NArg() > 0 || cfg.cutFor >= cfg.cutEvery || cfg.duration <= cfg.warmup {
		fmt.Fprintf(os.Stderr, "soak: error: want no arguments, -cut-for shorter than -cut-every, and -duration longer than -warmup\n%s", usage)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "soak: error: %v\n", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	var err error
	if cfg.prestart, err = filepath.Abs(cfg.prestart); err != nil {
		return err
	}
	if cfg.vault, err = filepath.Abs(cfg.vault); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "keyturn-soak-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Printf("work directory: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ctx := context.Background()
	v, err := startVault(cfg.vault, dir)
	if err != nil {
		return err
	}
	defer v.stop()
	secrets, err := v.setup(ctx)
	if err != nil {
		return fmt.Errorf("setting up vault: %w", err)
	}
	proxy, err := faultproxy.New(strings.TrimPrefix(v.addr, "http://"))
	if err != nil {
		return err
	}
	defer proxy.Close()
	wrapping, err := v.mint(ctx)
	if err != nil {
		return fmt.Errorf("minting a secret ID: %w", err)
	}
	secrets = append(secrets, wrapping)
	p, err := startPrestart(cfg, dir, proxy.URL("http"), v.roleID, wrapping)
	if err != nil {
		return err
	}
	defer p.kill()
	return soak(cfg, p, proxy, secrets)
}

// supervised is the running prestart.
type supervised struct {
	cmd                         *exec.Cmd
	dir, logPath, sink, certDir string
	metricsURL                  string
	done                        chan struct{}
}

// app records each start and each SIGHUP (prestart's -on-change signal
// for a renewed certificate or changed values), so that both can be
// counted from its side too, and exits 0 on SIGTERM.
const app = `echo start >> starts.txt
trap 'exit 0' TERM
trap 'echo hup >> hups.txt' HUP
while :; do sleep 1; done
`

func startPrestart(cfg config, dir, addr, roleID, wrapping string) (*supervised, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mport := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &supervised{dir: dir, logPath: filepath.Join(dir, "prestart.log"), sink: filepath.Join(dir, "token"),
		certDir: filepath.Join(dir, "tls"), metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", mport), done: make(chan struct{})}
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(app), 0o600); err != nil {
		return nil, err
	}
	if err := os.Mkdir(s.certDir, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(cfg.prestart, "-supervise", "-log-level", "debug", "-poll", "5s", "-timeout", "30s", "-on-change", "signal:SIGHUP",
		"-audit", filepath.Join(dir, "audit.jsonl"), "-audit-tag", "run=soak",
		"-metrics-addr", fmt.Sprintf("127.0.0.1:%d", mport), "-token-sink", s.sink,
		"-secret", "LEASED=vault://secret/app/lease#password",
		"-secret", "USER=vault://secret/app/lease#user",
		"-cert", s.certDir+"=pki/issue/app?common_name=app.example.internal&ttl=10s",
		"--", "sh", "app.sh")
	s.cmd.Dir = dir
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "VAULT_ADDR=" + addr,
		"VAULT_ROLE_ID=" + roleID, "VAULT_WRAPPED_SECRET_ID=" + wrapping}
	if cfg.clientTimeout > 0 {
		s.cmd.Env = append(s.cmd.Env, "VAULT_CLIENT_TIMEOUT="+strconv.Itoa(int(cfg.clientTimeout/time.Second))+"s")
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.prestart, err)
	}
	go func() { _ = s.cmd.Wait(); logf.Close(); close(s.done) }()
	return s, nil
}

func (s *supervised) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *supervised) kill() {
	if s.running() {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// stop sends SIGTERM and returns prestart's exit code.
func (s *supervised) stop() (int, error) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.cmd.ProcessState.ExitCode(), nil
	case <-time.After(20 * time.Second):
		return -1, errors.New("prestart did not exit within 20s of SIGTERM")
	}
}

// credentials collects what prestart holds that is not known in advance:
// every token the sink showed, and the certificate's private key.
func (s *supervised) credentials(seen map[string]bool) {
	if b, err := os.ReadFile(s.sink); err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			seen[tok] = true
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.certDir, "key.pem")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
				seen[line] = true
			}
		}
	}
}

func soak(cfg config, p *supervised, proxy *faultproxy.Proxy, secrets []string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var first sample
	var err error
	// Ready once the app runs and the first renewal went through.
	for deadline := time.Now().Add(60 * time.Second); ; {
		first, err = scrape(client, p.metricsURL, p.cmd.Process.Pid)
		if err == nil && first.get("keyturn_token_renewals_total") >= 1 {
			break
		}
		if !p.running() || time.Now().After(deadline) {
			return fmt.Errorf("prestart did not start supervising (log: %s): %v", p.logPath, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	start := time.Now()
	end := start.Add(cfg.duration)
	fmt.Printf("soak: %s, Vault cut off (blackhole) for %s every %s, settle %s, VAULT_CLIENT_TIMEOUT %s\n",
		cfg.duration, cfg.cutFor, cfg.cutEvery, cfg.settle, orDefault(cfg.clientTimeout))
	l := &ledger{settle: cfg.settle}
	l.add(first)
	creds := map[string]bool{}
	var cut *window
	nextCut := start.Add(cfg.cutEvery)
	last, warm := first, false
	var rss [2]int      // lowest and highest RSS after the warm-up
	var warmed []sample // every sample after the warm-up
	var lastMark time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for now := range tick.C {
		if !now.Before(end) {
			break
		}
		if cut == nil && !now.Before(nextCut) && now.Add(cfg.cutFor).Before(end) {
			proxy.Blackhole()
			cut = &window{start: now}
			l.windows = append(l.windows, cut)
			fmt.Printf("  %s cut %d: Vault cut off\n", now.Sub(start).Round(time.Second), len(l.windows))
		}
		if cut != nil && !now.Before(cut.start.Add(cfg.cutFor)) {
			proxy.Pass()
			cut.end = now
			cut = nil
			nextCut = nextCut.Add(cfg.cutEvery)
		}
		if !p.running() {
			return fmt.Errorf("prestart exited during the soak with %d (log: %s)", p.cmd.ProcessState.ExitCode(), p.logPath)
		}
		s, err := scrape(client, p.metricsURL, p.cmd.Process.Pid)
		if err != nil {
			return fmt.Errorf("sampling prestart: %w", err)
		}
		l.add(s)
		last = s
		if !warm && !now.Before(start.Add(cfg.warmup)) {
			warm = true
			rss = [2]int{s.rssKB, s.rssKB}
		}
		if warm {
			warmed = append(warmed, s)
			rss = [2]int{min(rss[0], s.rssKB), max(rss[1], s.rssKB)}
			if s.at.Sub(lastMark) >= time.Minute {
				lastMark = s.at
				fmt.Printf("  %s RSS %d kB, %d goroutines, %d threads, %d fds\n", s.at.Sub(start).Round(time.Second), s.rssKB, int(s.get("go_goroutines")), s.threads, s.fds)
			}
		}
		p.credentials(creds)
	}
	if cut != nil {
		proxy.Pass()
		cut.end = time.Now()
	}
	l.finish(last.at)
	code, stopErr := p.stop()
	starts, _ := os.ReadFile(filepath.Join(p.dir, "starts.txt"))
	hups, _ := os.ReadFile(filepath.Join(p.dir, "hups.txt"))
	log, err := os.ReadFile(p.logPath)
	if err != nil {
		return err
	}
	// The audit trail is scanned as the log is.
	trail, err := os.ReadFile(filepath.Join(p.dir, "audit.jsonl"))
	if err != nil {
		return fmt.Errorf("prestart wrote no audit trail: %w", err)
	}
	log = append(log, trail...)
	for _, s := range secrets {
		creds[s] = true
	}
	leaks := 0
	for c := range creds {
		if strings.Contains(string(log), c) {
			leaks++
		}
	}
	return report(cfg, first, last, l, reportExtra{
		code: code, stopErr: stopErr, appStarts: strings.Count(string(starts), "start\n"), appHUPs: strings.Count(string(hups), "hup\n"),
		scanned: len(creds), leaks: leaks, rss: rss, logBytes: len(log), proxy: proxy.Stats(),
		early: floor(within(warmed, 0, time.Minute)), late: floor(within(warmed, -time.Minute, 0)),
	})
}

type reportExtra struct {
	code               int
	stopErr            error
	appStarts, appHUPs int
	scanned, leaks     int
	logBytes           int
	rss                [2]int
	proxy              faultproxy.Stats
	// early and late are the floors of the first and the last minute
	// after the warm-up.
	early, late resources
}

func abs(n int) int { return max(n, -n) }

// within returns the samples from from to to, measured from the first
// sample when from >= 0 and from the last one when it is negative.
func within(samples []sample, from, to time.Duration) []sample {
	if len(samples) == 0 {
		return nil
	}
	ref := samples[0].at
	if from < 0 {
		ref = samples[len(samples)-1].at
	}
	var out []sample
	for _, s := range samples {
		d := s.at.Sub(ref)
		// Half-open, so that one minute holds one minute of samples.
		if (from >= 0 && d >= from && d < to) || (from < 0 && d > from && d <= to) {
			out = append(out, s)
		}
	}
	return out
}

func orDefault(d time.Duration) string {
	if d <= 0 {
		return "unset (prestart's 10s)"
	}
	return d.String()
}

// report prints the run and returns an error if it failed a criterion.
// The counters run from first to last; the resources compare the floor of
// the first minute after the warm-up with that of the last minute (see
// floor).
func report(cfg config, first, last sample, l *ledger, x reportExtra) error {
	diff := func(name string) int { return int(last.get(name) - first.get(name)) }
	fmt.Printf("\n%-28s %10s %10s %8s\n", "prestart", "start", "end", "change")
	fmt.Printf("(lowest values of the first minute after the %s warm-up and of the last minute)\n", cfg.warmup)
	var grew []string
	row := func(name string, a, b int) {
		change := 0.0
		if a > 0 {
			change = 100 * float64(b-a) / float64(a)
		}
		fmt.Printf("%-28s %10d %10d %+7.1f%%\n", name, a, b, change)
		// Flat: within 10%, or one unit for counts too small for 10%
		// to be one (a Go runtime that starts its tenth thread).
		if math.Abs(change) > 10 && abs(b-a) > 1 {
			grew = append(grew, fmt.Sprintf("%s %+.1f%%", name, change))
		}
	}
	row("goroutines", x.early.goroutines, x.late.goroutines)
	row("threads", x.early.threads, x.late.threads)
	row("open fds", x.early.fds, x.late.fds)
	row("RSS kB", x.early.rssKB, x.late.rssKB)
	fmt.Printf("(RSS after the warm-up: lowest %d kB, highest %d kB)\n", x.rss[0], x.rss[1])
	fmt.Printf("\nduring %s (%d cuts):\n", last.at.Sub(first.at).Round(time.Second), len(l.windows))
	for _, c := range []struct{ label, metric string }{
		{"token renewals", "keyturn_token_renewals_total"},
		{"lease renewals", "keyturn_lease_renewals_total"},
		{"logins (max TTL and after cuts)", "keyturn_relogins_total"},
		{"failed renewals and logins", "keyturn_renewal_failures_total"},
		{"re-reads", "keyturn_secret_reads_total"},
		{"failed re-reads", "keyturn_secret_read_failures_total"},
		{"app signalled (SIGHUP, metric)", "keyturn_child_restarts_total"},
	} {
		fmt.Printf("  %-34s %d\n", c.label, diff(c.metric))
	}
	fmt.Printf("  %-34s %d\n", "app starts (seen by the app)", x.appStarts)
	fmt.Printf("  %-34s %d\n", "SIGHUPs seen by the app", x.appHUPs)
	fmt.Printf("  %-34s %d\n", "missed renewals outside the cuts", l.missed)
	fmt.Printf("  %-34s %d\n", "failed re-reads outside the cuts", l.readFailures)
	for i, w := range l.windows {
		rec := "not recovered"
		if !w.recovered.IsZero() {
			rec = "renewing again " + w.recovered.Sub(w.end).Round(time.Second).String() + " after it ended"
		}
		fmt.Printf("  cut %d: %s, %s\n", i+1, w.end.Sub(w.start).Round(time.Second), rec)
	}
	for _, n := range l.notes {
		fmt.Printf("  %s\n", n)
	}
	fmt.Printf("  proxy: %d connections, %d open at the end\n", x.proxy.Connections, x.proxy.Open)
	fmt.Printf("  log and audit trail: %d bytes scanned for %d secrets, credentials, tokens and key lines: %d found\n", x.logBytes, x.scanned, x.leaks)
	fmt.Printf("  exit code after SIGTERM: %d\n", x.code)
	var fails []string
	if l.missed > 0 {
		fails = append(fails, fmt.Sprintf("%d missed renewals outside the cuts", l.missed))
	}
	if x.leaks > 0 {
		fails = append(fails, fmt.Sprintf("%d secrets or credentials in prestart's log", x.leaks))
	}
	if len(grew) > 0 {
		fails = append(fails, "not flat: "+strings.Join(grew, ", "))
	}
	if x.appStarts != 1 {
		fails = append(fails, fmt.Sprintf("the app started %d times, want once", x.appStarts))
	}
	if x.stopErr != nil {
		fails = append(fails, x.stopErr.Error())
	} else if x.code != 0 {
		fails = append(fails, fmt.Sprintf("exit code %d after SIGTERM, want the app's 0", x.code))
	}
	if len(fails) > 0 {
		return errors.New(strings.Join(fails, "; "))
	}
	fmt.Println("soak: ok")
	return nil
}
