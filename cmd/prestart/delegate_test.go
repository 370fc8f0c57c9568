package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// prestart-s3 is found beside the executable (through a symlink to it, as
// /usr/local/bin links often are), then in PATH; anything else is an error
// that says where it looked.
func TestFindS3Binary(t *testing.T) {
	release := t.TempDir()
	self := filepath.Join(release, "prestart")
	beside := filepath.Join(release, s3Binary)
	for _, f := range []string{self, beside} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := t.TempDir()
	link := filepath.Join(links, "prestart")
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	inPath := filepath.Join(t.TempDir(), s3Binary)
	lookPath := func(string) (string, error) { return inPath, nil }
	noPath := func(f string) (string, error) { return "", exec.ErrNotFound }

	for _, tc := range []struct {
		name, self string
		lookPath   func(string) (string, error)
		want       string
	}{
		{"beside", self, noPath, beside},
		{"beside the symlink's target", link, noPath, beside},
		{"beside wins over PATH", self, lookPath, beside},
		{"PATH", filepath.Join(links, "other"), lookPath, inPath},
		{"unknown executable, PATH", "", lookPath, inPath},
	} {
		got, err := findS3Binary(tc.self, tc.lookPath)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}

	// not executable beside, nowhere in PATH
	if err := os.Chmod(beside, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := findS3Binary(self, noPath)
	if !errors.Is(err, errNoS3Binary) {
		t.Fatalf("got %v, want errNoS3Binary", err)
	}
	if want := release + " or PATH"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say where it looked (%q)", err, want)
	}
}
