#!/usr/bin/env bash
# keyturn demo: Vault HA with an own CA, operators, a CI launcher and a
# supervised app, end to end on loopback, without Docker. The script
# starts and stops everything itself.
#
#   operators: unseal init / key    a three-node raft cluster, TLS from an own
#                                    CA, shares encrypted to three gpg keys
#   operator:  issuer bootstrap     roles, policies and the launcher's rights
#   launcher:  issuer mint          one wrapped, one-time secret ID per start
#   container: prestart -supervise  unwrap (after checking where it came from),
#                                    log in, read KV, issue a PKI certificate,
#                                    run the app, restart it when the secret
#                                    changes, revoke the token on SIGTERM
#
# Tokens, shares and IDs travel through files and the environment, never argv.
# Needs bin/vault, bin/unseal, bin/issuer, bin/prestart, gpg and openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
for b in vault unseal issuer prestart; do
	[ -x "$BIN/$b" ] || { echo "demo: $BIN/$b is missing; run make tools build" >&2; exit 1; }
done
for c in gpg openssl; do
	command -v "$c" >/dev/null || { echo "demo: $c is missing (apt-get install -y gnupg openssl)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/keyturn-demo.XXXXXX")
chmod 700 "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for g in "$work"/gpg-*; do [ -d "$g" ] && GNUPGHOME=$g gpgconf --kill gpg-agent 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
start=$SECONDS

. scripts/lib.sh

unset VAULT_TOKEN VAULT_ADDR VAULT_ROLE_ID VAULT_SECRET_ID VAULT_WRAPPED_SECRET_ID VAULT_NAMESPACE VAULT_CACERT

step "operator: an own CA and a certificate per node (compose/tls.sh)"
compose/tls.sh "$work/tls" | indent
export VAULT_CACERT=$work/tls/ca.pem

step "start a three-node Vault cluster on loopback: raft storage, TLS, retry_join with the CA"
api=() clu=()
for i in 1 2 3; do api+=("$(free_port)"); clu+=("$(free_port)"); done
addrs=()
for i in 0 1 2; do
	n=vault-$((i + 1))
	mkdir -m 700 -p "$work/$n/raft"
	{
		printf 'storage "raft" {\n  path = "%s"\n  node_id = "%s"\n' "$work/$n/raft" "$n"
		for j in 0 1 2; do
			[ "$j" = "$i" ] && continue
			printf '  retry_join {\n    leader_api_addr = "https://127.0.0.1:%s"\n    leader_ca_cert_file = "%s"\n  }\n' "${api[$j]}" "$VAULT_CACERT"
		done
		printf '}\nlistener "tcp" {\n  address = "127.0.0.1:%s"\n  cluster_address = "127.0.0.1:%s"\n' "${api[$i]}" "${clu[$i]}"
		printf '  tls_cert_file = "%s"\n  tls_key_file = "%s"\n}\n' "$work/tls/$n/server.pem" "$work/tls/$n/server-key.pem"
		printf 'api_addr = "https://127.0.0.1:%s"\ncluster_addr = "https://127.0.0.1:%s"\ndisable_mlock = true\n' "${api[$i]}" "${clu[$i]}"
	} >"$work/$n/vault.hcl"
	HOME=$work "$BIN/vault" server -config "$work/$n/vault.hcl" >"$work/$n.log" 2>&1 &
	pids+=($!)
	addrs+=(-address "https://127.0.0.1:${api[$i]}")
	echo "    $n  https://127.0.0.1:${api[$i]}  (log: $work/$n.log)"
done
wait_uninitialized 100 0.1 "${addrs[@]}"

