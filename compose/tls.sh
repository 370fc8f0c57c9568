#!/bin/sh
# Make the blueprint's own CA and one server certificate per Vault node,
# with SANs for the node's name, the shared name "vault", localhost and
# 127.0.0.1 (operators reach the published ports on loopback).
#
#   ./tls.sh [DIR]     (default: $KEYTURN_TLS or ./tls)
#
# The CA key stays in DIR/ca-key.pem: keep it offline once the certificates
# are made. Needs openssl.
set -eu
dir=${1:-${KEYTURN_TLS:-./tls}}
umask 077
mkdir -p "$dir"
if [ ! -f "$dir/ca.pem" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
		-subj "/CN=keyturn blueprint CA" -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
fi
for n in vault-1 vault-2 vault-3; do
	mkdir -p "$dir/$n"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
		-keyout "$dir/$n/server-key.pem" -out "$dir/$n/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:%s,DNS:vault,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' "$n" >"$dir/$n/ext.cnf"
	openssl x509 -req -in "$dir/$n/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
		-days 90 -extfile "$dir/$n/ext.cnf" -out "$dir/$n/server.pem" 2>/dev/null
	cp "$dir/ca.pem" "$dir/$n/ca.pem"
	rm -f "$dir/$n/server.csr" "$dir/$n/ext.cnf"
	# Vault runs as root in these images; with a non-root Vault user,
	# chown the key to it instead of widening the mode.
	chmod 644 "$dir/$n/server.pem" "$dir/$n/ca.pem"
done
chmod 755 "$dir" "$dir"/vault-*
chmod 644 "$dir/ca.pem"
echo "tls: CA and certificates for vault-1, vault-2, vault-3 in $dir"
