// Package source resolves the secret references prestart reads through, such
// as vault://secret/app/db#password, into environment variables. A scheme
// ("vault", and later "s3" and "exec") is served by a Reader; this package
// parses references, asks the readers, and turns what they return into
// variables with envfmt's naming rules, so every backend behaves the same.
package source

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/keyturn/keyturn/internal/envfmt"
)

// Ref is a parsed reference. It holds locations only, never a secret, so it
// may be logged.
type Ref struct {
	Raw    string     // as written, for messages
	Scheme string     // "vault", "s3", "exec"
	Path   string     // scheme-specific: "secret/app/db" for vault://secret/app/db
	Field  string     // after "#": one field of the secret
	Query  url.Values // after "?": version=N and scheme options
}

func (r Ref) String() string { return r.Raw }

// ParseRef parses SCHEME://PATH[?QUERY][#FIELD] or exec:COMMAND.
func ParseRef(s string) (Ref, error) {
	r := Ref{Raw: s, Query: url.Values{}}
	if cmd, ok := strings.CutPrefix(s, "exec:"); ok {
		if strings.TrimSpace(cmd) == "" {
			return r, fmt.Errorf("reference %q: exec: needs a command", s)
		}
		r.Scheme, r.Path = "exec", cmd
		return r, nil
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" {
		return r, fmt.Errorf("reference %q: want SCHEME://PATH, e.g. vault://secret/app/db", s)
	}
	r.Scheme = strings.ToLower(scheme)
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		r.Field, rest = rest[i+1:], rest[:i]
		if r.Field == "" {
			return r, fmt.Errorf("reference %q: empty field after #", s)
		}
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		q, err := url.ParseQuery(rest[i+1:])
		if err != nil {
			return r, fmt.Errorf("reference %q: query: %w", s, err)
		}
		r.Query, rest = q, rest[:i]
	}
	r.Path = strings.Trim(rest, "/")
	if r.Path == "" {
		return r, fmt.Errorf("reference %q: empty path", s)
	}
	return r, nil
}

// Lease is what a dynamic secret comes with.
type Lease struct {
	ID        string
	Duration  time.Duration
	Renewable bool
}

// Result is one secret as a Reader returns it.
type Result struct {
	Data    map[string]any // the secret's fields
	Version string         // KV v2 version or S3 version ID; "" if none
	Lease   *Lease         // nil for static secrets
	// Watchable is true when re-reading may show a change (KV, S3), so a
	// supervisor can poll it.
	Watchable bool
}

// Reader reads secrets of one scheme. Refresh calls Read from several
// goroutines at once, so it must be safe for concurrent use.
type Reader interface {
	Read(ctx context.Context, ref Ref) (*Result, error)
}

// Readers maps schemes to readers.
type Readers map[string]Reader

// Request is one -secret or -secrets item.
type Request struct {
	Ref Ref
	// Name is set for -secret NAME=REF: one variable from Ref.Field. Empty
	// for -secrets REF: every field becomes a variable.
	Name   string
	Prefix string // -secrets only: prepended to every name
}

// ParseSecret parses NAME=REF (the -secret flag).
func ParseSecret(s string) (Request, error) {
	name, ref, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return Request{}, fmt.Errorf("-secret %q: want NAME=REF", s)
	}
	if !envfmt.ValidName(name) {
		return Request{}, fmt.Errorf("-secret %q: %q is not a valid variable name", s, name)
	}
	r, err := ParseRef(ref)
	if err != nil {
		return Request{}, err
	}
	if r.Scheme == "exec" {
		return Request{}, fmt.Errorf("-secret %q: an exec: source prints an env file; use -secrets %s", s, ref)
	}
	if r.Field == "" {
		return Request{}, fmt.Errorf("-secret %q: name one field with #FIELD, or use -secrets for all fields", s)
	}
	return Request{Ref: r, Name: name}, nil
}

// ParseSecrets parses REF (the -secrets flag).
func ParseSecrets(s string) (Request, error) {
	r, err := ParseRef(s)
	if err != nil {
		return Request{}, err
	}
	if r.Field != "" {
		return Request{}, fmt.Errorf("-secrets %q: a #FIELD picks one value; use -secret NAME=%s", s, s)
	}
	return Request{Ref: r}, nil
}

// Loaded describes what one request produced, without values: what
// -dry-run prints and logs show.
type Loaded struct {
	Ref     string
	Names   []string
	Version string
	Lease   *Lease
	Result  *Result `json:"-"`
}

