package vaulterr_test

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/vaulterr"
)

// FuzzDetail: whatever Vault sends in its error list, the detail is one
// line and keeps every word Vault sent outside the multierror framing.
func FuzzDetail(f *testing.F) {
	f.Add("1 error occurred:\n\t* permission denied\n\n", "")
	f.Add("invalid role or secret ID", "second\nline")
	f.Add("2 errors occurred:\n\t* a\n\t* b\n\n", "plain")
	f.Fuzz(func(t *testing.T, e1, e2 string) {
		re := &api.ResponseError{StatusCode: 400, Errors: []string{e1, e2}}
		d := vaulterr.Detail(re)
		if strings.ContainsAny(d, "\r\n") {
			t.Fatalf("Detail(%q, %q) = %q spans lines", e1, e2, d)
		}
		for _, e := range []string{e1, e2} {
			if strings.Contains(e, "occurred:") {
				continue
			}
			for _, w := range strings.Fields(e) {
				if !strings.Contains(d, w) {
					t.Fatalf("Detail(%q, %q) = %q lost %q", e1, e2, d, w)
				}
			}
		}
	})
}
