package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"
)

// mintResult is the throughput of issuer mint, of the bare client and of
// the bare client with vault/api's initialisation at one level of
// concurrency: launchers processes, each minting one secret ID after the
// other, one process per mint, as a CI job or a scheduler would.
type mintResult struct {
	launchers, perLauncher int
	issuer, bare, bareAPI  []float64 // mints per second, per round
	// Medians of the paired per-round ratios: issuer/bare (the target's),
	// bareAPI/bare (the floor of a client that links vault/api) and
	// issuer/bareAPI.
	ratio, floor, issuerAPI float64
}

// mintCommands returns the three ways of minting one wrapped secret ID
// with the launcher's token: issuer, barevault and barevault-api.
func mintCommands(b *binaries, v *vaultLab) [3]func() *exec.Cmd {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + v.dir, "VAULT_ADDR=" + v.addr, "VAULT_TOKEN=" + v.launcherToken}
	return [3]func() *exec.Cmd{
		func() *exec.Cmd { c := exec.Command(b.issuer, "mint", "-role", "app"); c.Env = env; return c },
		func() *exec.Cmd { c := exec.Command(b.barevault, "-mint", "app"); c.Env = env; return c },
		func() *exec.Cmd { c := exec.Command(b.barevaultAPI, "-mint", "app"); c.Env = env; return c },
	}
}

// benchMint measures the three ways in alternating rounds (the first of
// each round takes turns).
func benchMint(b *binaries, v *vaultLab, launchers, perLauncher, rounds int) (*mintResult, error) {
	cmds := mintCommands(b, v)
	res := &mintResult{launchers: launchers, perLauncher: perLauncher}
	// Warm-up, not counted.
	for _, c := range cmds {
		if _, err := mintBatch(c, launchers, 1); err != nil {
			return nil, err
		}
	}
	var ratios, floors, issuerAPI []float64
	for r := range rounds {
		var tp [len(cmds)]float64
		for j := range cmds {
			k := (r + j) % len(cmds)
			d, err := mintBatch(cmds[k], launchers, perLauncher)
			if err != nil {
				return nil, err
			}
			tp[k] = float64(launchers*perLauncher) / d.Seconds()
		}
		res.issuer = append(res.issuer, tp[0])
		res.bare = append(res.bare, tp[1])
		res.bareAPI = append(res.bareAPI, tp[2])
		ratios = append(ratios, tp[0]/tp[1])
		floors = append(floors, tp[2]/tp[1])
		issuerAPI = append(issuerAPI, tp[0]/tp[2])
	}
	res.ratio, res.floor, res.issuerAPI = medianF(ratios), medianF(floors), medianF(issuerAPI)
	return res, nil
}

// mintBatch runs launchers goroutines, each starting per mints one after
// the other, and returns the wall time of the whole batch.
func mintBatch(cmd func() *exec.Cmd, launchers, per int) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make([]error, launchers)
	start := time.Now()
	for i := range launchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if _, err := timed(cmd()); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("mint: %w", err)
		}
	}
	return d, nil
}

// countMint returns what Vault saw for one mint of each kind.
func countMint(b *binaries, v *vaultLab) ([3]requests, error) {
	var out [3]requests
	if err := v.auditOn(); err != nil {
		return out, err
	}
	defer v.auditOff()
	for k, c := range mintCommands(b, v) {
		off, err := v.auditOffset()
		if err != nil {
			return out, err
		}
		if _, err := timed(c()); err != nil {
			return out, err
		}
		if out[k].labels, err = v.auditSince(off); err != nil {
			return out, err
		}
	}
	return out, nil
}

func medianF(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
