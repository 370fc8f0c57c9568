package cli

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseDoesNotEchoValues(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Duration("wrap-ttl", time.Minute, "")
	fs.Bool("dry-run", false, "")
	for _, args := range [][]string{{"-wrap-ttl", "hvs.SECRETTOKEN"}, {"-dry-run=hvs.SECRETTOKEN"}} {
		err := Parse(fs, args, "usage", &bytes.Buffer{})
		var ce *Error
		if !errors.As(err, &ce) || ce.Code != ExitUsage {
			t.Fatalf("%v: %v, want a usage error", args, err)
		}
		if strings.Contains(err.Error(), "SECRETTOKEN") || !strings.Contains(err.Error(), "invalid") {
			t.Fatalf("error echoes the value: %q", err)
		}
	}
}

func TestReport(t *testing.T) {
	var buf bytes.Buffer
	ui := &UI{Name: "tool", Stderr: &buf}
	if code := ui.Report(Fail(ExitDenied, errors.New("refused"), "try again")); code != ExitDenied {
		t.Fatalf("code %d", code)
	}
	if got := buf.String(); got != "tool: error: refused\ntool: hint: try again\n" {
		t.Fatalf("output %q", got)
	}
	buf.Reset()
	if code := ui.Report(ExitCode(42)); code != 42 || buf.Len() != 0 {
		t.Fatalf("ExitCode(42): code %d, output %q", code, buf.String())
	}
	if ExitCode(0) != nil || ui.Report(nil) != ExitOK {
		t.Fatal("exit 0 is not nil")
	}
	if code := ui.Report(errors.New("plain")); code != ExitFailed {
		t.Fatalf("plain error: %d", code)
	}
}

func TestNewLoggerLevels(t *testing.T) {
	if _, err := NewLogger("x", "loud", &bytes.Buffer{}); err == nil {
		t.Fatal("unknown level accepted")
	}
	var buf bytes.Buffer
	l, err := NewLogger("x", "warn", &buf)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "shown") {
		t.Fatalf("levels: %q", buf.String())
	}
}
