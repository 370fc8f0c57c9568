package prestart

import (
	"testing"

	"github.com/keyturn/keyturn/internal/pkicert"
)

func pkicertRequest(t *testing.T) pkicert.Request {
	t.Helper()
	r, err := pkicert.Parse("tls=pki/issue/app?common_name=app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return r
}
