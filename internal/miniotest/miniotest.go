// Package miniotest runs a real MinIO server for tests: S3 with
// versioning and SSE-KMS (MinIO's static KMS key) on loopback, from the
// binary that tools/minio builds into bin/minio.
//
// A test that cannot start MinIO fails, with a hint to build the binary;
// it never skips, so a missing server cannot pass a suite silently.
package miniotest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const (
	// KMSKeyID is the name of MinIO's static KMS key, for SSEKMSKeyId.
	KMSKeyID = "my-key"
	// Region is what clients sign for; MinIO accepts us-east-1 by default.
	Region = "us-east-1"

	modulePath   = "github.com/keyturn/keyturn"
	readyTimeout = 30 * time.Second
	hint         = "build it with `make tools` (or: cd tools/minio && go build -o ../../bin/minio .), or set KEYTURN_MINIO to a minio binary"
)

// Server is a running MinIO.
type Server struct {
	// URL is the S3 endpoint, http://127.0.0.1:PORT.
	URL string
	// AccessKey and SecretKey are the root credentials, random per server.
	AccessKey, SecretKey string
	// Dir holds the data; LogPath MinIO's combined output.
	Dir, LogPath string

	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// Binary locates the MinIO binary: $KEYTURN_MINIO if set, otherwise
// bin/minio in the keyturn module root, found by walking up from the
// working directory (a test's working directory is its package directory).
func Binary() (string, error) {
	if p := os.Getenv("KEYTURN_MINIO"); p != "" {
		return checkExecutable(p)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isModuleRoot(dir) {
			return checkExecutable(filepath.Join(dir, "bin", "minio"))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s module root above the working directory", modulePath)
		}
		dir = parent
	}
}

func isModuleRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(mod), `"`) == modulePath
		}
	}
	return false
}

func checkExecutable(p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", p)
	}
	return p, nil
}

// Start runs a MinIO server with a fresh data directory and stops it when
// the test ends. On failure of the test, MinIO's log is printed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("miniotest: MinIO binary not found: %v\nminiotest: hint: %s", err, hint)
	}
	base := t.TempDir()
	var lastErr error
	// Ports are picked by binding and releasing them, so another process
	// can take one in between; a few attempts cover that race.
	for attempt := 1; attempt <= 3; attempt++ {
		s, err := start(t, bin, filepath.Join(base, fmt.Sprint(attempt)))
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("miniotest: %v\nminiotest: hint: is %s a working MinIO? %s", lastErr, bin, hint)
	return nil
}

func start(t testing.TB, bin, dir string) (*Server, error) {
	s := &Server{
		AccessKey: "keyturn-" + randomHex(6),
		SecretKey: randomHex(20),
		Dir:       filepath.Join(dir, "data"),
		LogPath:   filepath.Join(dir, "minio.log"),
		t:         t,
		done:      make(chan struct{}),
	}
	for _, d := range []string{s.Dir, filepath.Join(dir, "certs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	consoleAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + addr
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy of the descriptor

	kmsKey := make([]byte, 32)
	rand.Read(kmsKey) // never fails since Go 1.24
	s.cmd = exec.Command(bin, "server", s.Dir,
		"--address", addr, "--console-address", consoleAddr,
		// Keep MinIO away from ~/.minio.
		"--certs-dir", filepath.Join(dir, "certs"))
	s.cmd.Env = append(environWithout("MINIO_"),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_KMS_SECRET_KEY="+KMSKeyID+":"+base64.StdEncoding.EncodeToString(kmsKey),
		"MINIO_UPDATE=off",
	)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.stop()
		return nil, fmt.Errorf("MinIO did not become ready: %w\n--- %s ---\n%s", err, s.LogPath, s.logTail())
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("miniotest: MinIO log %s:\n%s", s.LogPath, s.logTail())
		}
	})
	return s, nil
}

func (s *Server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("the process exited (%v)", s.cmd.ProcessState)
		default:
		}
		resp, err := client.Get(s.URL + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer from %s/minio/health/ready within %v", s.URL, readyTimeout)
}

// stop asks MinIO to shut down and kills it if it takes too long.
func (s *Server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// logTail returns the end of MinIO's log, enough to diagnose a failure.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return err.Error()
	}
	const max = 32 << 10
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	return string(bytes.TrimSpace(b))
}

// Config returns an aws.Config with the server's root credentials and
// region. It has no endpoint: S3Client sets it for S3 only, so the same
// config can be combined with a KMS endpoint elsewhere.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	}
}

// S3Client returns an aws-sdk-go-v2 S3 client for the server, with
// path-style addressing (MinIO on an IP address has no bucket subdomains).
func (s *Server) S3Client() *s3.Client {
	return s3.NewFromConfig(s.Config(), s.S3Options)
}

// S3Options points S3 client options at the server; use it with
// s3.NewFromConfig for clients built from another aws.Config.
func (s *Server) S3Options(o *s3.Options) {
	o.BaseEndpoint = aws.String(s.URL)
	o.UsePathStyle = true
}

// CreateBucket creates a bucket with versioning enabled, failing the test
// on error.
func (s *Server) CreateBucket(name string) {
	s.t.Helper()
	ctx := context.Background()
	c := s.S3Client()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		s.t.Fatalf("miniotest: create bucket %s: %v", name, err)
	}
	_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(name),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		s.t.Fatalf("miniotest: enable versioning on %s: %v", name, err)
	}
}

// NewBucket creates a versioned bucket with a random name and returns the
// name.
func (s *Server) NewBucket() string {
	s.t.Helper()
	name := "keyturn-test-" + randomHex(6)
	s.CreateBucket(name)
	return name
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// environWithout returns the environment minus variables with prefix, so
// that a developer's MinIO settings cannot change the test server.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}
