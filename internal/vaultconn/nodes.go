package vaultconn

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/hashicorp/vault/api"
)

// ClientFor is Client for one node of a cluster: the same TLS settings,
// namespace and options, but addr instead of -address and VAULT_ADDR. Each
// node of an HA cluster has to be talked to directly, because seal status
// and unseal progress are per node and a standby does not forward them.
func (f *Flags) ClientFor(addr string, opts ...Option) (*api.Client, bool, error) {
	if addr == "" {
		return nil, false, errors.New("vault client: empty node address")
	}
	g := *f
	g.Address = addr
	return g.Client(opts...)
}

// NodeFlags are the connection flags of commands that talk to every node of
// a cluster: -address may be repeated, and -nodes FILE lists one address a
// line. The TLS flags are those of Flags and apply to every node.
type NodeFlags struct {
	Flags
	addresses addressList
	nodesFile string
}

type addressList []string

func (a *addressList) String() string     { return strings.Join(*a, ",") }
func (a *addressList) Set(v string) error { *a = append(*a, v); return nil }

// Register adds the flags to fs. It never adds -token-file: the endpoints
// that work node by node (seal status, unseal) take no token.
func (n *NodeFlags) Register(fs *flag.FlagSet) {
	// Flags.Register defines -address as a single string; take every other
	// flag from it unchanged so that both kinds of command parse TLS options
	// identically, and define -address here as a repeatable flag.
	tmp := flag.NewFlagSet("", flag.ContinueOnError)
	n.Flags.Register(tmp, false)
	tmp.VisitAll(func(fl *flag.Flag) {
		if fl.Name != "address" {
			fs.Var(fl.Value, fl.Name, fl.Usage)
		}
	})
	fs.Var(&n.addresses, "address", "")
	fs.StringVar(&n.nodesFile, "nodes", "", "")
}

// NodeFlagsUsage is the usage text block for the flags NodeFlags.Register adds.
const NodeFlagsUsage = `Vault nodes and connection (as the Vault CLI; a flag beats the environment):
    -address URL          a node's API address; repeat for every node [VAULT_ADDR]
    -nodes FILE           node addresses, one URL a line (# comments allowed)
    -ca-cert FILE         CA certificate to verify Vault   [VAULT_CACERT]
    -ca-path DIR          directory of CA certificates     [VAULT_CAPATH]
    -client-cert FILE     client certificate               [VAULT_CLIENT_CERT]
    -client-key FILE      client key                       [VAULT_CLIENT_KEY]
    -tls-server-name NAME SNI name                         [VAULT_TLS_SERVER_NAME]
    -tls-skip-verify      do not verify Vault's certificate (unsafe) [VAULT_SKIP_VERIFY]
    -namespace NS         Vault Enterprise namespace       [VAULT_NAMESPACE]
`

// maxNodesFile bounds the -nodes file; a real list is a few lines.
const maxNodesFile = 1 << 20

// Addresses returns the node addresses in the order given: every -address,
// then the lines of -nodes, without duplicates. With neither, VAULT_ADDR is
// the one node. Each address must be an http or https URL with a host.
func (n *NodeFlags) Addresses() ([]string, error) {
	var raw []string
	raw = append(raw, n.addresses...)
	if n.nodesFile != "" {
		lines, err := readNodesFile(n.nodesFile)
		if err != nil {
			return nil, err
		}
		if len(lines) == 0 {
			return nil, fmt.Errorf("nodes file %s lists no address", n.nodesFile)
		}
		raw = append(raw, lines...)
	}
	if len(raw) == 0 {
		if v := os.Getenv(api.EnvVaultAddress); v != "" {
			raw = append(raw, v)
		}
	}
	if len(raw) == 0 {
		return nil, errors.New("no Vault node given: use -address URL (repeatable), -nodes FILE, or VAULT_ADDR")
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range raw {
		norm, err := checkAddress(a)
		if err != nil {
			return nil, err
		}
		if seen[norm] {
			continue
		}
		seen[norm] = true
		out = append(out, norm)
	}
	return out, nil
}

func readNodesFile(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nodes file: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("nodes file: %w", err)
	}
	if fi.Size() > maxNodesFile {
		return nil, fmt.Errorf("nodes file %s is larger than 1 MiB", path)
	}
	var out []string
	sc := bufio.NewScanner(fh)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		if strings.ContainsAny(text, " \t") {
			return nil, fmt.Errorf("nodes file %s line %d: want one address a line", path, line)
		}
		out = append(out, text)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("nodes file %s: %w", path, err)
	}
	return out, nil
}

// checkAddress accepts what the Vault CLI accepts for VAULT_ADDR, an http or
// https URL, and drops a trailing slash so that one node listed twice is
// recognised.
func checkAddress(a string) (string, error) {
	u, err := url.Parse(a)
	if err != nil {
		return "", fmt.Errorf("node address %q: not a URL", a)
	}
	if u.User != nil {
		// Not echoed: the part before @ may be a password.
		return "", errors.New("node address with user information: want only scheme, host and port")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("node address %q: want http://HOST:PORT or https://HOST:PORT", a)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("node address %q: want only scheme, host and port", a)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}
