package main

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// A contender is one way of doing a case's job. prepare does the untimed
// part of one start (minting a secret ID, writing a config) and returns the
// command whose run, from fork to exit, is timed. A contender with a
// non-empty na is listed with its reason and never run.
type contender struct {
	name    string
	prepare func() (*exec.Cmd, error)
	na      string
}

// A benchCase is one job and the ways of doing it. The first contender is
// prestart (or what the case is about): the paired ratios are its time over
// each other contender's.
type benchCase struct {
	id, title  string
	contenders []contender
	// backend is the server the case's requests go to, "vault" or "s3"
	// (S3 and KMS), whose counts it reports; empty for cases that make
	// none.
	backend string
}

// slot is one (case, contender) pair; a round runs every slot once.
type slot struct {
	c *benchCase
	k int
}

// timings holds the rounds of every slot: times[slot][round].
type timings struct {
	slots []slot
	times [][]time.Duration
}

func (t *timings) of(id, name string) []time.Duration {
	for i, s := range t.slots {
		if s.c.id == id && s.c.contenders[s.k].name == name {
			return t.times[i]
		}
	}
	return nil
}

// runRounds runs n rounds of every runnable contender of every case after
// one warm-up round that is not counted (page cache, the servers' first
// requests). Each round starts one slot further along, so that no
// contender always runs first, or always right after the same other one:
// machine noise then falls on all alike, and round i of any two slots were
// measured close together, which is what makes their paired ratio
// meaningful, across cases too.
func runRounds(cases []*benchCase, n int, progress func(string)) (*timings, error) {
	t := &timings{}
	for _, c := range cases {
		for k, ct := range c.contenders {
			if ct.na == "" {
				t.slots = append(t.slots, slot{c, k})
			}
		}
	}
	t.times = make([][]time.Duration, len(t.slots))
	for round := -1; round < n; round++ {
		start := time.Now()
		for j := range t.slots {
			i := (max(round, 0) + j) % len(t.slots)
			s := t.slots[i]
			d, err := runOnce(s.c.contenders[s.k])
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", s.c.id, s.c.contenders[s.k].name, err)
			}
			if round >= 0 {
				t.times[i] = append(t.times[i], d)
			}
		}
		if round < 0 {
			progress(fmt.Sprintf("warm-up round done in %s", time.Since(start).Round(time.Millisecond)))
		} else {
			progress(fmt.Sprintf("round %d/%d done in %s", round+1, n, time.Since(start).Round(time.Millisecond)))
		}
	}
	return t, nil
}

func runOnce(c contender) (time.Duration, error) {
	cmd, err := c.prepare()
	if err != nil {
		return 0, err
	}
	return timed(cmd)
}

// timed runs cmd and returns the wall time from fork to exit. Output is
// kept for the error only.
func timed(cmd *exec.Cmd) (time.Duration, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, strings.TrimSpace(out.String()))
	}
	return d, nil
}

// stats are a contender's min, median and max.
type stats struct{ min, med, max time.Duration }

func statsOf(d []time.Duration) stats {
	s := slices.Clone(d)
	slices.Sort(s)
	return stats{s[0], s[len(s)/2], s[len(s)-1]}
}

// pairedRatio is the median over rounds of a[i]/b[i]. Rounds run a and b
// close together, so a slow phase of the machine raises both: the median
// of the ratios moves much less than the ratio of the medians.
func pairedRatio(a, b []time.Duration) float64 {
	n := min(len(a), len(b))
	if n == 0 {
		return 0
	}
	r := make([]float64, n)
	for i := range n {
		r[i] = float64(a[i]) / float64(b[i])
	}
	slices.Sort(r)
	return r[n/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
