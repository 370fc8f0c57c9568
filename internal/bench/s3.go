package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyturn/keyturn/internal/kmstest"
	"github.com/keyturn/keyturn/internal/source/s3src"
)

// s3Lab is a MinIO process and keyturn's KMS test server (in this process,
// on a loopback port), with one bucket of envelopes and blobs written by
// keyturn's own writer.
type s3Lab struct {
	minioURL, kmsURL, proxyURL string
	// endpoint is where the contenders send S3 requests: MinIO itself
	// while timing, the counting proxy while counting.
	endpoint   string
	accessKey  string
	secretKey  string
	kms        *kmstest.Handler
	keyARN     string
	bucket     string
	dir        string
	proxyCount *opCounter
	stop       func()
}

// s3Blobs is the number of blobs under the prefix of the blob case.
const s3Blobs = 20

func startS3(minioBin, dir string) (*s3Lab, error) {
	l := &s3Lab{dir: dir, accessKey: "bench-" + randHex(6), secretKey: randHex(20), bucket: "bench", proxyCount: &opCounter{}}
	var stops []func()
	l.stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	stopMinio, err := l.startMinio(minioBin)
	if err != nil {
		return nil, err
	}
	stops = append(stops, stopMinio)
	l.kms = kmstest.NewHandler()
	k, err := l.kms.CreateKey(kmstest.KeySpec{Aliases: []string{"alias/bench"}})
	if err != nil {
		l.stop()
		return nil, err
	}
	l.keyARN = k.ARN
	kmsURL, stopKMS, err := serve(l.kms)
	if err != nil {
		l.stop()
		return nil, err
	}
	l.kmsURL = kmsURL
	stops = append(stops, stopKMS)
	target, _ := url.Parse(l.minioURL)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		// The client signed the proxy's host: keep it, or MinIO refuses
		// the signature.
		r.Out.Host = r.In.Host
	}}
	proxyURL, stopProxy, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.proxyCount.add(s3Label(r))
		proxy.ServeHTTP(w, r)
	}))
	if err != nil {
		l.stop()
		return nil, err
	}
	l.proxyURL = proxyURL
	stops = append(stops, stopProxy)
	l.endpoint = l.minioURL
	if err := l.fill(); err != nil {
		l.stop()
		return nil, fmt.Errorf("write the S3 objects: %w", err)
	}
	return l, nil
}

func (l *s3Lab) startMinio(bin string) (func(), error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	console, err := freeAddr()
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	cmd := exec.Command(bin, "server", filepath.Join(l.dir, "minio-data"), "--address", addr, "--console-address", console, "--certs-dir", filepath.Join(l.dir, "minio-certs"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + l.dir, "MINIO_ROOT_USER=" + l.accessKey, "MINIO_ROOT_PASSWORD=" + l.secretKey,
		"MINIO_KMS_SECRET_KEY=my-key:" + base64.StdEncoding.EncodeToString(key), "MINIO_UPDATE=off"}
	logf, err := os.Create(filepath.Join(l.dir, "minio.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	stop := func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait(); logf.Close() }
	l.minioURL = "http://" + addr
	hc := &http.Client{Timeout: time.Second}
	for range 600 {
		if resp, err := hc.Get(l.minioURL + "/minio/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return nil, errors.New("minio did not become ready (see minio.log)")
}

// fill writes the objects with s3src, as s3kms push and put-blob do.
func (l *s3Lab) fill() error {
	ctx := context.Background()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(l.accessKey, l.secretKey, "")}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(l.minioURL); o.UsePathStyle = true })
	kmsc := kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(l.kmsURL) })
	st := s3src.New(s3c, kmsc)
	if err := st.MakeBucket(ctx, l.bucket); err != nil {
		return err
	}
	p := s3src.Protection{KMSKey: l.keyARN}
	if _, err := st.Push(ctx, s3src.Object{Bucket: l.bucket, Key: "env1"}, map[string]string{"DB_PASSWORD": "orange1"}, p); err != nil {
		return err
	}
	vars := map[string]string{}
	for i := 1; i <= 200; i++ {
		vars[fmt.Sprintf("V%03d", i)] = fmt.Sprintf("value-%03d-%s", i, randHex(12))
	}
	vars["V001"], vars["V200"] = "first", "last"
	if _, err := st.Push(ctx, s3src.Object{Bucket: l.bucket, Key: "env200"}, vars, p); err != nil {
		return err
	}
	for i := 1; i <= s3Blobs; i++ {
		obj := s3src.Object{Bucket: l.bucket, Key: fmt.Sprintf("blobs/B%02d", i)}
		if _, err := st.PutBlob(ctx, obj, l.keyARN, fmt.Appendf(nil, "b%02d\n", i), false); err != nil {
			return err
		}
	}
	return nil
}

