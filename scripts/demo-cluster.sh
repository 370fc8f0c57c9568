#!/usr/bin/env bash
# keyturn demo in containers: the story of make demo with
# compose/docker-compose.yml as shipped. Three Vault nodes (raft, TLS from an own CA), three operators with
# gpg keys (two unseal), the CI launcher minting a one-time ID, the app with
# prestart as PID 1, docker stop revoking the token, and a restart with the
# spent ID refused. Needs `make images` (keyturn/*:local), docker-compose,
# gpg and openssl; everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
for b in unseal issuer vault; do
	[ -x "$BIN/$b" ] || { echo "demo-cluster: $BIN/$b is missing; run make tools build images" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/keyturn-cluster.XXXXXX")
chmod 700 "$work"
project=ktdemo$$
export KEYTURN_TLS=$work/tls KEYTURN_LAUNCHER=$work/launcher
dc() { docker-compose -f compose/docker-compose.yml -p "$project" --profile tools "$@"; }
cleanup() {
	dc down -v --remove-orphans -t 2 >/dev/null 2>&1 || true
	for g in "$work"/gpg-*; do [ -d "$g" ] && GNUPGHOME=$g gpgconf --kill gpg-agent 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

. scripts/lib.sh

step "operator: an own CA and one certificate per node (compose/tls.sh)"
show "compose/tls.sh"
compose/tls.sh "$KEYTURN_TLS" | indent
export VAULT_CACERT=$KEYTURN_TLS/ca.pem
unset VAULT_TOKEN VAULT_ADDR VAULT_ROLE_ID VAULT_SECRET_ID VAULT_WRAPPED_SECRET_ID

step "start three Vault nodes (raft, retry_join over TLS)"
show "docker-compose up -d vault-1 vault-2 vault-3"
dc up -d vault-1 vault-2 vault-3 2>&1 | indent
addrs=()
for n in vault-1 vault-2 vault-3; do addrs+=(-address "https://$(dc port "$n" 8200)"); done
printf '    %s\n' "${addrs[@]/#-address/}" | grep -v '^ *$'
wait_uninitialized 60 0.5 "${addrs[@]}"

step "three operators, each with their own gpg key"
make_operators alice bob carol
for who in alice bob carol; do
	echo "    $who: $(GNUPGHOME=$work/gpg-$who gpg --batch --with-colons --fingerprint "$who@example.com" | awk -F: '$1=="fpr"{print $10; exit}')"
done

step "unseal init: Vault encrypts each share to one operator's key (threshold 2)"
show "unseal init -threshold 2 -pgp-key alice.asc -pgp-key bob.asc -pgp-key carol.asc -out keys"
"$BIN/unseal" init -threshold 2 -pgp-key "$work/alice.asc" -pgp-key "$work/bob.asc" -pgp-key "$work/carol.asc" \
	-out "$work/keys" "${addrs[@]:0:2}" | indent

step "alice and bob turn their keys against every node, at the same time"
show "unseal key -key-file keys/alice.asc.key -address ... (x3)   # and bob"
GNUPGHOME=$work/gpg-alice "$BIN/unseal" key -key-file "$work/keys/alice.asc.key" "${addrs[@]}" >"$work/alice.out" 2>&1 &
a=$!
GNUPGHOME=$work/gpg-bob "$BIN/unseal" key -key-file "$work/keys/bob.asc.key" "${addrs[@]}" 2>&1 | indent
wait "$a" || { cat "$work/alice.out"; exit 1; }
for _ in $(seq 60); do "$BIN/unseal" status "${addrs[@]}" >"$work/status" 2>&1 && grep -q ' active ' "$work/status" && [ "$(grep -c ' standby ' "$work/status")" = 2 ] && break; sleep 0.5; done
show "unseal status"
indent <"$work/status"

export VAULT_ADDR=${addrs[1]}
base64 -d <"$work/keys/root-token.key" | GNUPGHOME=$work/gpg-alice gpg --batch --quiet -d >"$work/root.token" 2>/dev/null
chmod 600 "$work/root.token"

step "operator: KV secret, AppRole roles and the CI launcher (issuer bootstrap)"
VAULT_TOKEN=$(cat "$work/root.token") "$BIN/vault" secrets enable -path=secret kv-v2 >/dev/null
for _ in $(seq 30); do VAULT_TOKEN=$(cat "$work/root.token") "$BIN/vault" kv put secret/app/db password=orange1 >/dev/null 2>&1 && break; sleep 0.3; done
VAULT_TOKEN=$(cat "$work/root.token") "$BIN/vault" kv put secret/app/config greeting=hello >/dev/null
show "issuer bootstrap -config examples/approle.hcl"
"$BIN/issuer" bootstrap -config examples/approle.hcl -token-file "$work/root.token" | tail -1 | indent
mkdir -m 700 "$work/launcher"
VAULT_TOKEN=$(cat "$work/root.token") "$BIN/vault" token create -role=keyturn-launcher-ci -field=token >"$work/launcher/token"

step "launcher container (only its own token): mint a one-time ID into the app's bootstrap volume"
show "docker-compose run --rm launcher"
dc run --rm launcher 2>&1 | indent

step "app container: prestart is PID 1, logs in through https://vault:8200 (any node), starts the app"
show "docker-compose up -d app"
dc up -d app 2>&1 | indent
for _ in $(seq 60); do dc logs --no-color app 2>/dev/null | grep -q 'app: ready' && break; sleep 1; done
dc logs --no-color app | sed 's/^[^|]*| //' | indent
show "docker-compose exec app cat /proc/1/cmdline"
dc exec -T app cat /proc/1/cmdline | tr '\0' ' ' | indent; echo
show "docker-compose exec app ls /run/keyturn/boot   # the secret ID file is gone"
dc exec -T app ls /run/keyturn/boot | indent

step "docker stop app: prestart forwards SIGTERM, the app exits, prestart revokes its token"
show "docker-compose stop app"
dc stop -t 20 app 2>&1 | indent
echo "    exit code: $(docker inspect -f '{{.State.ExitCode}}' "$(dc ps -q app)")"

step "docker start app without a new mint: it fails closed (prestart consumed the ID file), the app never starts"
docker start "$(dc ps -q app)" >/dev/null
rc=$(docker wait "$(dc ps -q app)")
dc logs --no-color app | sed 's/^[^|]*| //' | tail -2 | indent
echo "    exit code: $rc"
[ "$rc" != 0 ] || { echo "demo-cluster: expected a failure" >&2; exit 1; }

step "the launcher mints again; the app starts with the new one-time ID"
show "docker-compose run --rm launcher && docker-compose up -d app"
dc run --rm launcher 2>&1 | { grep -v '^Creating' || true; } | indent
dc up -d app >/dev/null 2>&1
for _ in $(seq 60); do [ "$(dc logs --no-color app | grep -c 'app: ready')" -ge 2 ] && break; sleep 1; done
dc logs --no-color app | sed 's/^[^|]*| //' | tail -2 | indent

step "done: removing the containers and volumes"
