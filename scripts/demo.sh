#!/usr/bin/env bash
# keyturn demo: the seed-003 flow end to end against a local Vault that this
# script starts and stops itself.
#
#   operator:  issuer bootstrap       roles, policies and the launcher's rights
#   launcher:  issuer mint            one wrapped, one-time secret ID per container
#   container: prestart -- app        unwrap (after checking where it came from),
#                                     log in, read, exec the app with its secret
#
# Tokens and IDs travel through files and the environment, never argv.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/keyturn-demo.XXXXXX")
chmod 700 "$work"
vault_pid=
cleanup() {
	if [ -n "$vault_pid" ]; then
		kill "$vault_pid" 2>/dev/null || true
		wait "$vault_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '    $ %s\n' "$*"; }

# A free loopback port: the first that nothing answers on.
port=
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 20000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "demo: no free port found" >&2; exit 1; }

step "start a dev Vault on 127.0.0.1:$port (log: $work/vault.log)"
root_token="root-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$root_token" > "$work/root.token"
VAULT_DEV_ROOT_TOKEN_ID="$root_token" HOME="$work" \
	"$BIN/vault" server -dev -dev-no-store-token -dev-listen-address="127.0.0.1:$port" >"$work/vault.log" 2>&1 &
vault_pid=$!
export VAULT_ADDR="http://127.0.0.1:$port"
unset VAULT_TOKEN VAULT_ROLE_ID VAULT_SECRET_ID VAULT_WRAPPED_SECRET_ID VAULT_NAMESPACE
for _ in $(seq 100); do
	if "$BIN/vault" status >/dev/null 2>&1; then break; fi
	sleep 0.1
done
"$BIN/vault" status >/dev/null || { cat "$work/vault.log"; exit 1; }

step "operator: bootstrap roles, policies and the CI launcher from examples/approle.hcl"
show "issuer bootstrap -config examples/approle.hcl -dry-run"
"$BIN/issuer" bootstrap -config examples/approle.hcl -token-file "$work/root.token" -dry-run | sed 's/^/    /'
show "issuer bootstrap -config examples/approle.hcl"
"$BIN/issuer" bootstrap -config examples/approle.hcl -token-file "$work/root.token" | tail -1 | sed 's/^/    /'
show "issuer bootstrap -config examples/approle.hcl   # again: nothing to do"
"$BIN/issuer" bootstrap -config examples/approle.hcl -token-file "$work/root.token" | sed 's/^/    /'

step "operator: store the app's database password and give CI its own token"
show "vault kv put secret/app/db password=orange1"
VAULT_TOKEN="$root_token" "$BIN/vault" kv put secret/app/db password=orange1 >/dev/null
show "vault token create -role=keyturn-launcher-ci   # into a file, not the terminal"
VAULT_TOKEN="$root_token" "$BIN/vault" token create -role=keyturn-launcher-ci -field=token > "$work/launcher.token"

step "launcher (CI, with its own token): mint a one-time, wrapped secret ID for one container"
show "issuer role-id -role app"
"$BIN/issuer" role-id -role app -token-file "$work/launcher.token" > "$work/role.id"
show "issuer mint -role app -meta job=demo-1 -format env -out boot.env"
"$BIN/issuer" mint -role app -token-file "$work/launcher.token" -meta job=demo-1 -meta image=app:1 -format env -out "$work/boot.env" 2>&1 | sed 's/^/    /'
show "issuer list -role app"
"$BIN/issuer" list -role app -token-file "$work/launcher.token" | sed 's/^/    /'
show "issuer mint -role other   # not this launcher's role"
if "$BIN/issuer" mint -role other -token-file "$work/launcher.token" 2>&1 | sed 's/^/    /'; then :; fi

step "container: prestart unwraps, logs in, reads, and execs the app"
cp "$work/boot.env" "$work/boot-copy.env"
show "VAULT_ROLE_ID=... prestart -secret-id-file boot.env -role app -secret DB_PASSWORD=vault://secret/app/db#password -- sh -c 'echo ...'"
VAULT_ROLE_ID="$(cat "$work/role.id")" "$BIN/prestart" -secret-id-file "$work/boot.env" -role app \
	-secret 'DB_PASSWORD=vault://secret/app/db#password' \
	-- sh -c 'echo "    the app sees DB_PASSWORD=$DB_PASSWORD"; echo "    and no bootstrap credential: ${VAULT_WRAPPED_SECRET_ID:-none} ${VAULT_ROLE_ID:-none} ${VAULT_TOKEN:-none}"'

step "the same one-time ID again (someone copied it): refused, exit 3, the app never starts"
set +e
VAULT_ROLE_ID="$(cat "$work/role.id")" "$BIN/prestart" -secret-id-file "$work/boot-copy.env" -role app \
	-secret 'DB_PASSWORD=vault://secret/app/db#password' -- sh -c 'echo "    the app started (it should not have)"' 2>&1 | sed 's/^/    /'
rc=${PIPESTATUS[0]}
set -e
echo "    exit status: $rc"
[ "$rc" -eq 3 ] || { echo "demo: expected exit 3" >&2; exit 1; }

step "done: stopping Vault"