step "three operators, each with their own gpg key"
make_operators alice bob carol
ls "$work"/*.asc | xargs -n1 basename | indent

step "unseal init: Vault encrypts each share to one operator's key; nothing in the clear"
show "unseal init -threshold 2 -pgp-key alice.asc -pgp-key bob.asc -pgp-key carol.asc -out keys"
"$BIN/unseal" init -threshold 2 -pgp-key "$work/alice.asc" -pgp-key "$work/bob.asc" -pgp-key "$work/carol.asc" \
	-out "$work/keys" "${addrs[@]:0:2}" | indent

step "alice and bob turn their keys against every node, at about the same time"
show "unseal key -key-file keys/alice.asc.key -address ... -address ... -address ...   # and bob"
GNUPGHOME=$work/gpg-alice "$BIN/unseal" key -key-file "$work/keys/alice.asc.key" "${addrs[@]}" >"$work/alice.out" 2>&1 &
a=$!
GNUPGHOME=$work/gpg-bob "$BIN/unseal" key -key-file "$work/keys/bob.asc.key" "${addrs[@]}" 2>&1 | indent
wait "$a" || { cat "$work/alice.out"; exit 1; }
for _ in $(seq 100); do
	"$BIN/unseal" status "${addrs[@]}" >"$work/status" 2>&1 && grep -q ' active ' "$work/status" &&
		[ "$(grep -c ' standby ' "$work/status")" = 2 ] && break
	sleep 0.2
done
show "unseal status"
indent <"$work/status"

export VAULT_ADDR=https://127.0.0.1:${api[0]}
base64 -d <"$work/keys/root-token.key" | GNUPGHOME=$work/gpg-alice gpg --batch --quiet -d >"$work/root.token" 2>/dev/null
chmod 600 "$work/root.token"
vroot() { VAULT_TOKEN=$(cat "$work/root.token") "$BIN/vault" "$@"; }

step "operator: a KV secret, a PKI for app certificates, roles and the CI launcher"
vroot secrets enable -path=secret kv-v2 >/dev/null
vroot secrets enable pki >/dev/null
vroot secrets tune -max-lease-ttl=8760h pki >/dev/null
vroot write -field=certificate pki/root/generate/internal common_name="keyturn demo apps CA" ttl=8760h >/dev/null
vroot write pki/roles/app allowed_domains=app.internal allow_subdomains=true max_ttl=1h >/dev/null
show "vault kv put secret/app/db password=orange1"
for _ in $(seq 50); do vroot kv put secret/app/db password=orange1 >/dev/null 2>&1 && break; sleep 0.2; done
vroot kv put secret/app/config greeting=hello >/dev/null
show "issuer bootstrap -config examples/approle.hcl"
"$BIN/issuer" bootstrap -config examples/approle.hcl -token-file "$work/root.token" | tail -1 | indent
cat >"$work/pki.hcl" <<'EOF'
# The app may also issue its own certificate.
policy "app-pki" {
  text = <<-EOT
    path "pki/issue/app" {
      capabilities = ["update"]
    }
  EOT
}
role "app" {
  token_policies = ["app-read", "app-pki"]
}
EOF
show "issuer bootstrap -config pki.hcl   # policy app-pki, added to role app"
"$BIN/issuer" bootstrap -config "$work/pki.hcl" -token-file "$work/root.token" | tail -1 | indent
vroot token create -role=keyturn-launcher-ci -field=token >"$work/launcher.token"

step "launcher (CI, with its own token only): a one-time, wrapped secret ID for one container"
show "issuer mint -role app -meta job=demo-1 -out boot.id"
"$BIN/issuer" role-id -role app -token-file "$work/launcher.token" >"$work/role.id"
"$BIN/issuer" mint -role app -token-file "$work/launcher.token" -meta job=demo-1 -out "$work/boot.id" 2>&1 | indent

step "container: prestart -supervise with a KV secret and a PKI certificate"
cat >"$work/app.sh" <<'EOF'
#!/bin/sh
# The demo app: it shows what it got (the password's value only because this
# is a demo) and serves until told to stop.
echo "app[$$]: DB_PASSWORD=$DB_PASSWORD, certificate: $(openssl x509 -in "$CERT_DIR/cert.pem" -noout -subject 2>/dev/null | sed 's/^subject=//'), bootstrap credentials in my environment: $(env | grep -c '^VAULT_\(ROLE_ID\|WRAPPED_SECRET_ID\|SECRET_ID\|TOKEN\)=')"
trap 'echo "app[$$]: SIGTERM, exiting"; exit 0' TERM
while :; do sleep 1 & wait $!; done
EOF
chmod +x "$work/app.sh"
show "prestart -supervise -role app -secret DB_PASSWORD=vault://secret/app/db#password -cert tls=pki/issue/app?common_name=web.app.internal -poll 1s -- app.sh"
mkdir -m 700 "$work/tls-app"
CERT_DIR=$work/tls-app VAULT_ROLE_ID=$(cat "$work/role.id") "$BIN/prestart" -supervise -role app \
	-secret-id-file "$work/boot.id" -secret 'DB_PASSWORD=vault://secret/app/db#password' \
	-cert "$work/tls-app=pki/issue/app?common_name=web.app.internal&ttl=10m" -poll 1s -grace 5s \
	-log-level info -- "$work/app.sh" >"$work/app.out" 2>&1 &
sup=$!
pids+=($sup)
for _ in $(seq 100); do grep -q 'app\[' "$work/app.out" && break; sleep 0.1; done
indent <"$work/app.out"
# prestart logs its token's accessor (never the token) at info level.
acc=$(grep -o 'token_accessor=[^ ]*' "$work/app.out" | head -1 | cut -d= -f2)

step "operator changes the secret: prestart re-reads it and restarts the app with the new value"
show "vault kv put secret/app/db password=lemon2"
vroot kv put secret/app/db password=lemon2 >/dev/null
for _ in $(seq 100); do grep -q 'lemon2' "$work/app.out" && break; sleep 0.1; done
grep 'app\[' "$work/app.out" | tail -2 | indent

step "SIGTERM: prestart forwards it, the app exits, the token is revoked"
show "kill -TERM <prestart>"
kill -TERM "$sup"
rc=0
wait "$sup" || rc=$?
tail -1 "$work/app.out" | indent
echo "    prestart exit status: $rc"
show "vault token lookup -accessor $acc"
if vroot token lookup -accessor "$acc" >/dev/null 2>&1; then
	echo "demo: the token is still alive" >&2
	exit 1
fi
echo "    the token is gone"

step "the same one-time ID again (someone copied it): refused, exit 3, the app never starts"
"$BIN/issuer" mint -role app -token-file "$work/launcher.token" -meta job=demo-2 -out "$work/boot2.id" >/dev/null 2>&1
cp "$work/boot2.id" "$work/boot2-copy.id"
VAULT_ROLE_ID=$(cat "$work/role.id") "$BIN/prestart" -role app -secret-id-file "$work/boot2.id" \
	-secret 'DB_PASSWORD=vault://secret/app/db#password' -- true
set +e
VAULT_ROLE_ID=$(cat "$work/role.id") "$BIN/prestart" -role app -secret-id-file "$work/boot2-copy.id" \
	-secret 'DB_PASSWORD=vault://secret/app/db#password' -- sh -c 'echo "    the app started (it should not have)"' 2>&1 | indent
rc=${PIPESTATUS[0]}
set -e
echo "    exit status: $rc"
[ "$rc" -eq 3 ] || { echo "demo: expected exit 3" >&2; exit 1; }

step "done in $((SECONDS - start)) s: stopping the cluster"
