package prestart

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/keyturn/keyturn/internal/approle"
	"github.com/keyturn/keyturn/internal/launch"
	"github.com/keyturn/keyturn/internal/secfile"
)

// maxCredentialFile bounds what is read from a credential file: a wrapping
// token or secret ID is far smaller, so anything bigger is the wrong file.
const maxCredentialFile = 4096

// isUUID reports whether s has the 8-4-4-4-12 hex form of a secret ID,
// checked by hand rather than by a package-level regexp that every start
// would compile.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// oneTimeCredential finds the wrapped or bare secret ID: -secret-id-file,
// then VAULT_WRAPPED_SECRET_ID, then VAULT_SECRET_ID.
func (c Credentials) oneTimeCredential(environ []string) (approle.Credential, error) {
	if c.SecretIDFile != "" {
		var b []byte
		var err error
		if c.KeepSecretIDFile {
			b, err = readBounded(c.SecretIDFile)
		} else {
			b, err = secfile.ReadAndRemove(c.SecretIDFile, maxCredentialFile)
			err = consumed(err, "secret ID file", c.SecretIDFile, true)
		}
		if err != nil {
			return approle.Credential{}, err
		}
		return parseCredential(string(b))
	}
	if v, _ := launch.Lookup(environ, "VAULT_WRAPPED_SECRET_ID"); v != "" {
		return approle.Credential{WrappingToken: strings.TrimSpace(v)}, nil
	}
	if v, _ := launch.Lookup(environ, "VAULT_SECRET_ID"); v != "" {
		return approle.Credential{SecretID: strings.TrimSpace(v)}, nil
	}
	return approle.Credential{}, nil
}

// parseCredential reads a credential file: the VAULT_WRAPPED_SECRET_ID=
// or VAULT_SECRET_ID= line `issuer mint -format env` writes, or a bare
// value, which is a secret ID when it is a UUID and a wrapping token
// otherwise.
func parseCredential(s string) (approle.Credential, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\n\r") {
		return approle.Credential{}, errors.New("secret ID file holds more than one line")
	}
	if v, ok := strings.CutPrefix(s, "VAULT_WRAPPED_SECRET_ID="); ok {
		return approle.Credential{WrappingToken: v}, nil
	}
	if v, ok := strings.CutPrefix(s, "VAULT_SECRET_ID="); ok {
		return approle.Credential{SecretID: v}, nil
	}
	if s == "" {
		return approle.Credential{}, errors.New("secret ID file is empty")
	}
	if isUUID(s) {
		return approle.Credential{SecretID: s}, nil
	}
	return approle.Credential{WrappingToken: s}, nil
}

func readBounded(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read credential file: %w", err)
	}
	if fi.Size() > maxCredentialFile {
		return nil, fmt.Errorf("credential file %s is larger than %d bytes", path, maxCredentialFile)
	}
	return os.ReadFile(path)
}

func (c Credentials) roleID(environ []string) (string, error) {
	if c.RoleIDFile != "" {
		b, err := readBounded(c.RoleIDFile)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	v, _ := launch.Lookup(environ, "VAULT_ROLE_ID")
	return strings.TrimSpace(v), nil
}
