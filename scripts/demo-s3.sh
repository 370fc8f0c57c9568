#!/usr/bin/env bash
# keyturn demo, S3 + KMS part: the flow of teams without Vault (an env file
# in S3 under KMS, one KMS blob per secret) against a local MinIO and kms-local (keyturn's KMS test
# server), both started and stopped by this script on free loopback ports.
#
#   ops:       s3kms push / set      an env file, sealed under a KMS key per environment
#   container: prestart -- app       one GET, one KMS Decrypt, exec the app
#   attacker:  re-seal under a key of their own in the bucket: refused, exit 3
#
# Needs bin/minio, bin/kms-local, bin/s3kms and bin/prestart (make tools build).
# Secrets travel through stdin and the environment, never argv.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
for b in minio kms-local s3kms prestart; do
	[ -x "$BIN/$b" ] || { echo "demo-s3: $BIN/$b is missing; run make tools build" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/keyturn-demo-s3.XXXXXX")
chmod 700 "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

. scripts/lib.sh


# http_ok PORT PATH: a 200 from a plain HTTP GET, with bash alone.
http_ok() {
	local line
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
	read -r line <&3 || true
	exec 3<&-
	[[ "$line" == *" 200 "* ]]
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

kms_port=$(free_port)
step "start kms-local on 127.0.0.1:$kms_port with one key per environment and one the attacker controls"
"$BIN/kms-local" -addr "127.0.0.1:$kms_port" -key alias/app-dev -key alias/attacker >"$work/kms.out" 2>"$work/kms.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^key .*alias/attacker' "$work/kms.out" 2>/dev/null && break; sleep 0.05; done
grep '^key ' "$work/kms.out" | indent
dev_arn=$(awk '$1 == "key" && $3 == "alias/app-dev" { print $2 }' "$work/kms.out")
[ -n "$dev_arn" ] || { cat "$work/kms.log" >&2; exit 1; }

s3_port=$(free_port)
console_port=$(free_port)
step "start MinIO on 127.0.0.1:$s3_port (log: $work/minio.log)"
export AWS_ACCESS_KEY_ID="keyturn-demo-$(random_hex 4)"
export AWS_SECRET_ACCESS_KEY="$(random_hex 20)"
mkdir -p "$work/minio/data" "$work/minio/certs"
MINIO_ROOT_USER="$AWS_ACCESS_KEY_ID" MINIO_ROOT_PASSWORD="$AWS_SECRET_ACCESS_KEY" \
	MINIO_KMS_SECRET_KEY="my-key:$(head -c 32 /dev/urandom | base64)" MINIO_UPDATE=off HOME="$work" \
	"$BIN/minio" server "$work/minio/data" --address "127.0.0.1:$s3_port" \
	--console-address "127.0.0.1:$console_port" --certs-dir "$work/minio/certs" >"$work/minio.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do http_ok "$s3_port" /minio/health/ready 2>/dev/null && break; sleep 0.05; done
http_ok "$s3_port" /minio/health/ready || { cat "$work/minio.log" >&2; exit 1; }

# AWS configured as for the AWS CLI: endpoint overrides for S3 and KMS,
# path-style addressing for MinIO, and nothing from ~/.aws.
export AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$s3_port"
export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$kms_port"
export AWS_S3_USE_PATH_STYLE=true
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE="$work/no-aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/no-aws-credentials"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL KEYTURN_KMS_KEY
obj=s3://keyturn-demo/app/dev.env

step "ops: make a versioned bucket and push the env file, sealed under alias/app-{env} for -env dev"
show "s3kms mb s3://keyturn-demo"
"$BIN/s3kms" mb s3://keyturn-demo
show "s3kms push $obj -kms-key 'alias/app-{env}' -env dev < dev.env"
v1=$(printf "# dev secrets\nDB_PASSWORD='orange1'\nexport API_KEY=\"k-123\"\n" |
	"$BIN/s3kms" push "$obj" -kms-key 'alias/app-{env}' -env dev)
echo "    version $v1"
show "echo dbuser-7f3 | s3kms set $obj DB_USER -kms-key alias/app-dev"
v2=$(echo dbuser-7f3 | "$BIN/s3kms" set "$obj" DB_USER -kms-key alias/app-dev)
echo "    version $v2"
show "s3kms diff $obj -kms-key alias/app-dev   # names only, never values"
"$BIN/s3kms" diff "$obj" -kms-key alias/app-dev | indent

step "container: prestart reads the envelope (one GET, one KMS Decrypt) and execs the app"
show "prestart -secrets '$obj?kms=$dev_arn' -- sh -c 'echo ...'"
"$BIN/prestart" -log-level info -secrets "$obj?kms=$dev_arn" \
	-- sh -c 'echo "    the app sees DB_PASSWORD=$DB_PASSWORD DB_USER=$DB_USER API_KEY=$API_KEY"' 2>&1 |
	sed 's/^\(.*read secret.*\)$/    \1/'
show "prestart -secrets '$obj?kms=...&version=$v1' ...   # pinned to the first version"
"$BIN/prestart" -secrets "$obj?kms=$dev_arn&version=$v1" \
	-- sh -c 'echo "    pinned: DB_USER=${DB_USER:-not yet set}"'

step "attacker with write access to the bucket: seals their own file under their own key"
show "echo \"DB_PASSWORD='stolen'\" | s3kms push $obj -kms-key alias/attacker"
echo "DB_PASSWORD='stolen'" | "$BIN/s3kms" push "$obj" -kms-key alias/attacker >/dev/null
show "prestart -secrets '$obj?kms=$dev_arn' -- app   # refused before any decrypt, exit 3"
set +e
"$BIN/prestart" -secrets "$obj?kms=$dev_arn" -- sh -c 'echo "    the app started (it should not have)"' 2>&1 | indent
rc=${PIPESTATUS[0]}
set -e
echo "    exit status: $rc"
[ "$rc" -eq 3 ] || { echo "demo-s3: expected exit 3" >&2; exit 1; }

step "ops: restore the last good version; the app starts again"
show "s3kms versions $obj"
"$BIN/s3kms" versions "$obj" | indent
show "s3kms rollback $obj -to $v2 -kms-key alias/app-dev"
"$BIN/s3kms" rollback "$obj" -to "$v2" -kms-key alias/app-dev >/dev/null
"$BIN/prestart" -secrets "$obj?kms=$dev_arn" -- sh -c 'echo "    the app sees DB_PASSWORD=$DB_PASSWORD again"'

step "done: stopping MinIO and kms-local"
