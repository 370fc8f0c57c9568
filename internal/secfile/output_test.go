package secfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOutputCommit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.env")
	o := NewOutput(p)
	defer o.Abort()
	for i := range 1000 {
		fmt.Fprintf(o, "LINE_%d='%s'\n", i, strings.Repeat("x", i%17))
	}
	if _, err := os.Lstat(p); err == nil {
		t.Fatal("file exists before Commit")
	}
	assertOnly(t, dir)
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	assertMode(t, p)
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(got, []byte("\n")); n != 1000 {
		t.Fatalf("%d lines", n)
	}
	if !bytes.HasPrefix(got, []byte("LINE_0=''\nLINE_1='x'\n")) {
		t.Fatalf("unexpected start %q", got[:30])
	}
	if _, err := o.Write([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after commit: %v", err)
	}
	if err := o.Commit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second commit: %v", err)
	}
	o.Abort() // no-op after Commit: the file stays
	assertOnly(t, dir, "out.env")
}

func TestOutputAbortCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	if err := os.WriteFile(p, []byte("previous"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := NewOutput(p)
	o.Write([]byte("half of it"))
	o.Abort()
	o.Abort()
	assertContent(t, p, "previous")
	if _, err := o.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after abort: %v", err)
	}
	if err := o.Commit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("commit after abort: %v", err)
	}
	assertOnly(t, dir, "out")
}

func TestOutputFailedCommitLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "isdir")
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	o := NewOutput(p)
	o.Write([]byte("data"))
	if err := o.Commit(); err == nil {
		t.Fatal("commit over a directory succeeded")
	}
	assertOnly(t, dir, "isdir")
}

func TestOutputEmptyCommit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "empty")
	if err := NewOutput(p).Commit(); err != nil {
		t.Fatal(err)
	}
	assertMode(t, p)
	assertContent(t, p, "")
}

func TestOutputStdout(t *testing.T) {
	var buf bytes.Buffer
	o := NewOutput("-")
	o.Stdout = &buf
	if o.Name() != "-" {
		t.Fatalf("name %q", o.Name())
	}
	o.Write([]byte("A='1'\n"))
	o.Write([]byte("B='2'\n"))
	if buf.Len() != 0 {
		t.Fatal("stdout written before Commit")
	}
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "A='1'\nB='2'\n" {
		t.Fatalf("stdout got %q", buf.String())
	}

	buf.Reset()
	o = NewOutput("-")
	o.Stdout = &buf
	o.Write([]byte("partial"))
	o.Abort()
	if buf.Len() != 0 {
		t.Fatal("aborted output printed")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestOutputStdoutError(t *testing.T) {
	o := NewOutput("-")
	o.Stdout = failWriter{}
	o.Write([]byte("x"))
	if err := o.Commit(); err == nil {
		t.Fatal("write error lost")
	}
}

// Growing the buffer must keep every byte in order across reallocations.
func TestOutputGrowth(t *testing.T) {
	var want bytes.Buffer
	var buf bytes.Buffer
	o := NewOutput("-")
	o.Stdout = &buf
	for i := range 300 {
		chunk := bytes.Repeat([]byte{byte('a' + i%26)}, i)
		want.Write(chunk)
		o.Write(chunk)
	}
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want.Bytes()) {
		t.Fatal("content differs after growth")
	}
}
