package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// report collects the results and renders them as markdown, the same text
// on stdout and in -out.
type report struct {
	opts                     *options
	bins                     *binaries
	started                  time.Time
	machine, goVer, vaultVer string
	minioVer                 string
	startup                  *timings
	startupCase              *benchCase
	cases                    []*benchCase
	starts                   *timings
	counts                   counts
	mint                     []*mintResult
	mintCounts               [3]requests
	supervise                *superviseRun
}

func (r *report) versions() error {
	r.goVer = runtime.Version()
	r.machine = machineLine()
	if r.opts.needVault() {
		r.vaultVer = firstLine(exec.Command(r.bins.vault, "version"))
	}
	if r.opts.needS3() {
		r.minioVer = firstLine(exec.Command(r.bins.minio, "--version"))
	}
	return nil
}

func firstLine(cmd *exec.Cmd) string {
	out, err := cmd.Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// machineLine is "CPU model, N cores, kernel release".
func machineLine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
		f.Close()
	}
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + strings.TrimSpace(string(b))
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s", cpu, runtime.NumCPU(), mem, kernel)
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Benchmarks\n\n")
	p("Written by `go run ./internal/bench` (which `make bench` runs), flags `%s`, on %s.\n\n", r.flagsLine(), r.started.UTC().Format("2006-01-02 15:04 UTC"))
	p("- Machine: %s\n- Go: %s\n", r.machine, r.goVer)
	if r.vaultVer != "" {
		p("- Vault: %s (dev server, loopback)\n", r.vaultVer)
	}
	if r.minioVer != "" {
		p("- MinIO: %s (loopback); KMS: keyturn's KMS test server (internal/kmstest) on loopback\n", r.minioVer)
	}
	p("\n%s\n", method)
	if r.startup != nil {
		r.startupTable(p)
	}
	if r.starts != nil {
		r.caseTables(p)
	}
	if len(r.mint) > 0 {
		r.mintTable(p)
	}
	r.resources(p)
	r.targets(p)
	return b.String()
}

const method = `Each case starts a trivial app (a shell that checks the first and the last
variable) from a fresh one-time credential; minting it is not timed. A
contender's time runs from fork to the exit of the app. Every round runs
every contender of every case once, starting one further along each
round, after one warm-up round that is not counted. "ratio" is the
median over rounds of prestart's time divided by the contender's time in
the same round. Requests are counted at the servers during one extra start
of each contender: Vault's file audit device (enabled only then), a
counting proxy in front of MinIO, the KMS server's own counters. The
prestart -supervise of the memory measurement renews its token (one small
request about every 0.7 s) in the background of all of it. The Vault is a
dev server (in-memory storage), configured by issuer bootstrap with its
defaults: the roles' and the launcher's tokens carry keyturn-token, not
Vault's default policy, for every contender alike. The shell way checks
no creation_path and revokes nothing, and Vault Agent runs auto_auth
approle, one env_template per variable and exec.

The bare clients are part of the benchmark, not of keyturn: barevault
makes prestart's Vault requests with net/http and encoding/json only;
bares3 makes its S3 and KMS requests with aws-sdk-go-v2 (configured by
config.LoadDefaultConfig, as any SDK program is) and opens the envelope
with keyturn's public envelope package (standard library only). Both
are built like prestart (CGO_ENABLED=0 -trimpath -ldflags='-s -w') and
execve the app.

Two contenders measure the floor of any client built on the official
Vault client, github.com/hashicorp/vault/api, whose package
initialisation runs on every start, used or not. "bare client + vault/api
init" is barevault built with vault/api linked but never called
(barevault-api): it makes the same requests as the bare client, in the
start cases and for mint. "vault/api alone" is a program with an empty
main that only links vault/api: it makes none. Their time over the bare
client's, or the empty program's, is what linking the official client
costs on every start.
`

func (r *report) flagsLine() string {
	o := r.opts
	return fmt.Sprintf("-n %d -startup %d -mint-rounds %d -mints %d -renewals %d", o.n, o.startupN, o.mintRounds, o.mints, o.renewals)
}

func (r *report) startupTable(p func(string, ...any)) {
	c := r.startupCase
	p("## Start-up alone\n\n%s, %d rounds.\n\n", c.title, r.opts.startupN)
	p("| | min ms | median ms | max ms |\n|---|--:|--:|--:|\n")
	for _, ct := range c.contenders {
		s := statsOf(r.startup.of(c.id, ct.name))
		p("| %s | %s | %s | %s |\n", ct.name, ms(s.min), ms(s.med), ms(s.max))
	}
	p("\nMedians of paired ratios:\n\n")
	p("- prestart -version / empty program: **%.2fx**\n", r.startupRatio())
	p("- vault/api alone / empty program: **%.2fx**\n", r.apiOnlyRatio())
	p("- prestart -version / vault/api alone: **%.2fx**\n\n", pairedRatio(r.startup.of("startup", "prestart -version"), r.startup.of("startup", "vault/api alone")))
}

