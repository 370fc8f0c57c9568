package secfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The re-exec mode runs one scenario in a fresh process: lowering a resource
// limit would otherwise affect every other test in this binary.
func TestMain(m *testing.M) {
	if os.Getenv("SECFILE_TEST_REEXEC") == "fsize" {
		os.Exit(reexecFileSizeLimit(os.Getenv("SECFILE_TEST_PATH")))
	}
	os.Exit(m.Run())
}

// reexecFileSizeLimit makes the write of the temporary file fail part way
// (EFBIG), which is the failure after the temporary file already exists.
func reexecFileSizeLimit(path string) int {
	lim := syscall.Rlimit{Cur: 8, Max: 8}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		os.Stderr.WriteString("setrlimit: " + err.Error() + "\n")
		return 2
	}
	err := Write(path, bytes.Repeat([]byte("n"), 4096))
	if err == nil {
		os.Stderr.WriteString("write succeeded despite the size limit\n")
		return 3
	}
	return 0
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func assertOnly(t *testing.T, dir string, want ...string) {
	t.Helper()
	got := dirNames(t, dir)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("directory holds %q, want exactly %q (temporary file left over?)", got, want)
	}
}

func assertMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: mode %v, want regular 0600", path, fi.Mode())
	}
}

func assertContent(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s holds %q, want %q", path, got, want)
	}
}

// Not parallel: the umask belongs to the whole process.
func TestWriteModeIgnoresUmask(t *testing.T) {
	for _, mask := range []int{0, 0o022, 0o077, 0o277} {
		old := syscall.Umask(mask)
		dir := t.TempDir()
		p := filepath.Join(dir, "secret")
		err := Write(p, []byte("s3cr3t"))
		syscall.Umask(old)
		if err != nil {
			t.Fatalf("umask %04o: %v", mask, err)
		}
		assertMode(t, p)
		assertContent(t, p, "s3cr3t")
		assertOnly(t, dir, "secret")
	}
}

func TestWriteTightensExistingMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "env")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	assertMode(t, p)
	assertContent(t, p, "new")
	assertOnly(t, dir, "env")
}

func TestWriteEmpty(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "empty")
	if err := Write(p, nil); err != nil {
		t.Fatal(err)
	}
	assertMode(t, p)
	assertContent(t, p, "")
}

// A reader that opened the old file keeps seeing the old content in full:
// the replacement is a new inode, never an in-place rewrite.
func TestWriteReplacesInode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, []byte("old content")); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Write(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := f.Read(buf)
	if string(buf[:n]) != "old content" {
		t.Fatalf("open reader saw %q", buf[:n])
	}
	assertContent(t, p, "new")
}

func TestWriteFailureKeepsOld(t *testing.T) {
	t.Run("path is a directory", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "d")
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "inside"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Write(p, []byte("new")); err == nil {
			t.Fatal("write over a directory succeeded")
		}
		assertContent(t, filepath.Join(p, "inside"), "x")
		assertOnly(t, dir, "d")
	})
	t.Run("path is a symlink", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "target")
		if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "link")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		err := Write(link, []byte("new"))
		if !errors.Is(err, ErrSymlink) {
			t.Fatalf("got %v, want ErrSymlink", err)
		}
		assertContent(t, target, "old")
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("link replaced: %v %v", fi, err)
		}
		assertOnly(t, dir, "link", "target")
	})
	t.Run("missing directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := Write(filepath.Join(dir, "no", "such"), []byte("x")); err == nil {
			t.Fatal("write into a missing directory succeeded")
		}
		assertOnly(t, dir)
	})
	t.Run("write fails after the temporary file exists", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SECFILE_TEST_REEXEC=fsize", "SECFILE_TEST_PATH="+p)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("re-executed test: %v\n%s", err, out)
		}
		assertContent(t, p, "old")
		assertOnly(t, dir, "f")
	})
}

func TestReadAndRemove(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret-id")
	if err := os.WriteFile(p, []byte("abc-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAndRemove(p, 8)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "abc-123\n" {
		t.Fatalf("got %q", got)
	}
	if string(TrimNewline(got)) != "abc-123" {
		t.Fatalf("trimmed %q", TrimNewline(got))
	}
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file still there: %v", err)
	}
	if _, err := ReadAndRemove(p, 8); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("second read: %v, want not exist", err)
	}
}

func TestReadAndRemoveSizeCap(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big")
	if err := os.WriteFile(p, []byte("123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAndRemove(p, 8)
	if !errors.Is(err, ErrTooLarge) || got != nil {
		t.Fatalf("got %q, %v; want ErrTooLarge", got, err)
	}
	if strings.Contains(err.Error(), "123456789") {
		t.Fatalf("error shows the content: %v", err)
	}
	assertContent(t, p, "123456789") // left for the operator to inspect
	if _, err := ReadAndRemove(p, 0); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

func TestReadAndRemoveSymlinkRemovesLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("v"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAndRemove(link, 10)
	if err != nil || string(got) != "v" {
		t.Fatalf("got %q, %v", got, err)
	}
	assertOnly(t, dir, "target")
}

func TestReadAndRemoveRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ReadAndRemove(p, 10)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("fifo accepted")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadAndRemove blocked on a FIFO")
	}
	assertOnly(t, dir, "fifo")
}

func TestTrimNewline(t *testing.T) {
	for in, want := range map[string]string{
		"":          "",
		"a":         "a",
		"a\n":       "a",
		"a\r\n":     "a",
		"a\n\n":     "a\n",
		"a\r":       "a\r",
		"\n":        "",
		"a\nb\n":    "a\nb",
		"a\r\r\n":   "a\r",
		"tok en \n": "tok en ",
	} {
		if got := string(TrimNewline([]byte(in))); got != want {
			t.Errorf("TrimNewline(%q) = %q, want %q", in, got, want)
		}
	}
}
