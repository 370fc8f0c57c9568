package prestart

import "testing"

func TestParseCredentialKinds(t *testing.T) {
	for _, tc := range []struct {
		in             string
		secretID, wrap bool
	}{
		{"8a6a5ef4-6f8b-4c1e-9c1a-1d2e3f4a5b6c", true, false},
		{"8A6A5EF4-6F8B-4C1E-9C1A-1D2E3F4A5B6C\n", true, false},
		{"VAULT_SECRET_ID=anything", true, false},
		{"hvs.CAESIAbCdEf", false, true},
		{"VAULT_WRAPPED_SECRET_ID=hvs.x", false, true},
		// Near misses of the UUID form are wrapping tokens.
		{"8a6a5ef4-6f8b-4c1e-9c1a-1d2e3f4a5b6", false, true},
		{"8a6a5ef4x6f8b-4c1e-9c1a-1d2e3f4a5b6c", false, true},
		{"8a6a5ef4-6f8b-4c1e-9c1a-1d2e3f4a5b6g", false, true},
	} {
		c, err := parseCredential(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if (c.SecretID != "") != tc.secretID || (c.WrappingToken != "") != tc.wrap {
			t.Errorf("%q: secret ID %v, wrapping token %v", tc.in, c.SecretID != "", c.WrappingToken != "")
		}
	}
}