// ErrMissingField is returned when a -secret names a field the secret lacks.
var ErrMissingField = errors.New("field not found")

// ErrNotFound is returned by readers when a secret does not exist.
var ErrNotFound = errors.New("secret not found")

// Collect reads every request and merges the variables. A later request
// whose names clash with an earlier one's is an error unless override is
// set, in which case the later one wins. Reading is fail-closed: the first
// error stops everything.
//
// A name that changes how programs load or run (envfmt.UnsafeName) is
// refused unless a -secret NAME=REF request names it or AllowNames lists it.
func Collect(ctx context.Context, readers Readers, reqs []Request, override bool, opts ...Option) (*envfmt.Env, []Loaded, error) {
	return Refresh(ctx, readers, reqs, nil, override, nil, opts...)
}

// Option changes how Collect and Refresh merge variables.
type Option func(*envfmt.Env)

// AllowNames lets the given names through even though they are on the
// unsafe list (prestart -allow-name).
func AllowNames(names ...string) Option {
	return func(e *envfmt.Env) { e.Allow(names...) }
}

// Refresh is Collect for a supervisor that already holds prev (the Loaded
// of the previous read, in request order): sources that can change without
// notice (Watchable: KV, S3) are read again, and so are those for which
// reread returns true (a lease that can no longer be renewed); the others
// keep their previous result, so polling does not mint new database
// credentials every time.
//
// Requests for the same source (scheme, path and options; the #FIELD
// aside) share one read: a username and a password from database/creds/app
// then come from the same lease. Distinct sources are read concurrently, at
// most MaxConcurrentReads at a time, and the error reported is that of the
// first failing request in request order, whatever finished first.
func Refresh(ctx context.Context, readers Readers, reqs []Request, prev []Loaded, override bool, reread func(i int) bool, opts ...Option) (*envfmt.Env, []Loaded, error) {
	env := &envfmt.Env{}
	for _, o := range opts {
		o(env)
	}

	results, err := readAll(ctx, readers, reqs, prev, reread)
	if err != nil {
		return nil, nil, err
	}
	var loaded []Loaded
	for i, req := range reqs {
		res := results[i]
		vars, err := Vars(req, res)
		if err != nil {
			return nil, nil, err
		}
		merge := env.Merge
		if req.Name != "" {
			merge = env.MergeNamed // the user chose the name, not the data
		}
		if err := merge(vars, req.Ref.Raw, override); err != nil {
			return nil, nil, err
		}
		names := make([]string, 0, len(vars))
		for n := range vars {
			names = append(names, n)
		}
		sort.Strings(names)
		loaded = append(loaded, Loaded{Ref: req.Ref.Raw, Names: names, Version: res.Version, Lease: res.Lease, Result: res})
	}
	return env, loaded, nil
}

// Vars turns one result into variables following the request.
func Vars(req Request, res *Result) (map[string]string, error) {
	if req.Name == "" {
		vars, err := envfmt.Flatten(req.Prefix, res.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", req.Ref, err)
		}
		if len(vars) == 0 {
			return nil, fmt.Errorf("%s: the secret has no fields", req.Ref)
		}
		return vars, nil
	}
	v, ok := lookupField(res.Data, req.Ref.Field)
	if !ok {
		return nil, fmt.Errorf("%s: %w: %q (the secret has %s)", req.Ref, ErrMissingField, req.Ref.Field, fieldNames(res.Data))
	}
	switch x := v.(type) {
	case map[string]any:
		return nil, fmt.Errorf("%s: field %q is an object; use -secrets with it for one variable per key", req.Ref, req.Ref.Field)
	case []any:
		return nil, fmt.Errorf("%s: field %q is a list; use -secrets with it", req.Ref, req.Ref.Field)
	default:
		flat, err := envfmt.Flatten("", map[string]any{"v": x})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", req.Ref, err)
		}
		return map[string]string{req.Name: flat["V"]}, nil
	}
}

// lookupField finds "a" or, for nested data, "a.b".
func lookupField(data map[string]any, field string) (any, bool) {
	if v, ok := data[field]; ok {
		return v, true
	}
	cur := any(data)
	for _, part := range strings.Split(field, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func fieldNames(data map[string]any) string {
	if len(data) == 0 {
		return "no fields"
	}
	names := make([]string, 0, len(data))
	for k := range data {
		names = append(names, fmt.Sprintf("%q", k))
	}
	sort.Strings(names)
	return "fields " + strings.Join(names, ", ")
}
