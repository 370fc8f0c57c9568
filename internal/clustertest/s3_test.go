package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keyturn/keyturn/internal/dockertest"
)

// Scenario 7: MinIO and kms-local containers; ops push an envelope with
// s3kms from their container, the app container reads it through prestart.
func TestS3Variant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := dockertest.New(ctx, t)
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	user, pass := "keyturn-"+hex.EncodeToString(b[:4]), hex.EncodeToString(b)

	e.Start(ctx, t, dockertest.Spec{
		Name: "minio", Image: dockertest.Image("minio"),
		Env:  map[string]string{"MINIO_ROOT_USER": user, "MINIO_ROOT_PASSWORD": pass, "MINIO_UPDATE": "off"},
		Wait: wait.ForLog("API: http").WithStartupTimeout(time.Minute),
	})
	kms := e.Start(ctx, t, dockertest.Spec{
		Name: "kms", Image: dockertest.Image("kms-local"),
		Cmd:  []string{"-addr", "0.0.0.0:4599", "-key", "alias/app-dev", "-key", "alias/attacker"},
		Wait: wait.ForLog("alias/attacker").WithStartupTimeout(30 * time.Second),
	})
	m := regexp.MustCompile(`(?m)^key (arn:aws:kms:\S+) +alias/app-dev$`).FindStringSubmatch(kms.Logs(ctx))
	if m == nil {
		t.Fatalf("kms-local printed no key for alias/app-dev:\n%s", kms.Logs(ctx))
	}
	arn := m[1]
	aws := map[string]string{
		"AWS_ACCESS_KEY_ID":         user,
		"AWS_SECRET_ACCESS_KEY":     pass,
		"AWS_REGION":                "us-east-1",
		"AWS_ENDPOINT_URL_S3":       "http://minio:9000",
		"AWS_ENDPOINT_URL_KMS":      "http://kms:4599",
		"AWS_S3_USE_PATH_STYLE":     "true",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
	ops := e.Start(ctx, t, dockertest.Spec{Name: "ops", Image: dockertest.Image("operator"), Env: aws, Entrypoint: []string{"/bin/sh", "-c", "exec sleep 3600"}})
	const obj = "s3://secrets/app/dev.env"
	// MinIO logs its address a moment before it serves requests.
	for i := 0; ; i++ {
		code, out, err := ops.Exec(ctx, "s3kms", "mb", "s3://secrets")
		if err == nil && code == 0 {
			break
		}
		if i == 50 {
			t.Fatalf("s3kms mb: exit %d (%v)\n%s", code, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ops.MustExec(ctx, t, "sh", "-c", `printf "DB_PASSWORD='orange1'\nAPP_GREETING=hello\n" | s3kms push `+obj+` -kms-key 'alias/app-{env}' -env dev`)

	run := func(name string) (*dockertest.Container, int) {
		app := e.Start(ctx, t, dockertest.Spec{
			Name: name, Image: dockertest.Image("app"), Env: aws,
			Entrypoint: []string{"/usr/local/bin/prestart", "-secrets", obj + "?kms=" + arn, "--", "/usr/local/bin/app"},
		})
		// The app serves until stopped; a refused start exits at once.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(app.Logs(ctx), "app: ready") {
				return app, -1
			}
			if st, _ := app.State(ctx); st != nil && !st.Running {
				return app, st.ExitCode
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("%s neither started nor exited:\n%s", name, app.Logs(ctx))
		return nil, 0
	}
	app, code := run("app-s3")
	logs := app.Logs(ctx)
	if code != -1 || !strings.Contains(logs, "app: DB_PASSWORD is set (7 characters)") || !strings.Contains(logs, "app: APP_GREETING is set (5 characters)") {
		t.Fatalf("the app did not get its secrets from S3 (exit %d):\n%s", code, logs)
	}
	// prestart exec'd the app: it is PID 1 now, with the secret.
	env := strings.Split(app.MustExec(ctx, t, "cat", "/proc/1/environ"), "\x00")
	if !contains(env, "DB_PASSWORD=orange1") {
		t.Errorf("PID 1 (the app) lacks DB_PASSWORD")
	}

	// Someone with write access to the bucket reseals it under their key:
	// the app container refuses to start, exit 3.
	ops.MustExec(ctx, t, "sh", "-c", `echo "DB_PASSWORD='stolen'" | s3kms push `+obj+` -kms-key alias/attacker`)
	app2, code := run("app-s3-tampered")
	if code != 3 {
		t.Fatalf("an object under another KMS key: exit %d, want 3:\n%s", code, app2.Logs(ctx))
	}
}
