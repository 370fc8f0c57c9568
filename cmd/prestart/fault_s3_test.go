package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/faultproxy"
	"github.com/keyturn/keyturn/internal/kmstest"
	"github.com/keyturn/keyturn/internal/miniotest"
	"github.com/keyturn/keyturn/internal/source/s3src"
)

// Faults in front of S3 (MinIO) and KMS when the container starts: an
// envelope object needs one GET and one Decrypt. The AWS SDK retries a 5xx
// itself (three attempts) and prestart retries what it reports as
// unavailable until -timeout; a fault that lasts ends in exit 4 within
// -timeout (plus the 5s that bounds one request in flight).
func TestFaultS3AndKMSAtStart(t *testing.T) {
	t.Parallel()
	minio := miniotest.Start(t)
	kmsSrv := kmstest.Start(t)
	key := kmsSrv.AddKey(kmstest.KeySpec{Aliases: []string{"alias/app-dev"}})
	bucket := minio.NewBucket()
	secret := "s3-pw-" + randHex(t, 8)
	store := s3src.New(s3.NewFromConfig(minio.Config(), minio.S3Options), kmsSrv.Client(minio.AccessKey))
	obj := s3src.Object{Bucket: bucket, Key: "app/dev.env"}
	if _, err := store.Push(context.Background(), obj, map[string]string{"DB_PASSWORD": secret}, s3src.Protection{KMSKey: "alias/app-dev"}); err != nil {
		t.Fatal(err)
	}
	b := &bed{t: t, dir: t.TempDir()}
	for _, tc := range []struct {
		name     string
		fault    func(s3p, kmsp *faultproxy.Proxy)
		timeout  string
		code     int
		min, max time.Duration
	}{
		{name: "S3 blackhole", fault: func(s3p, _ *faultproxy.Proxy) { s3p.Blackhole() }, timeout: "3s", code: cli.ExitUnavailable, min: 3 * time.Second, max: 10 * time.Second},
		{name: "S3 reset", fault: func(s3p, _ *faultproxy.Proxy) { s3p.Reset() }, timeout: "3s", code: cli.ExitUnavailable, min: 3 * time.Second, max: 10 * time.Second},
		{name: "S3 503 burst", fault: func(s3p, _ *faultproxy.Proxy) { s3p.FailNext(4, 503) }, timeout: "10s", code: 0, max: 12 * time.Second},
		{name: "KMS blackhole", fault: func(_, kmsp *faultproxy.Proxy) { kmsp.Blackhole() }, timeout: "3s", code: cli.ExitUnavailable, min: 3 * time.Second, max: 10 * time.Second},
		{name: "KMS 503 burst", fault: func(_, kmsp *faultproxy.Proxy) { kmsp.FailNext(4, 503) }, timeout: "10s", code: 0, max: 12 * time.Second},
		{name: "KMS latency", fault: func(_, kmsp *faultproxy.Proxy) { kmsp.Delay(300*time.Millisecond, 100*time.Millisecond) }, timeout: "10s", code: 0, min: 300 * time.Millisecond, max: 8 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s3p, err := faultproxy.New(strings.TrimPrefix(minio.URL, "http://"), faultproxy.HTTP())
			if err != nil {
				t.Fatal(err)
			}
			defer s3p.Close()
			kmsp, err := faultproxy.New(strings.TrimPrefix(kmsSrv.URL, "http://"), faultproxy.HTTP())
			if err != nil {
				t.Fatal(err)
			}
			defer kmsp.Close()
			env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.dir,
				"AWS_ACCESS_KEY_ID=" + minio.AccessKey, "AWS_SECRET_ACCESS_KEY=" + minio.SecretKey,
				"AWS_REGION=" + miniotest.Region, "AWS_EC2_METADATA_DISABLED=true", s3src.PathStyleEnv + "=true",
				"AWS_ENDPOINT_URL_S3=" + s3p.URL("http"), "AWS_ENDPOINT_URL_KMS=" + kmsp.URL("http")}
			bc := *b
			bc.t = t
			tc.fault(s3p, kmsp)
			code, took, stdout, stderr := bc.run(env, "-timeout", tc.timeout,
				"-secrets", "s3://"+bucket+"/app/dev.env?kms="+key.ARN, "--", "sh", "-c", `echo "app $DB_PASSWORD"`)
			t.Logf("exit %d after %s; S3 proxy %+v, KMS proxy %+v", code, took.Round(time.Millisecond), s3p.Stats(), kmsp.Stats())
			if code != tc.code || took < tc.min || took > tc.max {
				t.Errorf("exit %d after %s, want %d within [%s, %s]; stderr:\n%s", code, took, tc.code, tc.min, tc.max, stderr)
			}
			want := ""
			if tc.code == 0 {
				want = "app " + secret + "\n"
			}
			if stdout != want {
				t.Errorf("stdout %q, want %q", stdout, want)
			}
			if strings.Contains(stderr, secret) || strings.Contains(stderr, minio.SecretKey) {
				t.Error("a secret is in stderr")
			}
		})
	}
}