func (l *s3Lab) env() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + l.dir, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + l.accessKey, "AWS_SECRET_ACCESS_KEY=" + l.secretKey,
		"AWS_ENDPOINT_URL_S3=" + l.endpoint, "AWS_ENDPOINT_URL_KMS=" + l.kmsURL,
		"AWS_S3_USE_PATH_STYLE=true", "AWS_EC2_METADATA_DISABLED=true"}
}

func s3Cases(b *binaries, l *s3Lab) []*benchCase {
	type job struct {
		id, title, key, bareFlag string
		first, last              string
		shellNA                  string
	}
	const (
		noShell = "no shell tool opens a keyturn envelope (AES-256-GCM with the header as additional data)"
		noCLI   = "the aws CLI is not installed on the benchmark machines"
	)
	jobs := []job{
		{"s3-env1", "S3 envelope, 1 variable", "env1", "-object", "DB_PASSWORD=orange1", "DB_PASSWORD=orange1", noShell},
		{"s3-env200", "S3 envelope, 200 variables", "env200", "-object", "V001=first", "V200=last", noShell},
		{"s3-blobs20", "S3 prefix of 20 KMS blobs", "blobs/", "-blobs", "B01=b01", "B20=b20", noCLI},
	}
	var cases []*benchCase
	for _, j := range jobs {
		uri := "s3://" + l.bucket + "/" + j.key
		ref := uri + "?kms=" + l.keyARN
		if j.bareFlag == "-blobs" {
			ref = uri + "?blobs&kms=" + l.keyARN
		}
		fn, fv, _ := strings.Cut(j.first, "=")
		ln, lv, _ := strings.Cut(j.last, "=")
		app := []string{"/bin/sh", "-c", fmt.Sprintf(`test "$%s" = %s && test "$%s" = %s`, fn, fv, ln, lv)}
		cases = append(cases, &benchCase{id: j.id, title: j.title, backend: "s3", contenders: []contender{
			{name: "prestart", prepare: func() (*exec.Cmd, error) {
				cmd := exec.Command(b.prestart, append([]string{"-secrets", ref, "--"}, app...)...)
				cmd.Env = l.env()
				return cmd, nil
			}},
			{name: "bare client", prepare: func() (*exec.Cmd, error) {
				cmd := exec.Command(b.bares3, append([]string{j.bareFlag, uri, "-kms", l.keyARN, "--"}, app...)...)
				cmd.Env = l.env()
				return cmd, nil
			}},
			{name: "vault agent", na: "reads Vault only"},
			{name: "shell", na: j.shellNA},
		}})
	}
	return cases
}

// s3Label names an S3 request by its operation.
func s3Label(r *http.Request) string {
	q := r.URL.Query()
	// Path-style: /BUCKET or /BUCKET/KEY.
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && q.Get("list-type") == "2":
		return "ListObjectsV2"
	case r.Method == http.MethodGet && key != "":
		return "GetObject"
	case r.Method == http.MethodHead && key != "":
		return "HeadObject"
	}
	return r.Method + " " + r.URL.Path
}

// opCounter records request labels in arrival order.
type opCounter struct {
	mu     sync.Mutex
	labels []string
}

func (c *opCounter) add(l string) { c.mu.Lock(); c.labels = append(c.labels, l); c.mu.Unlock() }

func (c *opCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.labels
	c.labels = nil
	return l
}

// serve runs h on a loopback port until the returned stop is called.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
