package clustertest

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keyturn/keyturn/internal/dockertest"
)

func TestMain(m *testing.M) { os.Exit(dockertest.Main(m)) }

// fastEntrypoint runs the app image's app under role "fast" (12 s token
// TTL) with metrics on the container's loopback.
var fastEntrypoint = []string{
	"/usr/local/bin/prestart", "-supervise", "-role", "fast", "-spec", "/etc/keyturn/spec.hcl",
	"-metrics-addr", ":9102", "-timeout", "30s", "--", "/usr/local/bin/app",
}

// TestSeed003 builds one cluster and runs the scenarios that share it, in
// an order where each leaves the cluster as the next expects.
func TestSeed003(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	e := dockertest.New(ctx, t)
	c := StartCluster(ctx, t, e, 3)

	// Scenario 1: HA cluster with its own CA, unsealed by two of three
	// operators with real gpg keys.
	t.Run("1-ha-cluster", func(t *testing.T) {
		out, err := c.Unseal(ctx, t, nil, append([]string{"status"}, addrArgs(c)...)...)
		if err == nil || strings.Count(out, "uninitialized") != 3 {
			t.Fatalf("before init, status should show three uninitialised nodes and fail:\n%s", out)
		}
		c.Init(ctx, t)
		waitStatus(ctx, t, c, time.Minute, func(out string) bool {
			return strings.Count(out, " active ") == 1 && strings.Count(out, " standby ") == 2
		})
		out, err = c.Unseal(ctx, t, nil, append([]string{"status"}, addrArgs(c)...)...)
		if err != nil {
			t.Fatalf("unseal status: %v\n%s", err, out)
		}
		if n := len(regexp.MustCompile(`(?m)^https://127\.0\.0\.1:\d+ +unsealed `).FindAllString(out, -1)); n != 3 {
			t.Fatalf("want 3 unsealed nodes, got %d:\n%s", n, out)
		}
		t.Logf("unseal status:\n%s", out)
		// Joined nodes start as non-voters; autopilot promotes them once
		// they are stable. Until then losing the leader loses quorum.
		deadline := time.Now().Add(time.Minute)
		for {
			voters, total := c.Voters(ctx, t)
			if voters == 3 && total == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("raft has %d voters of %d peers, want 3 of 3", voters, total)
			}
			time.Sleep(time.Second)
		}
	})
	if t.Failed() {
		return
	}
	c.Prepare(ctx, t)

	// Scenario 2: a launcher holding only its token mints; the app starts
	// with prestart as PID 1 and has its secret, without the bootstrap
	// credentials.
	launcher := c.Launcher(ctx, t, "launcher", "keyturn-launcher-ci")
	var app *dockertest.Container
	var appAccessor string
	t.Run("2-launcher-and-app", func(t *testing.T) {
		if _, err := c.Root.Logical().ReadWithContext(ctx, "secret/data/app/db"); err != nil {
			t.Fatal(err)
		}
		// The launcher's token cannot read a secret.
		code, out, err := launcher.Exec(ctx, "sh", "-c", "issuer mint -role fast -token-file /run/keyturn/launcher.token")
		if err != nil || code != 3 {
			t.Fatalf("minting for another launcher's role: exit %d (%v), want 3\n%s", code, err, out)
		}
		before := c.AppAccessors(ctx, t, "app")
		roleID, wrapped := Mint(ctx, t, launcher, "app", "scenario-2")
		app = e.Start(ctx, t, AppSpec(c, "app-1", roleID, wrapped))
		logs := app.Logs(ctx)
		for _, want := range []string{"app: DB_PASSWORD is set (7 characters)", "app: APP_GREETING is set (5 characters)"} {
			if !strings.Contains(logs, want) {
				t.Errorf("app log lacks %q:\n%s", want, logs)
			}
		}
		if strings.Contains(logs, "bootstrap credential") || strings.Contains(logs, "orange1") {
			t.Errorf("app log shows a credential or a secret:\n%s", logs)
		}
		cmdline := app.MustExec(ctx, t, "cat", "/proc/1/cmdline")
		if !strings.HasPrefix(cmdline, "/usr/local/bin/prestart\x00-supervise") {
			t.Errorf("PID 1 is %q, want prestart -supervise", strings.ReplaceAll(cmdline, "\x00", " "))
		}
		pid := ChildPID(ctx, t, app)
		env := strings.Split(app.MustExec(ctx, t, "cat", "/proc/"+pid+"/environ"), "\x00")
		if !contains(env, "DB_PASSWORD=orange1") || !contains(env, "APP_GREETING=hello") {
			t.Errorf("the app's environment lacks its secrets")
		}
		for _, kv := range env {
			for _, bad := range []string{"VAULT_ROLE_ID=", "VAULT_WRAPPED_SECRET_ID=", "VAULT_SECRET_ID=", "VAULT_TOKEN="} {
				if strings.HasPrefix(kv, bad) {
					t.Errorf("the app's environment holds %s", strings.TrimSuffix(bad, "="))
				}
			}
		}
		after := c.AppAccessors(ctx, t, "app")
		for acc := range after {
			if !before[acc] {
				appAccessor = acc
			}
		}
		if appAccessor == "" {
			t.Fatal("no token for role app appeared after the app logged in")
		}
	})

	// Scenario 3: two app containers each get a PKI certificate for their
	// own DNS name during prestart; each serves TLS with it and the other
	// verifies it against the PKI's CA (which prestart wrote next to it).
	testsLauncher := c.Launcher(ctx, t, "launcher-tests", "keyturn-launcher-tests")
	t.Run("3-certificates-per-container", func(t *testing.T) {
		probe := tlsprobe(t)
		webs := map[string]*dockertest.Container{}
		for _, name := range []string{"web-1", "web-2"} {
			roleID, wrapped := Mint(ctx, t, testsLauncher, "web", "scenario-3")
			spec := AppSpec(c, name, roleID, wrapped,
				"/usr/local/bin/prestart", "-supervise", "-role", "web",
				"-cert", "/run/app/tls=pki/issue/web?common_name="+name+"&ttl=10m",
				"--", "/usr/local/bin/tlsprobe", "serve", "-cert", "/run/app/tls", "-addr", ":8443")
			spec.Files = append(spec.Files, dockertest.File{Path: "/usr/local/bin/tlsprobe", Data: probe, Mode: 0o755})
			spec.Wait = wait.ForLog("tlsprobe: serving").WithStartupTimeout(90 * time.Second)
			webs[name] = e.Start(ctx, t, spec)
		}
		for client, server := range map[string]string{"web-2": "web-1", "web-1": "web-2"} {
			out := webs[client].MustExec(ctx, t, "tlsprobe", "get", "-ca", "/run/app/tls/ca.pem", "https://"+server+":8443/")
			if !strings.Contains(out, "verified "+server+" (DNS "+server+")") || !strings.Contains(out, "status 200") {
				t.Errorf("%s -> %s: %s", client, server, out)
			}
		}
		// The certificate names web-1 only: reached by its IP address it
		// does not verify.
		ip, err := webs["web-1"].ContainerIP(ctx)
		if err != nil {
			t.Fatal(err)
		}
		code, out, _ := webs["web-2"].Exec(ctx, "tlsprobe", "get", "-ca", "/run/app/tls/ca.pem", "https://"+ip+":8443/")
		if code == 0 || !strings.Contains(out, "certificate") {
			t.Errorf("web-1 by IP verified, but its certificate names only web-1: exit %d %s", code, out)
		}
		// The cluster's own CA (Vault's TLS) does not vouch for app
		// certificates from the PKI.
		code, out, _ = webs["web-2"].Exec(ctx, "tlsprobe", "get", "-ca", CAPath, "https://web-1:8443/")
		if code == 0 {
			t.Errorf("web-1 verified against the wrong CA: %s", out)
		}
	})

	// Scenario 4: the active node is lost; a standby takes over, the
	// supervised app keeps renewing through the shared name; the node comes
	// back sealed and two key turns bring it back.
	t.Run("4-node-loss", func(t *testing.T) {
		roleID, wrapped := Mint(ctx, t, testsLauncher, "fast", "scenario-4")
		fast := e.Start(ctx, t, AppSpec(c, "fast-1", roleID, wrapped, fastEntrypoint...))
		active := c.Active(ctx, t, 30*time.Second)
		stopped := c.Nodes[active]
		timeout := 10 * time.Second
		if err := stopped.Stop(ctx, &timeout); err != nil {
			t.Fatal(err)
		}
		next := c.Active(ctx, t, time.Minute, active)
		c.Root.SetAddress(c.HostAddrs[next])
		t.Logf("active node %s stopped; %s took over", NodeName(active), NodeName(next))
		renewals := Metric(ctx, t, fast, "keyturn_token_renewals_total")
		deadline := time.Now().Add(40 * time.Second)
		for Metric(ctx, t, fast, "keyturn_token_renewals_total") < renewals+2 {
			if time.Now().After(deadline) {
				t.Fatalf("the app's token was not renewed twice within 40s after %s stopped\n%s", NodeName(active), fast.Logs(ctx))
			}
			time.Sleep(time.Second)
		}
		if st, _ := fast.State(ctx); st == nil || !st.Running {
			t.Fatalf("the app stopped during the failover\n%s", fast.Logs(ctx))
		}

		if err := stopped.Start(ctx); err != nil {
			t.Fatal(err)
		}
		// Docker publishes a new host port after a restart.
		c.HostAddrs[active] = "https://" + stopped.HostAddr(ctx, t, "8200/tcp")
		waitStatus(ctx, t, c, time.Minute, func(out string) bool {
			return regexp.MustCompile(regexp.QuoteMeta(c.HostAddrs[active]) + ` +sealed `).MatchString(out)
		})
		out, err := c.TurnKey(ctx, t, 2)
		if err != nil {
			t.Fatalf("unseal key (carol): %v\n%s", err, out)
		}
		if n := len(regexp.MustCompile(`(?m)^https://\S+ +unsealed .*already unsealed$`).FindAllString(out, -1)); n != 2 {
			t.Errorf("carol's key turn should report the two other nodes as already unsealed:\n%s", out)
		}
		if out, err = c.TurnKey(ctx, t, 0); err != nil {
			t.Fatalf("unseal key (alice): %v\n%s", err, out)
		}
		if !regexp.MustCompile(regexp.QuoteMeta(c.HostAddrs[active]) + ` +unsealed `).MatchString(out) {
			t.Errorf("alice's key turn did not unseal %s:\n%s", c.HostAddrs[active], out)
		}
		waitStatus(ctx, t, c, time.Minute, func(out string) bool {
			return strings.Count(out, " active ") == 1 && strings.Count(out, " standby ") == 2
		})
		// A standby that has just been unsealed answers "active cluster
		// node not found" until it has connected to the active node: wait
		// until a read through every node succeeds.
		deadline = time.Now().Add(time.Minute)
		for i := 0; i < len(c.Nodes); {
			if _, err := c.RootOn(t, i).Logical().ReadWithContext(ctx, "secret/data/app/db"); err != nil {
				if time.Now().After(deadline) {
					t.Fatalf("reads through %s still fail: %v", NodeName(i), err)
				}
				time.Sleep(500 * time.Millisecond)
				continue
			}
			i++
		}
		if err := fast.Stop(ctx, &timeout); err != nil {
			t.Error(err)
		}
	})

	// Scenario 5: docker stop forwards SIGTERM, the app exits, the token
	// is revoked; docker restart with the spent ID fails closed.
	t.Run("5-stop-and-restart", func(t *testing.T) {
		if app == nil || appAccessor == "" {
			t.Fatal("scenario 2 did not leave a running app")
		}
		timeout := 20 * time.Second
		if err := app.Stop(ctx, &timeout); err != nil {
			t.Fatal(err)
		}
		code, err := app.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		logs := app.Logs(ctx)
		if !strings.Contains(logs, "app: got SIGTERM, exiting") {
			t.Errorf("the app did not get SIGTERM:\n%s", logs)
		}
		// The app exits 0 on SIGTERM; prestart exits with the app's code.
		if code != 0 {
			t.Errorf("container exit code %d, want the app's 0\n%s", code, logs)
		}
		if _, err := c.Root.Auth().Token().LookupAccessorWithContext(ctx, appAccessor); err == nil {
			t.Errorf("the app's token (accessor %s) is still alive after docker stop", appAccessor)
		}

		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		code, err = app.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		logs = app.Logs(ctx)
		if code != 3 {
			t.Fatalf("restart with the spent ID: exit %d, want 3\n%s", code, logs)
		}
		second := logs[strings.LastIndex(logs, "app: got SIGTERM"):]
		if strings.Contains(second, "app: ready") {
			t.Errorf("the app started again with a spent ID:\n%s", second)
		}
		if !regexp.MustCompile(`(?i)prestart: error: .*(used|spent|already)`).MatchString(second) {
			t.Errorf("the error does not say the ID was used:\n%s", second)
		}
		if !regexp.MustCompile(`prestart: hint: .*mint a new one`).MatchString(second) {
			t.Errorf("the message does not say that a new ID must be minted:\n%s", second)
		}
	})

	// The ContainerPilot recipes, run as ContainerPilot runs them (cpemu):
	// whole environment to every job and health check, SIGTERM to the
	// job's process group, SIGKILL after its stopTimeout, exit 0 always.
	t.Run("containerpilot-single-job", func(t *testing.T) {
		roleID, wrapped := Mint(ctx, t, launcher, "app", "containerpilot-1")
		before := c.AppAccessors(ctx, t, "app")
		cp := e.Start(ctx, t, cpSpec(t, c, "cp-1", "containerpilot.json5", roleID, wrapped))
		var acc string
		for a := range c.AppAccessors(ctx, t, "app") {
			if !before[a] {
				acc = a
			}
		}
		// Wait for the first health check (every 10 s).
		deadline := time.Now().Add(30 * time.Second)
		for {
			if code, _, _ := cp.Exec(ctx, "test", "-f", "/run/cpemu/app.health.env"); code == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no health check ran\n%s", cp.Logs(ctx))
			}
			time.Sleep(time.Second)
		}
		for _, f := range []string{"app", "app.health"} {
			names := cp.MustExec(ctx, t, "cat", "/run/cpemu/"+f+".env")
			for _, bad := range []string{"VAULT_ROLE_ID", "VAULT_WRAPPED_SECRET_ID", "VAULT_SECRET_ID", "VAULT_TOKEN"} {
				if regexp.MustCompile(`(?m)^` + bad + `$`).MatchString(names) {
					t.Errorf("%s reached ContainerPilot's %s", bad, f)
				}
			}
		}
		if out := cp.MustExec(ctx, t, "ls", "/run/keyturn/boot"); strings.Contains(out, "secret-id") {
			t.Errorf("the secret ID file is still there: %s", out)
		}
		timeout := 40 * time.Second
		if err := cp.Stop(ctx, &timeout); err != nil {
			t.Fatal(err)
		}
		code, err := cp.Wait(ctx)
		logs := cp.Logs(ctx)
		if err != nil || code != 0 {
			t.Errorf("exit %d (%v), want ContainerPilot's 0\n%s", code, err, logs)
		}
		if !strings.Contains(logs, "app: got SIGTERM") || strings.Contains(logs, "SIGKILL") {
			t.Errorf("the app was not stopped by SIGTERM through prestart within the stop timeout:\n%s", logs)
		}
		if acc == "" {
			t.Fatal("no token appeared for the app")
		}
		if _, err := c.Root.Auth().Token().LookupAccessorWithContext(ctx, acc); err == nil {
			t.Errorf("the token is still alive after the container stopped")
		}
	})

	var spent [2]string
	t.Run("containerpilot-prestart-pair", func(t *testing.T) {
		roleID, wrapped := Mint(ctx, t, launcher, "app", "containerpilot-2")
		spent = [2]string{roleID, wrapped}
		cp := e.Start(ctx, t, cpSpec(t, c, "cp-2", "containerpilot-prestart.json5", roleID, wrapped))
		if code, _, _ := cp.Exec(ctx, "test", "-e", "/run/app/app.env"); code == 0 {
			t.Errorf("the env file is still there after the main job loaded it")
		}
		logs := cp.Logs(ctx)
		if !strings.Contains(logs, "app: DB_PASSWORD is set (7 characters)") {
			t.Errorf("the app lacks its secret:\n%s", logs)
		}
		timeout := 40 * time.Second
		if err := cp.Stop(ctx, &timeout); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("containerpilot-prestart-fails", func(t *testing.T) {
		if spent[1] == "" {
			t.Fatal("no spent ID from the previous recipe test")
		}
		spec := cpSpec(t, c, "cp-3", "containerpilot-prestart.json5", spent[0], spent[1])
		spec.Wait = nil
		cp := e.Start(ctx, t, spec)
		wctx, wcancel := context.WithTimeout(ctx, 45*time.Second)
		defer wcancel()
		code, err := cp.Wait(wctx)
		logs := cp.Logs(ctx)
		if err != nil {
			t.Fatalf("a refused prestart left the container running: %v\n%s", err, logs)
		}
		if code != 0 || !strings.Contains(logs, "job stop-on-failure started") || !regexp.MustCompile(`prestart: error: `).MatchString(logs) {
			t.Errorf("exit %d; want ContainerPilot's 0 after stop-on-failure, with prestart's error in the log:\n%s", code, logs)
		}
		if strings.Contains(logs, "app: ready") {
			t.Errorf("the app started with a spent ID:\n%s", logs)
		}
	})

	// Scenario 6: a partition longer than the token's TTL. The token
	// cannot be renewed and expires; prestart keeps the app running and
	// tries to log in again, with backoff, until the partition heals. The
	// one-time ID is spent, so Vault then refuses the login: by default
	// (-on-login-refused keep) the app runs on, degraded, and is never
	// stopped by prestart (README, "Partitions").
	t.Run("6-partition", func(t *testing.T) {
		roleID, wrapped := Mint(ctx, t, testsLauncher, "fast", "scenario-6")
		before := c.AppAccessors(ctx, t, "fast")
		fast := e.Start(ctx, t, AppSpec(c, "fast-2", roleID, wrapped, fastEntrypoint...))
		var acc string
		for a := range c.AppAccessors(ctx, t, "fast") {
			if !before[a] {
				acc = a
			}
		}
		if acc == "" {
			t.Fatal("no token for role fast appeared")
		}
		if err := fast.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
		// Longer than the 12 s token TTL.
		time.Sleep(25 * time.Second)
		if _, err := c.Root.Auth().Token().LookupAccessorWithContext(ctx, acc); err == nil {
			t.Errorf("the partitioned app's token is still alive after its TTL")
		}
		if err := fast.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(90 * time.Second)
		var logs string
		for {
			logs = fast.Logs(ctx)
			if strings.Contains(logs, "Vault refused a new login") || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		if !strings.Contains(logs, "Vault refused a new login") {
			t.Errorf("no refused re-login after the partition healed:\n%s", logs)
		}
		if strings.Contains(logs, "app: got SIGTERM") {
			t.Errorf("prestart stopped the app after the partition:\n%s", logs)
		}
		if running := fast.IsRunning(); !running {
			t.Errorf("the app's container is no longer running after the partition:\n%s", logs)
		}
		timeout := 10 * time.Second
		if err := fast.Stop(ctx, &timeout); err != nil {
			t.Fatal(err)
		}
	})
}

func addrArgs(c *Cluster) []string {
	var args []string
	for _, a := range c.HostAddrs {
		args = append(args, "-address", a)
	}
	return args
}

// waitStatus polls unseal status until ok accepts its output.
func waitStatus(ctx context.Context, t testing.TB, c *Cluster, timeout time.Duration, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var out string
	for time.Now().Before(deadline) {
		out, _ = c.Unseal(ctx, t, nil, append([]string{"status"}, addrArgs(c)...)...)
		if ok(out) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("unseal status never reached the expected state within %s:\n%s", timeout, out)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
