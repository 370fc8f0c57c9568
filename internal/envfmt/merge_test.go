package envfmt

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestEnvMerge(t *testing.T) {
	var e Env
	if err := e.Merge(map[string]string{"A": "1", "B": "2"}, "vault://secret/a", false); err != nil {
		t.Fatal(err)
	}
	if err := e.Merge(map[string]string{"C": "3"}, "vault://secret/c", false); err != nil {
		t.Fatal(err)
	}

	err := e.Merge(map[string]string{"D": "new-d", "B": "top-secret-b", "A": "top-secret-a"}, "s3://bucket/b", false)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want *ConflictError", err)
	}
	// The first conflicting name in sorted order, and both sources.
	if ce.Name != "A" || ce.First != "vault://secret/a" || ce.Second != "s3://bucket/b" || ce.Keys {
		t.Fatalf("conflict %#v", ce)
	}
	msg := err.Error()
	for _, want := range []string{"A", "vault://secret/a", "s3://bucket/b"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "top-secret") || strings.Contains(msg, "1") {
		t.Errorf("error shows a value: %q", msg)
	}
	// Nothing of the refused source was merged.
	if _, ok := e.Vars()["D"]; ok {
		t.Fatal("partial merge after a conflict")
	}

	if err := e.Merge(map[string]string{"B": "override", "D": "4"}, "vault://secret/override", true); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "override", "C": "3", "D": "4"}
	if got := e.Vars(); !maps.Equal(got, want) {
		t.Fatalf("vars %v want %v", got, want)
	}
	if e.Source("B") != "vault://secret/override" || e.Source("A") != "vault://secret/a" || e.Source("nope") != "" {
		t.Fatal("sources not tracked")
	}
	if !slices.Equal(e.Names(), []string{"A", "B", "C", "D"}) || e.Len() != 4 {
		t.Fatalf("names %v", e.Names())
	}

	// Equal values from two sources are still ambiguous.
	if err := e.Set("C", "3", "env:C", false); !errors.As(err, &ce) {
		t.Fatalf("equal value from another source: %v", err)
	}

	// Vars is a copy.
	e.Vars()["A"] = "changed"
	if e.Vars()["A"] != "1" {
		t.Fatal("Vars is not a copy")
	}
}

func TestEnvZero(t *testing.T) {
	var e Env
	if v := e.Vars(); v == nil || len(v) != 0 {
		t.Fatalf("zero Env vars %v", v)
	}
	if len(e.Names()) != 0 || e.Len() != 0 {
		t.Fatal("zero Env not empty")
	}
}