func (r *report) startupRatio() float64 {
	return pairedRatio(r.startup.of("startup", "prestart -version"), r.startup.of("startup", "empty Go program"))
}

func (r *report) apiOnlyRatio() float64 {
	return pairedRatio(r.startup.of("startup", "vault/api alone"), r.startup.of("startup", "empty Go program"))
}

func (r *report) caseTables(p func(string, ...any)) {
	p("## Time to exec\n\n%d rounds.\n\n", r.opts.n)
	for _, c := range r.cases {
		p("### %s (`%s`)\n\n", c.title, c.id)
		p("| contender | min ms | median ms | max ms | prestart / it | requests per start |\n|---|--:|--:|--:|--:|---|\n")
		ref := r.starts.of(c.id, c.contenders[0].name)
		for _, ct := range c.contenders {
			if ct.na != "" {
				p("| %s | n/a | n/a | n/a | | %s |\n", ct.name, ct.na)
				continue
			}
			t := r.starts.of(c.id, ct.name)
			s := statsOf(t)
			ratio := "1"
			if ct.name != c.contenders[0].name {
				ratio = fmt.Sprintf("%.3fx", pairedRatio(ref, t))
			}
			req := r.counts[c.id][ct.name]
			p("| %s | %s | %s | %s | %s | %d: %s |\n", ct.name, ms(s.min), ms(s.med), ms(s.max), ratio, req.total(), req.summary())
		}
		p("\n")
	}
}

func (r *report) mintTable(p func(string, ...any)) {
	p("## issuer mint throughput\n\n")
	p("One process per mint (one response-wrapped secret ID, with a token that may only mint for the role), as a launcher runs it; ")
	p("each launcher mints one secret ID after the other, all launchers at once; rounds alternate issuer, the bare client (barevault -mint) ")
	p("and the bare client with vault/api's initialisation (barevault-api -mint).\n\n")
	c := r.mintCounts
	p("Requests per mint: issuer %d (%s), bare client %d (%s), bare client + vault/api init %d (%s).\n\n",
		c[0].total(), c[0].summary(), c[1].total(), c[1].summary(), c[2].total(), c[2].summary())
	p("| launchers | mints per round | issuer mints/s (min / median / max) | bare client mints/s | bare client + vault/api init mints/s | issuer / bare | floor: + vault/api init / bare | issuer / + vault/api init |\n")
	p("|--:|--:|---|---|---|--:|--:|--:|\n")
	for _, m := range r.mint {
		p("| %d | %d | %s | %s | %s | %.3fx | %.3fx | %.3fx |\n", m.launchers, m.launchers*m.perLauncher, spread(m.issuer), spread(m.bare), spread(m.bareAPI), m.ratio, m.floor, m.issuerAPI)
	}
	p("\n")
}

func spread(v []float64) string {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return fmt.Sprintf("%.0f / %.0f / %.0f", lo, medianF(v), hi)
}

func (r *report) resources(p func(string, ...any)) {
	p("## Memory and size\n\n")
	if s := r.supervise; s != nil && len(s.samples) > 0 {
		p("prestart -supervise around a sleeping app, token TTL 1 s (Vault's shortest), renewed by prestart about every 0.7 s ")
		p("while the rest of the benchmark ran; renewals as counted by prestart's own keyturn_token_renewals_total. ")
		p("Go returns freed memory to the system lazily, so RSS that levels off is the heap finding its size; RSS that keeps growing is a leak.\n\n")
		p("| | after | RSS |\n|---|--:|--:|\n")
		p("| start (first renewal done) | | %.1f MB |\n", float64(s.rssStart)/1024)
		for _, x := range s.samples {
			p("| %d renewals | %s | %.1f MB |\n", x.renewals, x.at.Round(time.Second), float64(x.rss)/1024)
		}
		p("| peak (VmHWM) | | %.1f MB |\n\n", float64(s.hwmEnd)/1024)
		p("Failed renewals or logins meanwhile: %d; new logins: %d.\n\n", s.failures, s.relogins)
	}
	p("| static binary (CGO_ENABLED=0 -trimpath -ldflags='-s -w') | size |\n|---|--:|\n")
	for _, f := range []struct{ name, path string }{
		{"prestart", r.bins.prestart},
		{"prestart-s3 (beside it, for s3://)", filepath.Join(filepath.Dir(r.bins.prestart), "prestart-s3")},
		{"issuer", r.bins.issuer},
		{"barevault (bare client)", r.bins.barevault},
		{"barevault-api (bare client + vault/api init)", r.bins.barevaultAPI},
		{"bares3 (bare client)", r.bins.bares3},
		{"apionly (vault/api alone)", r.bins.apiOnly},
		{"empty Go program", r.bins.empty},
	} {
		if fi, err := os.Stat(f.path); err == nil {
			p("| %s | %.1f MB |\n", f.name, float64(fi.Size())/1e6)
		}
	}
	p("\n")
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
