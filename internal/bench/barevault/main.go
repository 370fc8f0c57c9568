// Command barevault is the benchmark's reference for prestart's Vault flows
// and for issuer mint: it makes the same HTTP requests with net/http and
// encoding/json only, checks nothing it need not check, and then execs the
// app (or prints the wrapping token). It is part of the benchmark, not of
// keyturn: it shows what a start would cost with no toolkit at all.
// Built with -tags linkvaultapi (barevault-api in the benchmark) it also
// links the official Vault client, unused: see linkvaultapi.go.
//
// Flows (environment as for prestart and issuer):
//
//	barevault -role R -secret NAME=MOUNT/PATH#FIELD... -- COMMAND...
//	    VAULT_ADDR, VAULT_ROLE_ID, and VAULT_WRAPPED_SECRET_ID or
//	    VAULT_SECRET_ID. Wrapped: sys/wrapping/lookup (creation_path
//	    checked), sys/wrapping/unwrap. Then auth/approle/login, per
//	    mount sys/internal/ui/mounts/PATH, the reads (8 at once), and
//	    auth/token/revoke-self; then execve.
//	barevault -mint R
//	    VAULT_ADDR, VAULT_TOKEN: one response-wrapped
//	    auth/approle/role/R/secret-id, the wrapping token on stdout.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

const usage = `Usage:
    barevault [-role NAME] [-mount approle] -secret NAME=MOUNT/PATH#FIELD... -- COMMAND [ARGS...]
    barevault -mint ROLE [-mount approle]
`

type secretFlags []string

func (s *secretFlags) String() string     { return strings.Join(*s, ",") }
func (s *secretFlags) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	fs := flag.NewFlagSet("barevault", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	role := fs.String("role", "", "")
	mount := fs.String("mount", "approle", "")
	mint := fs.String("mint", "", "")
	var secrets secretFlags
	fs.Var(&secrets, "secret", "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	c := &client{addr: strings.TrimRight(os.Getenv("VAULT_ADDR"), "/"), http: &http.Client{Timeout: 30 * time.Second}}
	var err error
	if *mint != "" {
		err = c.mint(*mount, *mint)
	} else {
		err = c.start(*mount, *role, secrets, fs.Args())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "barevault: error: %v\n", err)
		os.Exit(1)
	}
}

type client struct {
	addr string
	http *http.Client
}

// call sends one request and decodes the answer's JSON into out (if not
// nil). Any status but 2xx is an error.
func (c *client) call(method, path, token, wrapTTL string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.addr+"/v1/"+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if wrapTTL != "" {
		req.Header.Set("X-Vault-Wrap-TTL", wrapTTL)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *client) mint(mount, role string) error {
	var out struct {
		WrapInfo struct {
			Token string `json:"token"`
		} `json:"wrap_info"`
	}
	if err := c.call(http.MethodPut, "auth/"+mount+"/role/"+role+"/secret-id", os.Getenv("VAULT_TOKEN"), "120s", map[string]any{}, &out); err != nil {
		return err
	}
	if out.WrapInfo.Token == "" {
		return errors.New("the answer was not wrapped")
	}
	_, err := fmt.Println(out.WrapInfo.Token)
	return err
}

type ref struct{ name, path, field string }

func (c *client) start(mount, role string, secrets []string, argv []string) error {
	if len(argv) == 0 {
		return errors.New("no command")
	}
	var refs []ref
	for _, s := range secrets {
		name, rest, ok1 := strings.Cut(s, "=")
		path, field, ok2 := strings.Cut(rest, "#")
		if !ok1 || !ok2 {
			return fmt.Errorf("-secret %q: want NAME=MOUNT/PATH#FIELD", s)
		}
		refs = append(refs, ref{name, path, field})
	}
	secretID := os.Getenv("VAULT_SECRET_ID")
	if w := os.Getenv("VAULT_WRAPPED_SECRET_ID"); w != "" {
		var err error
		if secretID, err = c.unwrap(mount, role, w); err != nil {
			return err
		}
	}
	var login struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	if err := c.call(http.MethodPut, "auth/"+mount+"/login", "", "", map[string]string{"role_id": os.Getenv("VAULT_ROLE_ID"), "secret_id": secretID}, &login); err != nil {
		return err
	}
	token := login.Auth.ClientToken
	vals, err := c.readAll(token, refs)
	if err != nil {
		return err
	}
	if err := c.call(http.MethodPut, "auth/token/revoke-self", token, "", nil, nil); err != nil {
		return err
	}
	env := []string{}
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_WRAPPED_SECRET_ID", "VAULT_TOKEN":
		default:
			env = append(env, kv)
		}
	}
	for i, r := range refs {
		env = append(env, r.name+"="+vals[i])
	}
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(bin, argv, env)
}

