package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"
)

// emptyProgram is the baseline: a static Go binary whose only cost is the
// runtime's own start-up, built with the flags prestart is built with.
const emptyProgram = "package main\n\nfunc main() {}\n"

// startup times prestart -version, which makes no request, against an empty
// Go program, alternating the two so that noise hits both alike. The paired
// ratio is the median of the per-round ratios, which cancels slow phases of
// the machine better than a ratio of medians.
func startup(n int, prestart string) error {
	dir, err := os.MkdirTemp("", "keyturn-startup")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(emptyProgram), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module empty\n\ngo 1.22\n"), 0o600); err != nil {
		return err
	}
	empty := filepath.Join(dir, "empty")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", empty, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the empty program: %v: %s", err, out)
	}
	cmds := []func() *exec.Cmd{
		func() *exec.Cmd { return exec.Command(prestart, "-version") },
		func() *exec.Cmd { return exec.Command(empty) },
	}
	// Warm-up, not counted: page cache.
	for _, c := range cmds {
		if _, err := timed(c()); err != nil {
			return err
		}
	}
	times := [2][]time.Duration{}
	ratios := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		var d [2]time.Duration
		for j := range cmds {
			k := (i + j) % 2
			if d[k], err = timed(cmds[k]()); err != nil {
				return err
			}
			times[k] = append(times[k], d[k])
		}
		ratios = append(ratios, float64(d[0])/float64(d[1]))
	}
	sort.Float64s(ratios)
	fmt.Printf("start-up before the first request, %d alternating rounds\n\n", n)
	for k, name := range []string{"prestart -version", "empty Go program"} {
		fmt.Printf("  %-38s median %9.2f ms   min %9.2f ms   max %9.2f ms\n", name, ms(median(times[k])), ms(minD(times[k])), ms(maxD(times[k])))
	}
	fmt.Printf("\n  prestart / empty (median of paired ratios) = %.2fx\n", ratios[len(ratios)/2])
	if fi, err := os.Stat(prestart); err == nil {
		fmt.Printf("  prestart binary: %.1f MB\n", float64(fi.Size())/1e6)
	}
	return nil
}
