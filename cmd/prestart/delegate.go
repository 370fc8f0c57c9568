package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/keyturn/keyturn/internal/hide"
	"github.com/keyturn/keyturn/internal/prestart"
)

// s3Binary is prestart built with the AWS SDK. The lean prestart (-tags
// nos3) runs it in its own place when a source is s3://: linking the SDK
// costs every start its package initialisation, S3 or not, and most
// starts read Vault only.
const s3Binary = "prestart-s3"

// errNoS3Binary is what delegate returns when prestart-s3 is needed and
// cannot be found.
var errNoS3Binary = errors.New(s3Binary + " not found")

// delegate replaces this process with prestart-s3, same arguments, same
// environment, when the plan has an s3:// source and this build has no
// reader for it. It runs before anything touches a credential, so
// prestart-s3 starts exactly as prestart would have. It returns nil when
// there is nothing to delegate.
func delegate(p *prestart.Plan, args []string, s3 prestart.ReaderFunc) error {
	if s3 != nil || os.Getenv(hide.MarkerEnv) != "" {
		return nil
	}
	needed := false
	for _, r := range p.Requests {
		needed = needed || r.Ref.Scheme == "s3"
	}
	if !needed {
		return nil
	}
	self, _ := os.Executable()
	path, err := findS3Binary(self, exec.LookPath)
	if err != nil {
		return err
	}
	return fmt.Errorf("run %s: %w", path, syscall.Exec(path, append([]string{path}, args...), os.Environ()))
}

// findS3Binary looks for prestart-s3 beside this executable first, the
// way a release unpacks them, and then in PATH.
func findS3Binary(self string, lookPath func(string) (string, error)) (string, error) {
	if self != "" {
		if real, err := filepath.EvalSymlinks(self); err == nil {
			self = real
		}
		p := filepath.Join(filepath.Dir(self), s3Binary)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := lookPath(s3Binary); err == nil {
		return p, nil
	}
	where := "PATH"
	if self != "" {
		where = filepath.Dir(self) + " or PATH"
	}
	return "", fmt.Errorf("a source is s3://, which this prestart reads through %s, and there is none in %s: %w", s3Binary, where, errNoS3Binary)
}
