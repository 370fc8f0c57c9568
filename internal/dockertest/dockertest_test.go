package dockertest

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// Two containers on one private network reach each other by name, files
// arrive with their mode, and exit codes come back.
func TestNetworkNamesFilesExit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := New(ctx, t)
	srv := e.Start(ctx, t, Spec{
		Name: "srv", Aliases: []string{"shared"}, Image: Image("operator"),
		Entrypoint: []string{"/bin/sh", "-c", "echo hello-from-srv > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"},
		Files:      []File{{Path: "/run/keyturn/token", Data: []byte("x"), Mode: 0o600}},
	})
	cli := e.Start(ctx, t, Spec{Name: "cli", Image: Image("operator"), Entrypoint: []string{"/bin/sh", "-c", "sleep 600"}})

	out := srv.MustExec(ctx, t, "stat", "-c", "%a", "/run/keyturn/token")
	if strings.TrimSpace(out) != "600" {
		t.Fatalf("file mode %q, want 600", out)
	}
	var got string
	for i := 0; i < 50; i++ {
		_, got, _ = cli.Exec(ctx, "wget", "-qO-", "http://shared:8080/index.html")
		if strings.Contains(got, "hello-from-srv") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(got, "hello-from-srv") {
		t.Fatalf("cli could not reach srv by its alias: %q", got)
	}
	if code, _, err := cli.Exec(ctx, "sh", "-c", "exit 7"); err != nil || code != 7 {
		t.Fatalf("exec exit code %d (%v), want 7", code, err)
	}

	if err := cli.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := cli.Exec(ctx, "wget", "-T", "2", "-qO-", "http://shared:8080/index.html"); code == 0 {
		t.Fatal("a disconnected container still reached srv")
	}
	if err := cli.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	cli.MustExec(ctx, t, "wget", "-qO-", "http://srv:8080/index.html")

	one := e.Start(ctx, t, Spec{Name: "one", Image: Image("operator"), Entrypoint: []string{"/bin/sh", "-c", "echo bye; exit 3"}})
	code, err := one.Wait(ctx)
	if err != nil || code != 3 {
		t.Fatalf("exit code %d (%v), want 3", code, err)
	}
	if logs := one.Logs(ctx); !strings.Contains(logs, "bye") {
		t.Fatalf("logs %q lack the container's output", logs)
	}
}

// A missing image is named with the command that builds it.
func TestMissingImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := New(ctx, t)
	_, err := e.TryStart(ctx, Spec{Name: "x", Image: "keyturn/does-not-exist:local"})
	if err == nil || !strings.Contains(err.Error(), "make images") {
		t.Fatalf("err = %v, want one naming make images", err)
	}
}

// A suite sweeps its own containers and those of ended runs, never those
// of a suite running beside it.
func TestSweepable(t *testing.T) {
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{owner, true},
		{"pid-" + strconv.Itoa(ended.Process.Pid), true},
		{"pid-" + strconv.Itoa(os.Getppid()), false}, // go test, alive
		{"1", true}, // an older harness's value
		{"", true},
	} {
		if got := sweepable(tc.v); got != tc.want {
			t.Errorf("sweepable(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
