package unseal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keyturn/keyturn/internal/pgp"
)

// KeyFileSuffix is appended to a public key file's name to name the file
// that holds what was encrypted to it: alice.asc gives alice.asc.key, as in
// the setup script operators used before. Every such file holds base64 of a
// binary OpenPGP message, so `base64 -d < FILE | gpg -dq` decrypts it.
const KeyFileSuffix = ".key"

// RootTokenFile is the name of the file init writes the PGP-encrypted root
// token to, in the same form as the share files.
const RootTokenFile = "root-token" + KeyFileSuffix

// Recipient is an operator's public key and the file it came from.
type Recipient struct {
	Path string
	Key  *pgp.Key
}

// OutName is the name of the file that holds what is encrypted to r.
func (r Recipient) OutName() string { return filepath.Base(r.Path) + KeyFileSuffix }

// ReadRecipients reads public key files in any form pgp.ReadPublicKey
// accepts. It refuses the same key given twice (two shares for one person
// would defeat the threshold) and two files whose output names collide.
func ReadRecipients(paths []string) ([]Recipient, error) {
	var out []Recipient
	byFpr := map[string]string{}
	byName := map[string]string{}
	for _, p := range paths {
		data, err := readLimited(p, pgp.MaxKeySize)
		if err != nil {
			return nil, fmt.Errorf("public key %s: %w", p, err)
		}
		k, err := pgp.ReadPublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("public key %s: %w", p, err)
		}
		r := Recipient{Path: p, Key: k}
		if prev, ok := byFpr[k.Fingerprint()]; ok {
			return nil, fmt.Errorf("%s and %s are the same key (%s): each share must go to a different key", prev, p, k.Fingerprint())
		}
		if prev, ok := byName[r.OutName()]; ok {
			return nil, fmt.Errorf("%s and %s would both write %s: rename one of the key files", prev, p, r.OutName())
		}
		if r.OutName() == RootTokenFile {
			return nil, fmt.Errorf("key file %s would write %s, the name of the root token file: rename it", p, RootTokenFile)
		}
		byFpr[k.Fingerprint()] = p
		byName[r.OutName()] = p
		out = append(out, r)
	}
	return out, nil
}

// PrepareOutDir makes sure dir exists (creating it with mode 0700 if its
// parent exists) and that none of names exists in it yet. Files from an
// earlier init or rekey are never overwritten: they may be the only copy of
// shares that still unseal something.
func PrepareOutDir(dir string, names []string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("output directory: %w", err)
		}
	case err != nil:
		return fmt.Errorf("output directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("output directory %s is not a directory", dir)
	}
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists: move it away first (it may hold shares that are still in use)", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("output file: %w", err)
		}
	}
	// Find out now, not after Vault has handed out its only copy of the
	// shares, whether files can be created here.
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("output directory %s is not writable: %w", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// readLimited reads a regular file of at most max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return data, nil
}
