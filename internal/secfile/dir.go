package secfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DataLink is the symbolic link in a directory written by WriteDir that
// points at the current generation of its files. A reader that needs
// several files from one generation (a key and its certificate) resolves
// it once and reads every file through the result.
const DataLink = "..data"

// WriteDir replaces the files in dir as a whole, as Kubernetes' atomic
// writer does: the new files go into a fresh hidden directory, a symbolic
// link ..data_tmp is pointed at it and renamed over ..data, and then the
// previous generation is removed. Each name in files appears in dir as a
// link to ..data/NAME, created once; a regular file of that name left by
// an older version is replaced by its link. Renaming one link switches
// every file at once, so no reader can find a new key under ..data with
// the old certificate.
//
// Names must be plain file names that do not start with "..".
func WriteDir(dir string, files map[string][]byte) error {
	for name := range files {
		if name == "" || strings.HasPrefix(name, "..") || filepath.Base(name) != name {
			return fmt.Errorf("write secret directory %s: bad file name %q", dir, name)
		}
	}
	gen, err := newGeneration(dir)
	if err != nil {
		return fmt.Errorf("write secret directory %s: %w", dir, err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(gen)
		}
	}()
	for name, data := range files {
		if err := writeNew(filepath.Join(gen, name), data); err != nil {
			return fmt.Errorf("write secret directory %s: %w", dir, err)
		}
	}
	if err := syncDir(gen); err != nil {
		return fmt.Errorf("write secret directory %s: sync: %w", dir, err)
	}
	data := filepath.Join(dir, DataLink)
	old, err := os.Readlink(data)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write secret directory %s: %w", dir, err)
	}
	tmp := filepath.Join(dir, DataLink+"_tmp")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write secret directory %s: %w", dir, err)
	}
	if err := os.Symlink(filepath.Base(gen), tmp); err != nil {
		return fmt.Errorf("write secret directory %s: %w", dir, err)
	}
	if err := os.Rename(tmp, data); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write secret directory %s: %w", dir, err)
	}
	committed = true
	for name := range files {
		if err := stableLink(dir, name); err != nil {
			return fmt.Errorf("write secret directory %s: %w", dir, err)
		}
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write secret directory %s: files replaced but directory sync failed: %w", dir, err)
	}
	// Only names WriteDir made can be removed: a ..data pointing
	// elsewhere was not ours.
	if old != "" && old != filepath.Base(gen) && strings.HasPrefix(old, "..") && filepath.Base(old) == old {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			return fmt.Errorf("write secret directory %s: remove the previous files: %w", dir, err)
		}
	}
	return nil
}

// newGeneration makes the hidden directory for one set of files; its name
// sorts by time, which helps whoever inspects the directory.
func newGeneration(dir string) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := filepath.Join(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05.000000000")+"."+hex.EncodeToString(b[:]))
	if err := os.Mkdir(name, 0o700); err != nil {
		return "", err
	}
	// The umask may have taken bits the owner needs.
	return name, os.Chmod(name, 0o700)
}

// writeNew creates path, which must not exist, with data, mode 0600.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_SYNC, Mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(Mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stableLink makes dir/name a link to ..data/name unless it is one.
func stableLink(dir, name string) error {
	path := filepath.Join(dir, name)
	want := filepath.Join(DataLink, name)
	if got, err := os.Readlink(path); err == nil && got == want {
		return nil
	}
	// Renamed into place, so that a regular file from an older version
	// is never missing in between.
	tmp := filepath.Join(dir, "."+name+".link-tmp")
	os.Remove(tmp)
	if err := os.Symlink(want, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
