package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyturn/keyturn/internal/scripttest"
	"github.com/keyturn/keyturn/internal/unseal"
)

// openPTY returns a new pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// splitFor writes share files of secret for two gpg-made keys, the second
// protected by passphrase, and returns them with the private key files.
func splitFor(t *testing.T, secret []byte, passphrase string) (shares, privateKeys []string) {
	t.Helper()
	dir := t.TempDir()
	var pubs []string
	for i, g := range []*scripttest.GnuPG{
		scripttest.NewGnuPG(t, "alice", "", "future-default"),
		scripttest.NewGnuPG(t, "bob", passphrase, "future-default"),
	} {
		pub, err := g.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		sec, err := g.SecretKey()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("op%d.asc", i))
		os.WriteFile(p, pub, 0o600)
		os.WriteFile(p+".sec", sec, 0o600)
		pubs = append(pubs, p)
		privateKeys = append(privateKeys, p+".sec")
	}
	to, err := unseal.ReadRecipients(pubs)
	if err != nil {
		t.Fatal(err)
	}
	files, err := unseal.Split(secret, 2, to)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		p := filepath.Join(dir, fmt.Sprintf("share%d.key", i))
		os.WriteFile(p, []byte(f), 0o600)
		shares = append(shares, p)
	}
	return shares, privateKeys
}

// A protected -private-key is unlocked with a passphrase asked on the
// controlling terminal, and what is typed there is not echoed.
func TestPassphrasePromptDoesNotEcho(t *testing.T) {
	const passphrase = "bob secret words"
	secret := make([]byte, 64)
	rand.Read(secret)
	shares, keys := splitFor(t, secret, passphrase)
	master, slave := openPTY(t)
	out := filepath.Join(t.TempDir(), "secret.out")

	cmd := exec.Command("unseal", "combine", "-private-key", keys[0], "-private-key", keys[1], "-out", out, shares[0], shares[1])
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unseal (from testscript.Main's PATH): %v", err)
	}
	// What the terminal shows arrives in chunks; done closes when the
	// last terminal descriptor is gone and the master reads EIO.
	chunks, done := make(chan []byte), make(chan struct{})
	go func() {
		defer close(done)
		for {
			buf := make([]byte, 256)
			n, err := master.Read(buf)
			if n > 0 {
				chunks <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	var screen bytes.Buffer
	timeout := time.After(20 * time.Second)
	for !strings.Contains(screen.String(), "(will be hidden): ") {
		select {
		case c := <-chunks:
			screen.Write(c)
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("no passphrase prompt on the terminal; stderr: %s", stderr.String())
		}
	}
	// The prompt is printed just before echo goes off: wait for the
	// terminal to say so before typing.
	waitEchoOff(t, master)
	if _, err := master.Write([]byte(passphrase + "\n")); err != nil {
		t.Fatal(err)
	}
	// Collect the rest of the screen until the child and our own copy
	// of the terminal are gone.
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	collect := func() {
		for {
			select {
			case c := <-chunks:
				screen.Write(c)
			case <-done:
				return
			}
		}
	}
	var err error
	limit := time.After(20 * time.Second)
	for finished := false; !finished; {
		select {
		case c := <-chunks:
			screen.Write(c)
		case err = <-waitErr:
			finished = true
		case <-limit:
			cmd.Process.Kill()
			t.Fatalf("combine did not finish; stderr: %s", stderr.String())
		}
	}
	if err != nil {
		t.Fatalf("combine: %v\n%s", err, stderr.String())
	}
	slave.Close()
	collect()
	shown := screen.String()
	if strings.Contains(shown, "secret words") {
		t.Fatalf("the passphrase was echoed: %q", shown)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("combined secret wrong (%v)", err)
	}
}

// waitEchoOff waits until the terminal no longer echoes input. Termios
// requests on a pty master act on its slave.
func waitEchoOff(t *testing.T, master *os.File) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatalf("read terminal modes: %v", err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("echo never went off on the terminal")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// combine does not print a secret to a terminal unless told to.
func TestCombineRefusesTerminal(t *testing.T) {
	secret := []byte("the break-glass key")
	shares, keys := splitFor(t, secret, "")
	_, slave := openPTY(t)
	var stderr bytes.Buffer
	args := []string{"combine", "-private-key", keys[0], "-private-key", keys[1], shares[0], shares[1]}
	if code := run(context.Background(), args, strings.NewReader(""), slave, &stderr); code != 2 {
		t.Fatalf("combine to a terminal exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "refusing to print the secret to a terminal") {
		t.Fatalf("stderr: %s", stderr.String())
	}
	var out bytes.Buffer
	if code := run(context.Background(), args, strings.NewReader(""), &out, &stderr); code != 0 || out.String() != string(secret) {
		t.Fatalf("combine to a pipe: exit %d, %d bytes", code, out.Len())
	}
}