// unwrap checks that the wrapping token was made by the role's secret-id
// endpoint before unwrapping it, as prestart does.
func (c *client) unwrap(mount, role, wrapped string) (string, error) {
	var look struct {
		Data struct {
			CreationPath string `json:"creation_path"`
		} `json:"data"`
	}
	if err := c.call(http.MethodPut, "sys/wrapping/lookup", "", "", map[string]string{"token": wrapped}, &look); err != nil {
		return "", err
	}
	if want := "auth/" + mount + "/role/" + role + "/secret-id"; look.Data.CreationPath != want {
		return "", fmt.Errorf("wrapping token made by %q, not %q", look.Data.CreationPath, want)
	}
	var un struct {
		Data struct {
			SecretID string `json:"secret_id"`
		} `json:"data"`
	}
	if err := c.call(http.MethodPut, "sys/wrapping/unwrap", wrapped, "", nil, &un); err != nil {
		return "", err
	}
	return un.Data.SecretID, nil
}

// readAll reads every distinct path once, at most 8 at a time; each
// mount is looked up once (KV v1 or v2), the others on it wait.
func (c *client) readAll(token string, refs []ref) ([]string, error) {
	type mountInfo struct {
		done    chan struct{}
		path    string
		version string
		err     error
	}
	var mu sync.Mutex
	mounts := map[string]*mountInfo{}
	lookup := func(path string) (*mountInfo, error) {
		top, _, _ := strings.Cut(path, "/")
		mu.Lock()
		m, ok := mounts[top]
		if !ok {
			m = &mountInfo{done: make(chan struct{})}
			mounts[top] = m
		}
		mu.Unlock()
		if !ok {
			var out struct {
				Data struct {
					Path    string            `json:"path"`
					Options map[string]string `json:"options"`
				} `json:"data"`
			}
			m.err = c.call(http.MethodGet, "sys/internal/ui/mounts/"+path, token, "", nil, &out)
			m.path, m.version = out.Data.Path, out.Data.Options["version"]
			close(m.done)
		}
		<-m.done
		return m, m.err
	}
	paths := []string{}
	seen := map[string]int{}
	for _, r := range refs {
		if _, ok := seen[r.path]; !ok {
			seen[r.path] = len(paths)
			paths = append(paths, r.path)
		}
	}
	data := make([]map[string]any, len(paths))
	errs := make([]error, len(paths))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			m, err := lookup(p)
			if err != nil {
				errs[i] = err
				return
			}
			read := p
			if m.version == "2" {
				read = m.path + "data/" + strings.TrimPrefix(p, m.path)
			}
			var out struct {
				Data map[string]any `json:"data"`
			}
			if errs[i] = c.call(http.MethodGet, read, token, "", nil, &out); errs[i] != nil {
				return
			}
			data[i] = out.Data
			if m.version == "2" {
				data[i], _ = out.Data["data"].(map[string]any)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	vals := make([]string, len(refs))
	for i, r := range refs {
		v, ok := data[seen[r.path]][r.field].(string)
		if !ok {
			return nil, fmt.Errorf("%s has no field %s", r.path, r.field)
		}
		vals[i] = v
	}
	return vals, nil
}
