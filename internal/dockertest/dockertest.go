// Package dockertest starts keyturn's images on a private Docker network with
// testcontainers-go, for tests that need what host processes cannot give:
// prestart as PID 1, docker stop and restart, several Vault nodes with their
// own DNS names, node loss and network partitions.
//
// No registry is reachable, so the images are the local ones `make images`
// builds (keyturn/NAME:local) and the reaper is disabled: every network and
// container carries the label Label, whose value names the test process
// that made it, and Sweep removes them at the start and the end of a suite:
// its own, and those of processes that have ended, never those of a suite
// running beside it (go test runs packages in parallel). A test that finds no Docker engine fails; it never
// skips.
package dockertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Label marks every network and container the harness creates; its value
// is owner.
const Label = "org.keyturn.test"

// owner is this test process, as Label's value.
var owner = "pid-" + strconv.Itoa(os.Getpid())

// sweepable reports whether what carries the label value v may go: it is
// this process's, or its process has ended (an interrupted run). Docker
// runs on this host, so the PIDs are this host's.
func sweepable(v string) bool {
	if v == owner {
		return true
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(v, "pid-"))
	if err != nil || pid <= 0 || !strings.HasPrefix(v, "pid-") {
		return true // an older harness's "1", or junk
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// Image returns the local image for one of keyturn's Dockerfiles ("vault",
// "app", "operator", "minio", "kms-local"); KEYTURN_IMAGE_TAG overrides the
// tag.
func Image(name string) string {
	tag := os.Getenv("KEYTURN_IMAGE_TAG")
	if tag == "" {
		tag = "local"
	}
	return "keyturn/" + name + ":" + tag
}

func init() {
	// The reaper's image cannot be pulled here; Sweep does its job.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	// One line per container event drowns a failing test's own output;
	// KEYTURN_DOCKER_VERBOSE=1 brings it back.
	if os.Getenv("KEYTURN_DOCKER_VERBOSE") == "" {
		tclog.SetDefault(tclog.NewNoopLogger())
	}
}

// Client returns a Docker client, or an error that says how to run the
// tests that need none.
func Client(ctx context.Context) (*testcontainers.DockerClient, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err == nil {
		_, err = cli.Ping(ctx, client.PingOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("no Docker engine reachable (the container tests need one; make test-host runs every other test): %w", err)
	}
	return cli, nil
}

// Sweep removes this process's containers and networks and those left by
// runs that have ended.
func Sweep(ctx context.Context) error {
	cli, err := Client(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	f := make(client.Filters).Add("label", Label)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs.Items {
		if !sweepable(c.Labels[Label]) {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			return fmt.Errorf("remove container %s: %w", c.ID[:12], err)
		}
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns.Items {
		if !sweepable(n.Labels[Label]) {
			continue
		}
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
			return fmt.Errorf("remove network %s: %w", n.Name, err)
		}
	}
	return nil
}

// Main is TestMain for a container suite: sweep, run, sweep.
func Main(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if err := Sweep(ctx); err != nil {
		cancel()
		fmt.Fprintln(os.Stderr, "dockertest:", err)
		return 1
	}
	cancel()
	code := m.Run()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Sweep(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dockertest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Env is one private bridge network for one test and the containers on it.
type Env struct {
	// Network is the Docker network's name.
	Network string
	// ID prefixes container names, so parallel tests never collide.
	ID string

	t   testing.TB
	net *testcontainers.DockerNetwork
	cli *testcontainers.DockerClient

	mu         sync.Mutex
	containers []*Container
}

// New creates the network. When the test ends it prints every container's
// logs if the test failed, then removes the containers and the network.
func New(ctx context.Context, t testing.TB) *Env {
	t.Helper()
	cli, err := Client(ctx)
	if err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	labels := map[string]string{Label: owner}
	n, err := tcnetwork.New(ctx, tcnetwork.WithLabels(labels))
	if err != nil {
		cli.Close()
		t.Fatalf("dockertest: create network: %v", err)
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	e := &Env{Network: n.Name, ID: "kt" + hex.EncodeToString(b), t: t, net: n, cli: cli}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		e.mu.Lock()
		cs := append([]*Container(nil), e.containers...)
		e.mu.Unlock()
		if t.Failed() {
			for _, c := range cs {
				t.Logf("--- logs of %s ---\n%s", c.Name, c.Logs(ctx))
			}
		}
		for _, c := range cs {
			if err := c.Terminate(ctx, testcontainers.StopTimeout(2*time.Second)); err != nil {
				t.Logf("dockertest: remove %s: %v", c.Name, err)
			}
		}
		if err := n.Remove(ctx); err != nil {
			t.Logf("dockertest: remove network: %v", err)
		}
		cli.Close()
	})
	return e
}

// File is a file copied into a container before it starts.
type File struct {
	Path string
	Data []byte
	Mode int64 // default 0o600
}

// Spec describes one container.
type Spec struct {
	// Name is the container's DNS name on the network.
	Name string
	// Image is a full image reference, usually Image("vault").
	Image string
	// Aliases are further DNS names, e.g. one name shared by every Vault
	// node as a load balancer's would be.
	Aliases    []string
	Env        map[string]string
	Entrypoint []string
	Cmd        []string
	Files      []File
	// Ports are container ports ("8200/tcp") published on loopback.
	Ports []string
	// Wait, if set, must be satisfied before Start returns.
	Wait wait.Strategy
	// User runs the container's process as this user ("1000:1000").
	User string
}

// Container is a started container.
type Container struct {
	testcontainers.Container
	Name string
	env  *Env
}

// Start creates and starts a container on the network; t is the (sub)test
// that fails if it cannot.
func (e *Env) Start(ctx context.Context, t testing.TB, s Spec) *Container {
	t.Helper()
	c, err := e.TryStart(ctx, s)
	if err != nil {
		t.Fatalf("dockertest: start %s: %v", s.Name, err)
	}
	return c
}

// TryStart is Start that returns an error instead of failing the test
// (for containers started from several goroutines).
func (e *Env) TryStart(ctx context.Context, s Spec) (*Container, error) {
	if err := e.requireImage(ctx, s.Image); err != nil {
		return nil, err
	}
	req := testcontainers.ContainerRequest{
		Image:          s.Image,
		Name:           e.ID + "-" + s.Name,
		Hostname:       s.Name,
		Env:            s.Env,
		Entrypoint:     s.Entrypoint,
		Cmd:            s.Cmd,
		ExposedPorts:   s.Ports,
		Labels:         map[string]string{Label: owner},
		Networks:       []string{e.Network},
		NetworkAliases: map[string][]string{e.Network: append([]string{s.Name}, s.Aliases...)},
		WaitingFor:     s.Wait,
		User:           s.User,
	}
	if len(s.Ports) > 0 {
		req.HostConfigModifier = func(hc *container.HostConfig) {
			// Published on loopback only: nothing outside this machine
			// reaches a test's Vault.
			for p, bs := range hc.PortBindings {
				for i := range bs {
					bs[i].HostIP = netip.MustParseAddr(loopback)
				}
				hc.PortBindings[p] = bs
			}
		}
	}
	for _, f := range s.Files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o600
		}
		req.Files = append(req.Files, testcontainers.ContainerFile{Reader: bytes.NewReader(f.Data), ContainerFilePath: f.Path, FileMode: mode})
	}
	tc, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	c := &Container{Container: tc, Name: s.Name, env: e}
	if tc != nil {
		e.mu.Lock()
		e.containers = append(e.containers, c)
		e.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (e *Env) requireImage(ctx context.Context, ref string) error {
	if _, err := e.cli.ImageInspect(ctx, ref); err != nil {
		return fmt.Errorf("image %s is missing (build it with make images; nothing is pulled): %w", ref, err)
	}
	return nil
}

// Exec runs cmd in the container and returns its exit code and combined
// output.
func (c *Container) Exec(ctx context.Context, cmd ...string) (int, string, error) {
	code, r, err := c.Container.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return code, "", fmt.Errorf("exec %s in %s: %w", cmd[0], c.Name, err)
	}
	out, err := io.ReadAll(r)
	return code, string(out), err
}

// MustExec is Exec that fails the test unless cmd exits 0.
func (c *Container) MustExec(ctx context.Context, t testing.TB, cmd ...string) string {
	t.Helper()
	code, out, err := c.Exec(ctx, cmd...)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Fatalf("%s in %s: exit %d\n%s", strings.Join(cmd, " "), c.Name, code, out)
	}
	return out
}

// Logs returns everything the container wrote to stdout and stderr.
func (c *Container) Logs(ctx context.Context) string {
	r, err := c.Container.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(no logs: %v)", err)
	}
	defer r.Close()
	// testcontainers-go has already split the multiplexed stream.
	out, err := io.ReadAll(r)
	if err != nil {
		out = fmt.Appendf(out, "(logs: %v)", err)
	}
	return string(out)
}

// HostAddr returns "127.0.0.1:PORT" where the container's port is published.
func (c *Container) HostAddr(ctx context.Context, t testing.TB, port string) string {
	t.Helper()
	p, err := c.MappedPort(ctx, port)
	if err != nil {
		t.Fatalf("dockertest: port %s of %s: %v", port, c.Name, err)
	}
	return loopback + ":" + p.Port()
}

// Wait waits until the container has stopped and returns its exit code.
func (c *Container) Wait(ctx context.Context) (int, error) {
	res := c.env.cli.ContainerWait(ctx, c.GetContainerID(), client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-res.Result:
		return int(r.StatusCode), nil
	case err := <-res.Error:
		return -1, fmt.Errorf("wait for %s: %w", c.Name, err)
	case <-ctx.Done():
		return -1, fmt.Errorf("wait for %s: %w", c.Name, ctx.Err())
	}
}

// Disconnect cuts the container off the network, as a partition would.
func (c *Container) Disconnect(ctx context.Context) error {
	_, err := c.env.cli.NetworkDisconnect(ctx, c.env.Network, client.NetworkDisconnectOptions{Container: c.GetContainerID(), Force: true})
	if err != nil {
		return fmt.Errorf("disconnect %s: %w", c.Name, err)
	}
	return nil
}

// Connect puts the container back on the network under its names.
func (c *Container) Connect(ctx context.Context, aliases ...string) error {
	_, err := c.env.cli.NetworkConnect(ctx, c.env.Network, client.NetworkConnectOptions{
		Container:      c.GetContainerID(),
		EndpointConfig: &network.EndpointSettings{Aliases: append([]string{c.Name}, aliases...)},
	})
	if err != nil {
		return fmt.Errorf("connect %s: %w", c.Name, err)
	}
	return nil
}

const loopback = "127.0.0.1"
