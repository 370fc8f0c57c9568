package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// kvSecret is one variable read from one KV v2 path.
type kvSecret struct{ name, path, field, value string }

// vaultJob is what a Vault case asks for: its secrets, how the secret ID
// comes, and the app that checks it got them.
type vaultJob struct {
	secrets []kvSecret
	wrapped bool
}

// app is the application each contender starts: a shell that fails unless
// the first and the last variable hold what Vault holds.
func (j vaultJob) app() []string {
	first, last := j.secrets[0], j.secrets[len(j.secrets)-1]
	return []string{"/bin/sh", "-c", fmt.Sprintf(`test "$%s" = %s && test "$%s" = %s`, first.name, first.value, last.name, last.value)}
}

// bareAPI is barevault-api, the bare client with the official client's
// initialisation: same requests, so its time over the bare client's is
// what linking vault/api costs a start.
const bareAPI = "bare client + vault/api init"

func vaultCases(b *binaries, v *vaultLab) []*benchCase {
	one := []kvSecret{{"DB_PASSWORD", "secret/app/db", "password", "orange1"}}
	var many []kvSecret
	for i := 1; i <= kv20; i++ {
		many = append(many, kvSecret{fmt.Sprintf("S%02d", i), fmt.Sprintf("secret/app/s%02d", i), "value", fmt.Sprintf("v%02d", i)})
	}
	mk := func(id, title string, j vaultJob) *benchCase {
		return &benchCase{id: id, title: title, backend: "vault", contenders: []contender{
			{name: "prestart", prepare: func() (*exec.Cmd, error) { return v.prestartCmd(b.prestart, j) }},
			{name: "bare client", prepare: func() (*exec.Cmd, error) { return v.bareCmd(b.barevault, j) }},
			{name: bareAPI, prepare: func() (*exec.Cmd, error) { return v.bareCmd(b.barevaultAPI, j) }},
			{name: "vault agent", prepare: func() (*exec.Cmd, error) { return v.agentCmd(j) }},
			{name: "shell", prepare: func() (*exec.Cmd, error) { return v.shellCmd(j) }},
		}}
	}
	return []*benchCase{
		mk("kv1", "1 KV secret, bare secret ID", vaultJob{secrets: one}),
		mk("kv1-wrapped", "1 KV secret, wrapped secret ID", vaultJob{secrets: one, wrapped: true}),
		mk("kv20", "20 KV secrets on 20 paths, bare secret ID", vaultJob{secrets: many}),
	}
}

// credEnv mints a secret ID for one start and returns the environment
// prestart and the bare client take it in.
func (v *vaultLab) credEnv(j vaultJob) ([]string, error) {
	id, err := v.mint("app", j.wrapped)
	if err != nil {
		return nil, err
	}
	name := "VAULT_SECRET_ID"
	if j.wrapped {
		name = "VAULT_WRAPPED_SECRET_ID"
	}
	return []string{"PATH=" + os.Getenv("PATH"), "VAULT_ADDR=" + v.addr, "VAULT_ROLE_ID=" + v.roleID, name + "=" + id}, nil
}

func (v *vaultLab) prestartCmd(bin string, j vaultJob) (*exec.Cmd, error) {
	env, err := v.credEnv(j)
	if err != nil {
		return nil, err
	}
	args := []string{"-role", "app"}
	for _, s := range j.secrets {
		args = append(args, "-secret", s.name+"=vault://"+s.path+"#"+s.field)
	}
	cmd := exec.Command(bin, append(append(args, "--"), j.app()...)...)
	cmd.Env = env
	return cmd, nil
}

func (v *vaultLab) bareCmd(bin string, j vaultJob) (*exec.Cmd, error) {
	env, err := v.credEnv(j)
	if err != nil {
		return nil, err
	}
	args := []string{"-role", "app"}
	for _, s := range j.secrets {
		args = append(args, "-secret", s.name+"="+s.path+"#"+s.field)
	}
	cmd := exec.Command(bin, append(append(args, "--"), j.app()...)...)
	cmd.Env = env
	return cmd, nil
}

// agentCmd runs Vault Agent in process-supervisor mode: auto_auth approle
// (with the wrapped secret ID when the job has one), one env_template per
// variable, exec of the app; the agent exits with the app.
func (v *vaultLab) agentCmd(j vaultJob) (*exec.Cmd, error) {
	id, err := v.mint("app", j.wrapped)
	if err != nil {
		return nil, err
	}
	sid := filepath.Join(v.dir, "secret.id")
	if err := os.WriteFile(sid, []byte(id), 0o600); err != nil {
		return nil, err
	}
	wrapping := ""
	if j.wrapped {
		wrapping = `secret_id_response_wrapping_path = "auth/approle/role/app/secret-id"`
	}
	var tpl strings.Builder
	for _, s := range j.secrets {
		kvPath := strings.Replace(s.path, "secret/", "secret/data/", 1)
		fmt.Fprintf(&tpl, `env_template %q {
  contents             = "{{ with secret \"%s\" }}{{ .Data.data.%s }}{{ end }}"
  error_on_missing_key = true
}
`, s.name, kvPath, s.field)
	}
	app := j.app()
	argv := fmt.Sprintf("[%q, %q, %q]", app[0], app[1], app[2])
	hcl := fmt.Sprintf(`
vault { address = %q }
auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = %q
      secret_id_file_path                 = %q
      remove_secret_id_file_after_reading = true
      %s
    }
  }
}
template_config { exit_on_retry_failure = true }
%s
exec {
  command                   = %s
  restart_on_secret_changes = "never"
}
`, v.addr, filepath.Join(v.dir, "role.id"), sid, wrapping, tpl.String(), argv)
	cfg := filepath.Join(v.dir, "agent.hcl")
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(v.bin, "agent", "-config="+cfg, "-log-level=error")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + v.dir}
	return cmd, nil
}

// shellCmd is the way an entrypoint script does it with the Vault CLI:
// (vault unwrap,) vault write auth/approle/login, one vault kv get per
// variable, exec. It checks no creation_path and revokes nothing.
func (v *vaultLab) shellCmd(j vaultJob) (*exec.Cmd, error) {
	id, err := v.mint("app", j.wrapped)
	if err != nil {
		return nil, err
	}
	var s strings.Builder
	s.WriteString("set -e\n")
	if j.wrapped {
		fmt.Fprintf(&s, "SECRET_ID=$(VAULT_TOKEN=\"$SECRET_ID\" %s unwrap -field=secret_id)\n", v.bin)
	}
	fmt.Fprintf(&s, "VAULT_TOKEN=$(printf %%s \"$SECRET_ID\" | %s write -field=token auth/approle/login role_id=\"$ROLE_ID\" secret_id=-)\nexport VAULT_TOKEN\n", v.bin)
	for _, sec := range j.secrets {
		fmt.Fprintf(&s, "%s=$(%s kv get -field=%s %s)\nexport %s\n", sec.name, v.bin, sec.field, sec.path, sec.name)
	}
	app := j.app()
	fmt.Fprintf(&s, "unset VAULT_TOKEN SECRET_ID ROLE_ID\nexec %s %s '%s'\n", app[0], app[1], app[2])
	cmd := exec.Command("/bin/sh", "-c", s.String())
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + v.dir, "VAULT_ADDR=" + v.addr, "ROLE_ID=" + v.roleID, "SECRET_ID=" + id}
	return cmd, nil
}
