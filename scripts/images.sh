#!/usr/bin/env bash
# Build keyturn's local images from the static binaries in bin/ (make build,
# make tools) and Debian's busybox-static, one small build context each.
# No image is pulled: every Dockerfile in compose/ starts FROM scratch.
#
#   scripts/images.sh [NAME...]   (default: every image; tag $IMAGE_TAG or local)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${IMAGE_TAG:-local}
names=" $* "
want() { [ "$names" = "  " ] || [[ $names == *" $1 "* ]]; }
bin=$PWD/bin
busybox=${BUSYBOX:-/bin/busybox}

die() { echo "images: error: $*" >&2; exit 1; }
hint() { echo "images: hint: $*" >&2; }

command -v docker >/dev/null || { hint "install the Docker engine, or run make test-host"; die "docker not found"; }
docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1 || { hint "start the Docker engine, or run make test-host"; die "no Docker engine reachable"; }
[ -x "$busybox" ] || { hint "apt-get install -y busybox-static"; die "$busybox not found"; }
# Read the whole output before matching: with pipefail, a reader that stops
# early (head, grep -q) can fail the pipeline through SIGPIPE.
case "$("$busybox" --help 2>&1 || true)" in *BusyBox*) ;; *) die "$busybox is not busybox" ;; esac

# A binary linked against libc would not start FROM scratch.
static() {
	local f
	f=$(readlink -f "$bin/$1") || die "bin/$1 not found (make build tools)"
	[ -f "$f" ] || die "bin/$1 not found (make build tools)"
	case "$(go version -m "$f")" in *CGO_ENABLED=0*) ;; *) die "bin/$1 is not a static build (CGO_ENABLED=0)" ;; esac
	echo "$f"
}

# build NAME DOCKERFILE BINARY... [-- EXTRA-FILE...]
build() {
	local name=$1 df=$2; shift 2
	local ctx
	ctx=$(mktemp -d "${TMPDIR:-/tmp}/keyturn-image.XXXXXX")
	cp compose/"$df" "$ctx/Dockerfile"
	cp "$busybox" "$ctx/busybox"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do cp "$(static "$1")" "$ctx/$1"; shift; done
	[ $# -gt 0 ] && shift
	for f in "$@"; do cp compose/"$f" "$ctx/"; done
	echo "images: keyturn/$name:$tag"
	if ! docker build --label org.keyturn.image=1 -t "keyturn/$name:$tag" "$ctx" >"$ctx.log" 2>&1; then
		cat "$ctx.log" >&2
		rm -rf "$ctx" "$ctx.log"
		die "docker build of keyturn/$name:$tag failed"
	fi
	rm -f "$ctx.log"
	rm -rf "$ctx"
}

want vault && build vault Dockerfile.vault vault
want app && build app Dockerfile.app prestart prestart-s3 -- spec.hcl app.sh
want operator && build operator Dockerfile.operator issuer unseal s3kms
want minio && build minio Dockerfile.minio minio
want kms-local && build kms-local Dockerfile.kms-local kms-local
docker image ls --filter label=org.keyturn.image=1 --filter dangling=false --format '{{.Repository}}:{{.Tag}}  {{.Size}}'
