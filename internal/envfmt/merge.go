package envfmt

import (
	"fmt"
	"maps"
	"slices"
)

// ConflictError reports that one variable name is produced twice: by two
// sources in Env.Merge, or by two keys of one secret in Flatten (Keys is then
// true and First and Second are key paths such as "db.user"). It carries
// names only, never values.
type ConflictError struct {
	Name   string // the variable name
	First  string // the source (or key) that set it first
	Second string // the source (or key) that set it again
	Keys   bool   // First and Second are keys of one secret, not sources
}

func (e *ConflictError) Error() string {
	if e.Keys {
		return fmt.Sprintf("keys %q and %q both become variable %s", e.First, e.Second, e.Name)
	}
	return fmt.Sprintf("variable %s is set by both %s and %s", e.Name, e.First, e.Second)
}

// Env is a set of variables that remembers which source set each name, so a
// conflict can name both sources. The zero value is ready to use.
type Env struct {
	vars   map[string]string
	source map[string]string
	allow  map[string]bool // unsafe names the user named on purpose
}

// Merge adds the variables of src, which come from the source called srcName
// (a URL such as vault://secret/app, shown in errors).
//
// If a name is already set and override is false, Merge returns a
// *ConflictError for the first such name in sorted order and changes nothing:
// either all of src is merged or none of it. If override is true, src's value
// wins and the name is then attributed to srcName. A name set twice is a
// conflict even when both values are equal, because which source is meant is
// still ambiguous, and comparing secret values is not this function's job.
//
// A name on the unsafe list (see UnsafeName) that was not allowed with Allow
// is an *UnsafeNameError, and a value holding a NUL byte a *NULValueError;
// either way nothing of src is merged.
func (e *Env) Merge(src map[string]string, srcName string, override bool) error {
	return e.merge(src, srcName, override, false)
}

// MergeNamed is Merge for variables whose names the user wrote (prestart
// -secret NAME=REF): a name on the unsafe list is accepted there, since it
// does not come from the secret data.
func (e *Env) MergeNamed(src map[string]string, srcName string, override bool) error {
	return e.merge(src, srcName, override, true)
}

func (e *Env) merge(src map[string]string, srcName string, override, named bool) error {
	names := slices.Sorted(maps.Keys(src))
	if err := e.check(names, src, srcName, named); err != nil {
		return err
	}
	if !override {
		for _, name := range names {
			if prev, ok := e.source[name]; ok {
				return &ConflictError{Name: name, First: prev, Second: srcName}
			}
		}
	}
	if e.vars == nil {
		e.vars = make(map[string]string, len(src))
		e.source = make(map[string]string, len(src))
	}
	for name, v := range src {
		e.vars[name] = v
		e.source[name] = srcName
	}
	return nil
}

// Set sets one variable from srcName, with the same conflict rule as Merge.
func (e *Env) Set(name, value, srcName string, override bool) error {
	return e.Merge(map[string]string{name: value}, srcName, override)
}

// Vars returns a copy of the variables (never nil).
func (e *Env) Vars() map[string]string {
	out := make(map[string]string, len(e.vars))
	maps.Copy(out, e.vars)
	return out
}

// Names returns the variable names, sorted.
func (e *Env) Names() []string {
	return slices.Sorted(maps.Keys(e.vars))
}

// Source returns the source that set name, or "" if it is not set.
func (e *Env) Source(name string) string {
	return e.source[name]
}

// Len returns the number of variables.
func (e *Env) Len() int { return len(e.vars) }
