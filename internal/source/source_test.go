package source

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in                  string
		scheme, path, field string
		version             string
	}{
		{"vault://secret/app/db#password", "vault", "secret/app/db", "password", ""},
		{"vault://secret/app/db?version=3", "vault", "secret/app/db", "", "3"},
		{"vault://secret/app/db/?version=3#a.b", "vault", "secret/app/db", "a.b", "3"},
		{"VAULT://database/creds/app", "vault", "database/creds/app", "", ""},
		{"s3://bucket/key?version=abc&kms=alias/x", "s3", "bucket/key", "", "abc"},
		{"exec:/bin/echo A=1", "exec", "/bin/echo A=1", "", ""},
	} {
		r, err := ParseRef(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if r.Scheme != tc.scheme || r.Path != tc.path || r.Field != tc.field || r.Query.Get("version") != tc.version || r.String() != tc.in {
			t.Errorf("%s: got %+v", tc.in, r)
		}
	}
	for _, bad := range []string{"secret/app", "vault://", "vault://x#", "vault://a?%zz", "exec:", "://x"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseSecretAndSecrets(t *testing.T) {
	r, err := ParseSecret("DB_PASSWORD=vault://secret/app/db#password")
	if err != nil || r.Name != "DB_PASSWORD" || r.Ref.Field != "password" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"X=exec:echo A=1", "vault://secret/app/db#password", "1X=vault://a/b#c", "X-Y=vault://a/b#c", "X=vault://a/b", "=vault://a/b#c"} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("-secret %q accepted", bad)
		}
	}
	if _, err := ParseSecrets("vault://a/b#c"); err == nil {
		t.Error("-secrets with a field accepted")
	}
}

type fakeReader map[string]*Result

func (f fakeReader) Read(_ context.Context, ref Ref) (*Result, error) {
	if r, ok := f[ref.Path]; ok {
		return r, nil
	}
	return nil, ErrNotFound
}

// Collect is tested with an in-memory Reader: it is the naming and merging
// logic; the real readers have their own tests against real servers.
func TestCollectNamesFieldsAndConflicts(t *testing.T) {
	rd := fakeReader{
		"secret/app/db":  {Data: map[string]any{"password": "p1", "user": "u", "conn": map[string]any{"host": "h", "port": 5432.0}}, Version: "4"},
		"secret/app/api": {Data: map[string]any{"user": "other"}},
	}
	readers := Readers{"vault": rd}
	reqs := []Request{
		mustSecrets(t, "vault://secret/app/db"),
		mustSecret(t, "PW=vault://secret/app/db#password"),
		mustSecret(t, "HOST=vault://secret/app/db#conn.host"),
	}
	env, loaded, err := Collect(context.Background(), readers, reqs, false)
	if err != nil {
		t.Fatal(err)
	}
	vars := env.Vars()
	want := map[string]string{"PASSWORD": "p1", "USER": "u", "CONN_HOST": "h", "CONN_PORT": "5432", "PW": "p1", "HOST": "h"}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
	if len(vars) != len(want) || len(loaded) != 3 || loaded[0].Version != "4" || strings.Join(loaded[0].Names, ",") != "CONN_HOST,CONN_PORT,PASSWORD,USER" {
		t.Errorf("vars %v loaded %+v", vars, loaded)
	}

	// USER from two sources: an error naming both, unless override.
	clash := append(reqs, mustSecrets(t, "vault://secret/app/api"))
	if _, _, err := Collect(context.Background(), readers, clash, false); err == nil || !strings.Contains(err.Error(), "variable USER is set by both vault://secret/app/db and vault://secret/app/api") {
		t.Fatalf("clash: %v", err)
	}
	env, _, err = Collect(context.Background(), readers, clash, true)
	if err != nil || env.Vars()["USER"] != "other" {
		t.Fatalf("override: %v %v", env, err)
	}

	// Fail closed: missing field, object field, missing secret, no reader.
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{mustSecret(t, "X=vault://secret/app/db#nope"), `field not found: "nope" (the secret has fields "conn", "password", "user")`},
		{mustSecret(t, "X=vault://secret/app/db#conn"), "is an object"},
		{mustSecrets(t, "vault://secret/app/missing"), "secret not found"},
		{mustSecrets(t, "s3://b/k"), `no reader for scheme "s3"`},
	} {
		_, _, err := Collect(context.Background(), readers, []Request{tc.req}, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "p1") {
			t.Errorf("%s: %v, want %q", tc.req.Ref, err, tc.want)
		}
	}
	if _, _, err := Collect(context.Background(), readers, []Request{mustSecret(t, "X=vault://secret/app/db#nope")}, false); !errors.Is(err, ErrMissingField) {
		t.Errorf("missing field is not ErrMissingField: %v", err)
	}
}

func mustSecret(t *testing.T, s string) Request {
	t.Helper()
	r, err := ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustSecrets(t *testing.T, s string) Request {
	t.Helper()
	r, err := ParseSecrets(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type countingReader struct {
	mu  sync.Mutex // Refresh reads concurrently
	n   map[string]int
	res map[string]*Result
}

func (c *countingReader) Read(_ context.Context, ref Ref) (*Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[ref.Path]++
	r := *c.res[ref.Path]
	return &r, nil
}

func TestRefreshRereadsOnlyWatchableOrForced(t *testing.T) {
	cr := &countingReader{n: map[string]int{}, res: map[string]*Result{
		"secret/app":       {Data: map[string]any{"a": "1"}, Watchable: true},
		"database/creds/x": {Data: map[string]any{"user": "u1"}, Lease: &Lease{ID: "l1"}},
	}}
	readers := Readers{"vault": cr}
	reqs := []Request{mustSecrets(t, "vault://secret/app"), mustSecrets(t, "vault://database/creds/x")}
	_, loaded, err := Collect(context.Background(), readers, reqs, false)
	if err != nil {
		t.Fatal(err)
	}
	_, loaded, err = Refresh(context.Background(), readers, reqs, loaded, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cr.n["secret/app"] != 2 || cr.n["database/creds/x"] != 1 {
		t.Fatalf("reads %v: want KV read twice, the leased secret once", cr.n)
	}
	cr.res["database/creds/x"] = &Result{Data: map[string]any{"user": "u2"}, Lease: &Lease{ID: "l2"}}
	env, _, err := Refresh(context.Background(), readers, reqs, loaded, false, func(i int) bool { return i == 1 })
	if err != nil || cr.n["database/creds/x"] != 2 || env.Vars()["USER"] != "u2" {
		t.Fatalf("forced re-read: %v %v %v", cr.n, env, err)
	}
}
