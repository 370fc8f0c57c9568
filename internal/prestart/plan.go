package prestart

import (
	"errors"
	"fmt"
	"github.com/keyturn/keyturn/internal/envfmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/keyturn/keyturn/internal/pkicert"
	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/spec"
	"github.com/keyturn/keyturn/internal/vaultconn"
)

// Plan is everything one run of prestart will do, decided before it logs in.
type Plan struct {
	Vault       vaultconn.Flags
	Credentials Credentials
	Requests    []source.Request  // in command-line order: with Override the later wins
	Certs       []pkicert.Request // certificates to issue
	SpecFile    string            // an HCL spec whose blocks come before the flags'
	Override    bool              // a later source wins a name clash
	Timeout     time.Duration     // how long an unavailable backend is retried

	EnvFile     string // write the variables here (0600)
	FromEnvFile string // load this file, remove it, exec
	Print       string // shell, dotenv or json on stdout
	TokenSink   string // write the Vault token here (0600)
	DryRun      bool

	Command   []string
	PassToken bool     // give the child VAULT_TOKEN
	Pristine  bool     // start the child's environment empty
	KeepEnv   []string // but for these names

	// AllowNames are names that change how programs load or run
	// (envfmt's unsafe list) that secret data may set all the same.
	AllowNames []string

	Supervise Supervision
	LogLevel  string

	// AuditFile is where the audit trail goes (-audit): a file appended
	// to, "-" for stderr, "" for none. AuditTags label every line.
	AuditFile string
	AuditTags map[string]string
}

// Credentials say where the Vault login comes from.
type Credentials struct {
	RoleIDFile       string
	SecretIDFile     string
	KeepSecretIDFile bool
	Role             string // accept only a wrapping token minted for this role
	Mount            string // AppRole mount
}

// Supervision configures -supervise.
type Supervision struct {
	Enabled     bool
	Poll        time.Duration
	OnChange    string // restart or signal:NAME
	StopSignal  string
	Grace       time.Duration
	NoRevoke    bool
	MetricsAddr string
	// OnLoginRefused is keep (the app runs on, degraded) or stop (exit 3)
	// when Vault refuses the login after the token expired.
	OnLoginRefused string

	changeSig, stopSig syscall.Signal // parsed by Complete
}

// Complete merges the spec file into the plan and rejects combinations that
// cannot mean what the user wants. Its errors are usage errors.
func (p *Plan) Complete() error {
	if p.SpecFile != "" {
		sp, err := spec.Load(p.SpecFile)
		if err != nil {
			return usage(err)
		}
		// The image's contract first; flags add to it (and win a clash
		// only with -override).
		p.Requests = append(sp.Requests, p.Requests...)
		p.Certs = append(sp.Certs, p.Certs...)
		p.Override = p.Override || sp.Override
	}
	if len(p.AuditTags) > 0 && p.AuditFile == "" {
		return usagef("-audit-tag labels the lines of -audit; give -audit FILE or -audit -")
	}
	if p.FromEnvFile != "" {
		return p.checkFromEnvFile()
	}
	if err := p.checkOutputs(); err != nil {
		return err
	}
	if !p.NeedsVault() && (p.TokenSink != "" || p.PassToken) {
		return usagef("-token-sink and -pass-token need a vault:// source (there is no Vault token otherwise)")
	}
	if err := p.Supervise.check(len(p.Command) > 0, p.Print != "" || p.DryRun); err != nil {
		return err
	}
	if p.Timeout < 0 {
		return usagef("-timeout cannot be negative")
	}
	for _, n := range p.AllowNames {
		if !envfmt.ValidName(n) {
			return usagef("-allow-name %q is not a variable name", n)
		}
	}
	p.Credentials.Mount = strings.Trim(p.Credentials.Mount, "/")
	return nil
}

func (p *Plan) checkFromEnvFile() error {
	if len(p.Requests) > 0 || p.EnvFile != "" || p.Print != "" || p.DryRun || p.TokenSink != "" {
		return usagef("-from-env-file only loads a file and execs; it takes no -secret, -secrets, -env-file, -print, -token-sink or -dry-run")
	}
	if len(p.Command) == 0 {
		return usagef("-from-env-file needs a command after --")
	}
	return nil
}

func (p *Plan) checkOutputs() error {
	if len(p.Requests) == 0 && len(p.Certs) == 0 {
		return usage(errors.New("no secrets requested"), "add -secret NAME=vault://MOUNT/PATH#FIELD, -secrets vault://MOUNT/PATH or -cert DIR=pki/issue/ROLE?common_name=NAME")
	}
	if p.Print != "" {
		switch p.Print {
		case "shell", "dotenv", "json":
		default:
			return usagef("-print must be shell, dotenv or json, not %q", p.Print)
		}
		if len(p.Command) > 0 {
			return usagef("-print writes to stdout and exits; it takes no command")
		}
	}
	if p.DryRun && len(p.Command) > 0 {
		return usagef("-dry-run starts nothing; drop the command")
	}
	if len(p.Command) == 0 && p.EnvFile == "" && p.Print == "" && !p.DryRun && p.TokenSink == "" {
		return usage(errors.New("nothing to do"), "give a command after --, or -env-file, -print or -dry-run")
	}
	return nil
}

func (s *Supervision) check(hasCommand, printsOrDryRun bool) error {
	if !s.Enabled {
		return nil
	}
	if !hasCommand {
		return usagef("-supervise needs a command after --")
	}
	if printsOrDryRun {
		return usagef("-supervise runs the command; it takes no -print or -dry-run")
	}
	var err error
	if s.changeSig, err = parseOnChange(s.OnChange); err != nil {
		return usage(err)
	}
	if s.stopSig, err = parseSignal(s.StopSignal); err != nil {
		return usage(err)
	}
	switch s.OnLoginRefused {
	case "", "keep", "stop":
	default:
		return usagef("-on-login-refused %q: want keep or stop", s.OnLoginRefused)
	}
	if s.Poll < 0 || s.Grace < 0 {
		return usagef("-poll and -grace cannot be negative")
	}
	return nil
}

// NeedsVault reports whether any source or certificate needs a Vault
// login: an S3-only or exec:-only container has no Vault to talk to.
func (p *Plan) NeedsVault() bool {
	if len(p.Certs) > 0 {
		return true
	}
	for _, r := range p.Requests {
		if r.Ref.Scheme == "vault" {
			return true
		}
	}
	return false
}

// outputs returns every file the run will write.
func (p *Plan) outputs() []string {
	var out []string
	for _, f := range []string{p.EnvFile, p.TokenSink} {
		if f != "" {
			out = append(out, f)
		}
	}
	for _, c := range p.Certs {
		out = append(out, filepath.Join(c.Dir, "cert.pem"))
	}
	return out
}

var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "WINCH": syscall.SIGWINCH, "KILL": syscall.SIGKILL,
}

func parseSignal(s string) (syscall.Signal, error) {
	if sig, ok := signals[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q (want HUP, INT, QUIT, TERM, USR1, USR2, WINCH or KILL)", s)
}

// parseOnChange returns 0 for restart, or the signal to send.
func parseOnChange(s string) (syscall.Signal, error) {
	if s == "restart" {
		return 0, nil
	}
	if name, ok := strings.CutPrefix(s, "signal:"); ok {
		return parseSignal(name)
	}
	return 0, fmt.Errorf("-on-change %q: want restart or signal:NAME", s)
}
