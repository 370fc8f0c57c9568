package scripttest

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyturn/keyturn/internal/vaulttest"
)

// cmdSendSig: sendsig NAME PIDFILE sends a signal to the process whose
// PID a child wrote into PIDFILE (testscript's own kill knows only INT and
// KILL, and only its direct children).
func cmdSendSig(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sendsig TERM|HUP|INT|USR1 PIDFILE")
	}
	sigs := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "USR1": syscall.SIGUSR1}
	sig, ok := sigs[args[0]]
	if !ok {
		ts.Fatalf("sendsig: unknown signal %q", args[0])
	}
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(args[1])))
	ts.Check(err)
	ts.Check(syscall.Kill(pid, sig))
}

// cmdWaitFor: waitfor FILE REGEXP [TIMEOUT] waits until FILE exists and
// matches REGEXP (default timeout 20s), so scripts need no fixed sleeps.
func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: waitfor FILE REGEXP [TIMEOUT]")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	timeout := 20 * time.Second
	if len(args) == 3 {
		timeout, err = time.ParseDuration(args[2])
		ts.Check(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		b, err := readIfExists(ts.MkAbs(args[0]))
		if err == nil && re.Match(b) {
			if neg {
				ts.Fatalf("%s matches %q", args[0], args[1])
			}
			return
		}
		if time.Now().After(deadline) {
			if neg {
				return
			}
			ts.Fatalf("%s did not match %q within %s (content: %q)", args[0], args[1], timeout, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cmdTokenRevoked: token-revoked FILE fails unless the token in FILE no
// longer works.
func cmdTokenRevoked(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: token-revoked FILE")
	}
	c := root(ts)
	c.SetToken(strings.TrimSpace(ts.ReadFile(args[0])))
	_, err := c.Auth().Token().LookupSelf()
	if (err == nil) != neg {
		if neg {
			ts.Fatalf("token was revoked: %v", err)
		}
		ts.Fatalf("token still works")
	}
}

// cmdAccessorRevoked: accessor-revoked FILE fails unless the token whose
// accessor is in FILE no longer exists (for a token the script never saw,
// only its audit trail's accessor).
func cmdAccessorRevoked(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: accessor-revoked FILE")
	}
	acc := strings.TrimSpace(ts.ReadFile(args[0]))
	if acc == "" {
		ts.Fatalf("%s holds no accessor", args[0])
	}
	_, err := root(ts).Auth().Token().LookupAccessor(acc)
	if (err == nil) != neg {
		if neg {
			ts.Fatalf("token was revoked: %v", err)
		}
		ts.Fatalf("token with accessor %s still exists", acc)
	}
}

func readIfExists(path string) ([]byte, error) { return os.ReadFile(path) }

// cmdNoZombies: no-zombies PIDFILE fails if the process in PIDFILE has a
// zombie child, that is, one it did not reap.
func cmdNoZombies(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: no-zombies PIDFILE")
	}
	ppid := strings.TrimSpace(ts.ReadFile(args[0]))
	dirs, err := os.ReadDir("/proc")
	ts.Check(err)
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after ")".
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 && f[0] == "Z" && f[1] == ppid {
			ts.Fatalf("process %s left zombie %s", ppid, strings.TrimSpace(s[:i+1]))
		}
	}
}

// cmdLeaseRevoked: lease-revoked PREFIX fails unless no lease under PREFIX
// is left (sys/leases/lookup lists them for root).
func cmdLeaseRevoked(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: lease-revoked PREFIX")
	}
	sec, err := root(ts).Logical().List("sys/leases/lookup/" + args[0])
	ts.Check(err)
	n := 0
	if sec != nil {
		if keys, ok := sec.Data["keys"].([]any); ok {
			n = len(keys)
		}
	}
	if (n == 0) == neg {
		ts.Fatalf("%d leases under %s", n, args[0])
	}
}

// cmdFreePort: free-port NAME sets NAME to a loopback port that was free.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: free-port NAME")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ts.Setenv(args[0], strconv.Itoa(port))
}

// cmdHTTPGet: http-get URL writes the body of a 200 response to stdout.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: http-get URL")
	}
	resp, err := http.Get(args[0])
	ts.Check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	if resp.StatusCode != http.StatusOK {
		ts.Fatalf("GET %s: %s", args[0], resp.Status)
	}
	ts.Stdout().Write(b)
}

// cmdTLSListener: tls-listener NAME sets NAME to the https:// address of a
// listener that completes TLS handshakes with a certificate from a
// throwaway CA nobody trusts, for the certificate-failure paths.
func cmdTLSListener(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: tls-listener NAME")
	}
	tb := scriptTB(ts.Getenv("WORK"))
	if tb == nil {
		ts.Fatalf("tls-listener: the script's Setup recorded no testing.TB")
	}
	ca := vaulttest.NewCA(tb)
	certFile, keyFile := ca.Issue(tb, "untrusted")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	ts.Check(err)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	ts.Check(err)
	ts.Defer(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	ts.Setenv(args[0], "https://"+l.Addr().String())
}
