package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keyturn/keyturn/internal/kmstest"
	"github.com/keyturn/keyturn/internal/miniotest"
	"github.com/keyturn/keyturn/internal/source/s3src"
)

// TestConcurrentSets runs rounds of eight `s3kms set`s of different
// variables on one object at the same moment. Whatever the interleaving,
// each either succeeds and its variable is in the final object, or exits 1
// saying "conflict" and its variable is not: no write is silently lost.
// Rounds go on until conflicts have been seen.
func TestConcurrentSets(t *testing.T) {
	m := miniotest.Start(t)
	k := kmstest.Start(t)
	k.AddKey(kmstest.KeySpec{Aliases: []string{"alias/app-dev"}})
	bucket := m.NewBucket()
	for name, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": m.AccessKey, "AWS_SECRET_ACCESS_KEY": m.SecretKey, "AWS_REGION": miniotest.Region,
		"AWS_ENDPOINT_URL_S3": m.URL, "AWS_ENDPOINT_URL_KMS": k.URL, s3src.PathStyleEnv: "true",
		"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "KEYTURN_KMS_KEY": "alias/app-dev",
	} {
		t.Setenv(name, v)
	}
	ctx := context.Background()
	uri := "s3://" + bucket + "/app/dev.env"
	s3kms := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, args, strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, e := s3kms("seed", "set", uri, "SEED"); code != 0 {
		t.Fatalf("seed: %d %s", code, e)
	}
	want := map[string]bool{"SEED": true}
	conflicts := 0
	for round := 0; round < 10 && conflicts == 0; round++ {
		const n = 8
		codes, stderrs := make([]int, n), make([]string, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				codes[i], _, stderrs[i] = s3kms(fmt.Sprint(i), "set", uri, fmt.Sprintf("R%d_V%d", round, i))
			}()
		}
		close(start)
		wg.Wait()
		for i := range n {
			switch codes[i] {
			case 0:
				want[fmt.Sprintf("R%d_V%d", round, i)] = true
			case 1:
				if !strings.Contains(stderrs[i], "conflict") {
					t.Fatalf("set %d failed without a conflict: %s", i, stderrs[i])
				}
				conflicts++
			default:
				t.Fatalf("set %d exited %d: %s", i, codes[i], stderrs[i])
			}
		}
		code, out, e := s3kms("", "pull", uri, "-format", "json")
		if code != 0 {
			t.Fatalf("pull: %s", e)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: object has %d variables, %d writes succeeded", round, len(got), len(want))
		}
		for name := range want {
			if _, ok := got[name]; !ok {
				t.Fatalf("round %d: %s was written and is lost", round, name)
			}
		}
		t.Logf("round %d: %d conflicts so far, %d variables", round, conflicts, len(got))
	}
	if conflicts == 0 {
		t.Fatal("no conflicting writes in ten rounds of eight concurrent sets")
	}
}
