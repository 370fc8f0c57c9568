package source

import (
	"context"
	"errors"
	"testing"

	"github.com/keyturn/keyturn/internal/envfmt"
)

// TestCollectUnsafeNames: a name from data on the unsafe list is refused
// unless the request names it or AllowNames lists it; naming it in one
// request does not let another request's data set it.
func TestCollectUnsafeNames(t *testing.T) {
	readers := Readers{"vault": fakeReader{
		"secret/hook": {Data: map[string]any{"ld_preload": "/tmp/x.so", "user": "app"}},
		"secret/db":   {Data: map[string]any{"password": "orange1"}},
	}}
	mustReq := func(r Request, err error) Request {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	hook := mustReq(ParseSecrets("vault://secret/hook"))
	named := mustReq(ParseSecret("PATH=vault://secret/db#password"))

	_, _, err := Collect(context.Background(), readers, []Request{hook}, false)
	var ue *envfmt.UnsafeNameError
	if !errors.As(err, &ue) || ue.Name != "LD_PRELOAD" || ue.Source != "vault://secret/hook" {
		t.Fatalf("got %v", err)
	}
	env, _, err := Collect(context.Background(), readers, []Request{hook}, false, AllowNames("LD_PRELOAD"))
	if err != nil || env.Vars()["LD_PRELOAD"] != "/tmp/x.so" {
		t.Fatalf("allowed: %v", err)
	}
	env, _, err = Collect(context.Background(), readers, []Request{named}, false)
	if err != nil || env.Vars()["PATH"] != "orange1" {
		t.Fatalf("named: %v", err)
	}
	// PATH named by one request; data of another may still not set it.
	readers["vault"].(fakeReader)["secret/path"] = &Result{Data: map[string]any{"path": "/evil"}}
	pathData := mustReq(ParseSecrets("vault://secret/path"))
	if _, _, err := Collect(context.Background(), readers, []Request{named, pathData}, true); !errors.As(err, &ue) || ue.Name != "PATH" {
		t.Fatalf("override through data: %v", err)
	}
}
