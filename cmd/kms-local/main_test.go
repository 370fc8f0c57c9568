package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// syncBuffer is written by the server goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type running struct {
	addr           string
	stdout, stderr *syncBuffer
	stop           func() int
}

// start runs kms-local on a random port until the returned stop is called.
func start(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	ready := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- serve(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), r.stdout, r.stderr, ready)
	}()
	select {
	case r.addr = <-ready:
	case code := <-done:
		cancel()
		t.Fatalf("kms-local exited with %d: %s", code, r.stderr)
	case <-time.After(10 * time.Second):
		t.Fatal("kms-local did not start")
	}
	var once sync.Once
	code := 0
	r.stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	t.Cleanup(func() { r.stop() })
	return r
}

func client(addr string) *kms.Client {
	return kms.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "unused", ""),
		BaseEndpoint: aws.String("http://" + addr),
	})
}

func TestServeAndStop(t *testing.T) {
	r := start(t, "-key", "alias/app-dev", "-key", "alias/app-prod")
	out := r.stdout.String()
	if !strings.Contains(out, "endpoint http://"+r.addr+"\n") {
		t.Fatalf("stdout lacks the endpoint:\n%s", out)
	}
	if strings.Count(out, "key arn:aws:kms:us-east-1:111122223333:key/") != 2 || !strings.Contains(out, "alias/app-dev") {
		t.Fatalf("stdout lacks the keys:\n%s", out)
	}
	c := client(r.addr)
	ctx := context.Background()
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/app-prod"), Plaintext: []byte("orange1")})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "orange1" {
		t.Fatalf("Decrypt: %v", err)
	}
	if code := r.stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, r.stderr)
	}
	log := r.stderr.String()
	if !strings.Contains(log, "Decrypt caller=AKIDTEST key=arn:aws:kms:") || strings.Contains(log, "orange1") {
		t.Fatalf("request log:\n%s", log)
	}
}

func writeKeysFile(t *testing.T, mode os.FileMode) string {
	t.Helper()
	material := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32))
	body := fmt.Sprintf(`{"keys": [{"id": "0b6f1d64-7d1c-4f6e-9d2c-3f1b8e0a5c21", "material": %q,
		"aliases": ["alias/app-dev"], "description": "demo", "allow": {"AKIDTEST": ["*"]}}]}`, material)
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeysFilePersists(t *testing.T) {
	path := writeKeysFile(t, 0o600)
	first := start(t, "-keys-file", path, "-key", "alias/app-dev", "-key", "alias/extra")
	enc, err := client(first.addr).Encrypt(context.Background(), &kms.EncryptInput{KeyId: aws.String("alias/app-dev"), Plaintext: []byte("kept")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(enc.KeyId); got != "arn:aws:kms:us-east-1:111122223333:key/0b6f1d64-7d1c-4f6e-9d2c-3f1b8e0a5c21" {
		t.Fatalf("alias/app-dev resolved to %s, not the file's key", got)
	}
	if n := strings.Count(first.stdout.String(), "key arn:"); n != 2 {
		t.Fatalf("want the file's key and one new key, got %d:\n%s", n, first.stdout)
	}
	first.stop()

	second := start(t, "-keys-file", path)
	dec, err := client(second.addr).Decrypt(context.Background(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "kept" {
		t.Fatalf("a blob from the previous run: %v", err)
	}
}

func TestErrors(t *testing.T) {
	loose := writeKeysFile(t, 0o644)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"keys":[{"id":"x","material":"AAAA"}]}`), 0o600)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-nope"}, 2, "kms-local: error: flag provided but not defined: -nope"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-addr", "nohostport"}, 2, "-addr"},
		{[]string{"-key", "app-dev"}, 2, "want alias/NAME"},
		{[]string{"-account", "12"}, 2, "-account"},
		{[]string{"-log-level", "loud"}, 2, "-log-level"},
		{[]string{"-addr", "127.0.0.1:0", "-keys-file", loose}, 1, "chmod 600"},
		{[]string{"-addr", "127.0.0.1:0", "-keys-file", bad}, 1, "32-byte base64"},
		{[]string{"-addr", "127.0.0.1:0", "-keys-file", "/nonexistent/keys.json"}, 1, "no such file"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, strings.NewReader(""), &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.want) || !strings.HasPrefix(stderr.String(), "kms-local: error: ") {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Example:") {
		t.Fatalf("-h: exit %d, %q", code, stdout.String())
	}
}
