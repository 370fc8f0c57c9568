// Package secfile reads and writes files that hold secrets.
//
// Every file it creates has mode 0600 whatever the process umask is, and
// appears at its final path only complete: data goes to a temporary file in
// the same directory (so the rename cannot cross a filesystem), which is
// fsynced, renamed over the destination, and then the directory is fsynced so
// the rename itself survives a crash. A reader therefore sees either the old
// content or the new one, never a prefix of it.
//
// Nothing in this package puts file contents into an error message.
package secfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Mode is the permission every file written by this package gets.
const Mode fs.FileMode = 0o600

// ErrTooLarge is returned by ReadAndRemove when the file holds more than the
// allowed number of bytes.
var ErrTooLarge = errors.New("file is larger than allowed")

// ErrSymlink is returned by Write when the destination is a symbolic link.
var ErrSymlink = errors.New("refusing to replace a symbolic link")

// Write atomically replaces path with data, mode 0600.
//
// The data is written to a new file in path's directory (created with
// O_CREATE|O_EXCL and mode 0600, then chmod-ed to 0600 because a umask such as
// 0200 would otherwise leave it 0400), fsynced, and renamed over path; then the
// directory is fsynced. If any step before the rename fails, the temporary file
// is removed and path keeps its old content. If only the final directory fsync
// fails, the new content is already in place and the error says so.
//
// Symbolic links: if path itself is a symbolic link, Write refuses with
// ErrSymlink. A rename replaces the link rather than writing through it, which
// would silently detach whatever the link pointed to, and writing through it
// instead would let whoever can plant a link choose where a secret lands.
// Callers that want the target written pass the resolved path. Symbolic links
// in the directory part of path are followed as usual.
//
// Write does not keep the old file's owner or mode; the result is always owned
// by the caller with mode 0600.
func Write(path string, data []byte) error {
	if path == "" {
		return errors.New("write secret file: empty path")
	}
	if fi, err := os.Lstat(path); err == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("write secret file %s: %w", path, ErrSymlink)
		case !fi.Mode().IsRegular():
			return fmt.Errorf("write secret file %s: not a regular file", path)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write secret file: %w", err)
	}

	dir := filepath.Dir(path)
	tmp, err := createTemp(dir, filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write secret file %s: %w", path, err)
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()

	// Chmod explicitly: the mode given to open is filtered by the umask.
	if err := tmp.Chmod(Mode); err != nil {
		return fmt.Errorf("write secret file %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write secret file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write secret file %s: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write secret file %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("write secret file %s: %w", path, err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write secret file %s: content replaced but directory sync failed: %w", path, err)
	}
	return nil
}

// createTemp creates a new, empty file next to the destination. The name
// starts with a dot so directory watchers and globs such as *.pem skip it.
func createTemp(dir, base string) (*os.File, error) {
	var lastErr error
	for range 10 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		name := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(b[:]))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, Mode)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		lastErr = err
	}
	return nil, lastErr
}

// syncDir makes a rename in dir durable. Filesystems that cannot fsync a
// directory report EINVAL; there is nothing more to do on those.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// ReadAndRemove reads a one-time credential file of at most max bytes and then
// unlinks it, so the credential does not outlive its single use on disk.
//
// The file must be a regular file (a FIFO or device is refused rather than read
// without end). If path is a symbolic link it is followed for reading and the
// link itself is removed, not its target: targets of such links usually live
// on read-only mounts.
//
// On any error the file is left in place and no data is returned: a file that
// is too large (ErrTooLarge) is likely not the credential the caller expected,
// and the operator may want to look at it. If the read succeeded but the unlink
// failed, the data is wiped and an error returned, because the caller asked
// for a credential that does not stay on disk.
//
// The content is returned exactly as stored; use TrimNewline to drop the line
// ending that editors and echo add.
func ReadAndRemove(path string, max int64) ([]byte, error) {
	if max <= 0 {
		return nil, fmt.Errorf("read secret file %s: invalid size limit %d", path, max)
	}
	// O_NONBLOCK so that opening a FIFO does not hang waiting for a writer;
	// it is refused just below anyway. It has no effect on regular files.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read secret file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read secret file %s: not a regular file", path)
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("read secret file %s: %w (limit %d bytes)", path, ErrTooLarge, max)
	}
	// The size check above is advisory (the file may grow); the limited read
	// is what bounds memory.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		wipe(data)
		return nil, fmt.Errorf("read secret file %s: %w", path, err)
	}
	if int64(len(data)) > max {
		wipe(data)
		return nil, fmt.Errorf("read secret file %s: %w (limit %d bytes)", path, ErrTooLarge, max)
	}
	if err := os.Remove(path); err != nil {
		wipe(data)
		return nil, fmt.Errorf("remove secret file after reading: %w", err)
	}
	return data, nil
}

// TrimNewline returns b without one trailing line ending ("\n" or "\r\n").
// Only one is removed: a credential is a single line, and further blank lines
// would be content the caller should see rather than have silently dropped.
func TrimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// wipe overwrites b so a secret does not linger in memory longer than needed.
// It is best effort: the garbage collector may already have copied it.
func wipe(b []byte) {
	clear(b)
}
