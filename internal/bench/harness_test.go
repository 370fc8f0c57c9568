package main

import (
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestPairedRatioIsTheMedianOfPerRoundRatios(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	// A slow phase (rounds 3 and 4) hits both: every round a is 1.2x b,
	// while the ratio of the medians says 1.5x.
	a := ms(12, 12, 60, 60, 12)
	b := ms(10, 10, 50, 50, 10)
	if got := pairedRatio(a, b); got < 1.199 || got > 1.201 {
		t.Errorf("pairedRatio = %v, want 1.2", got)
	}
	if s := statsOf(a); s.min != 12*time.Millisecond || s.med != 12*time.Millisecond || s.max != 60*time.Millisecond {
		t.Errorf("statsOf = %+v", s)
	}
}

func TestRoundsRotateAndSkipNotApplicable(t *testing.T) {
	var order []string
	ct := func(name string) contender {
		return contender{name: name, prepare: func() (*exec.Cmd, error) {
			order = append(order, name)
			return exec.Command("true"), nil
		}}
	}
	c1 := &benchCase{id: "one", contenders: []contender{ct("a"), ct("b"), {name: "x", na: "not here"}}}
	c2 := &benchCase{id: "two", contenders: []contender{ct("c")}}
	tm, err := runRounds([]*benchCase{c1, c2}, 3, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	// Warm-up, then rounds starting at slot 0, 1, 2.
	want := []string{"a", "b", "c", "a", "b", "c", "b", "c", "a", "c", "a", "b"}
	if !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	for _, n := range []struct{ id, name string }{{"one", "a"}, {"one", "b"}, {"two", "c"}} {
		if got := len(tm.of(n.id, n.name)); got != 3 {
			t.Errorf("%s/%s: %d times, want 3", n.id, n.name, got)
		}
	}
	if tm.of("one", "x") != nil {
		t.Error("a contender marked n/a was timed")
	}
}

func TestRequestSummary(t *testing.T) {
	r := requests{labels: []string{"login", "mount lookup", "kv read", "kv read", "kv read", "revoke-self"}}
	if got, want := r.summary(), "login, mount lookup, kv read ×3, revoke-self"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	var long requests
	long.labels = append(long.labels, "login")
	for range 5 {
		long.labels = append(long.labels, "mount lookup", "kv read")
	}
	if got, want := long.summary(), "in all login, mount lookup ×5, kv read ×5"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if r.total() != 6 || r.count("kv read") != 3 {
		t.Errorf("total %d, kv reads %d", r.total(), r.count("kv read"))
	}
}
