// Command bares3 is the benchmark's reference for prestart's S3 flows: the
// same requests made with aws-sdk-go-v2 alone (configured as the AWS CLI
// is, by config.LoadDefaultConfig), then execve of the app. It is part of
// the benchmark, not of keyturn. The envelope is parsed and opened with
// keyturn's public envelope package, which uses the standard library
// only: the format is keyturn's, so any reader needs that much of it.
//
//	bares3 -object s3://BUCKET/KEY -kms KEY-ARN -- COMMAND...
//	    GetObject, check the envelope's key ARN, kms:Decrypt of the data
//	    key under the object's encryption context, AES-GCM; every line
//	    NAME='value' of the env file becomes a variable.
//	bares3 -blobs s3://BUCKET/PREFIX/ -kms KEY-ARN -- COMMAND...
//	    ListObjectsV2, then per object (8 at once) GetObject and
//	    kms:Decrypt under the object's encryption context; each object
//	    becomes the variable named after it.
//
// AWS_S3_USE_PATH_STYLE=true selects path-style addressing, as for
// prestart.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyturn/keyturn/envelope"
)

const usage = `Usage:
    bares3 -object s3://BUCKET/KEY -kms KEY-ARN -- COMMAND [ARGS...]
    bares3 -blobs s3://BUCKET/PREFIX/ -kms KEY-ARN -- COMMAND [ARGS...]
`

func main() {
	fs := flag.NewFlagSet("bares3", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	object := fs.String("object", "", "")
	blobs := fs.String("blobs", "", "")
	keyARN := fs.String("kms", "", "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := run(context.Background(), *object, *blobs, *keyARN, fs.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "bares3: error: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, object, blobs, keyARN string, argv []string) error {
	if len(argv) == 0 || keyARN == "" || (object == "") == (blobs == "") {
		return errors.New("want -object or -blobs, -kms and a command")
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = os.Getenv("AWS_S3_USE_PATH_STYLE") == "true" })
	kmsc := kms.NewFromConfig(cfg)
	var vars map[string]string
	if object != "" {
		vars, err = readEnvelope(ctx, s3c, kmsc, object, keyARN)
	} else {
		vars, err = readBlobs(ctx, s3c, kmsc, blobs, keyARN)
	}
	if err != nil {
		return err
	}
	env := os.Environ()
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(bin, argv, env)
}

func splitURI(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	bucket, key, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || bucket == "" {
		return "", "", fmt.Errorf("%q: want s3://BUCKET/KEY", uri)
	}
	return bucket, key, nil
}

func get(ctx context.Context, s3c *s3.Client, bucket, key string) ([]byte, error) {
	out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func decrypt(ctx context.Context, kmsc *kms.Client, keyARN string, blob []byte, uri string) ([]byte, error) {
	out, err := kmsc.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    blob,
		KeyId:             &keyARN,
		EncryptionContext: map[string]string{envelope.ObjectContextKey: uri},
	})
	if err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}

func readEnvelope(ctx context.Context, s3c *s3.Client, kmsc *kms.Client, uri, keyARN string) (map[string]string, error) {
	bucket, key, err := splitURI(uri)
	if err != nil {
		return nil, err
	}
	body, err := get(ctx, s3c, bucket, key)
	if err != nil {
		return nil, err
	}
	env, err := envelope.Parse(body)
	if err != nil {
		return nil, err
	}
	if env.KeyARN != keyARN || env.Context[envelope.ObjectContextKey] != uri {
		return nil, errors.New("envelope under another key or for another object")
	}
	dk, err := decrypt(ctx, kmsc, keyARN, env.EncryptedDataKey, uri)
	if err != nil {
		return nil, err
	}
	pt, err := envelope.Open(env, dk)
	if err != nil {
		return nil, err
	}
	return parseEnvFile(string(pt))
}

func readBlobs(ctx context.Context, s3c *s3.Client, kmsc *kms.Client, uri, keyARN string) (map[string]string, error) {
	bucket, prefix, err := splitURI(uri)
	if err != nil {
		return nil, err
	}
	out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix, Delimiter: aws.String("/")})
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	var mu sync.Mutex
	errs := make([]error, len(out.Contents))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, o := range out.Contents {
		key := aws.ToString(o.Key)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			blob, err := get(ctx, s3c, bucket, key)
			if err == nil {
				var pt []byte
				if pt, err = decrypt(ctx, kmsc, keyARN, blob, envelope.ObjectURI(bucket, key)); err == nil {
					mu.Lock()
					vars[path.Base(key)] = strings.TrimRight(string(pt), "\n")
					mu.Unlock()
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	return vars, errors.Join(errs...)
}

// parseEnvFile reads NAME='value' lines (a quote inside a value written
// as '\”), the form keyturn writes; blank lines and # comments are
// skipped.
func parseEnvFile(s string) (map[string]string, error) {
	vars := map[string]string{}
	for len(s) > 0 {
		line, rest, _ := strings.Cut(s, "\n")
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			s = rest
			continue
		}
		name, v, ok := strings.Cut(s, "=")
		if !ok || strings.ContainsAny(name, "\n '") {
			return nil, errors.New("env file: a line without NAME=")
		}
		var b strings.Builder
		for {
			if !strings.HasPrefix(v, "'") {
				return nil, fmt.Errorf("env file: %s: value not quoted", name)
			}
			part, after, ok := strings.Cut(v[1:], "'")
			if !ok {
				return nil, fmt.Errorf("env file: %s: unterminated quote", name)
			}
			b.WriteString(part)
			if !strings.HasPrefix(after, `\''`) {
				v = after
				break
			}
			b.WriteByte('\'')
			v = after[2:]
		}
		vars[name] = b.String()
		s = strings.TrimPrefix(v, "\n")
	}
	return vars, nil
}
