#!/bin/sh
# The example app: it reports which of its secrets it got (never their
# values) and then serves until it is told to stop.
set -u
for name in DB_PASSWORD APP_GREETING; do
	eval "v=\${$name:-}"
	if [ -n "$v" ]; then echo "app: $name is set (${#v} characters)"; else echo "app: $name is missing"; fi
done
for name in VAULT_ROLE_ID VAULT_WRAPPED_SECRET_ID VAULT_SECRET_ID VAULT_TOKEN; do
	eval "v=\${$name:-}"
	[ -z "$v" ] || echo "app: bootstrap credential $name is in my environment"
done
trap 'echo "app: got SIGTERM, exiting"; exit 0' TERM
echo "app: ready"
while :; do sleep 1 & wait $!; done
