# keyturn: `make demo` runs the main flow against a local Vault it starts
# itself; `make test` runs every test against real servers, the container
# suite included; `make test-host` runs every test that needs no Docker.
GO      ?= go
BIN     := $(CURDIR)/bin
CMDS    := issuer prestart prestart-s3 unseal s3kms kms-local
# Static binaries: the same files run on the host and FROM scratch images.
export CGO_ENABLED := 0

.PHONY: all build tools images demo demo-s3 demo-cluster test test-host test-containers docker-check bench soak vet clean

all: build

build: $(addprefix $(BIN)/,$(CMDS))

# Stripped (-s -w): a smaller file to copy into every image; panics still
# name their functions.
LDFLAGS := -s -w

$(BIN)/%: FORCE
	$(GO) build -trimpath -ldflags='$(LDFLAGS)' -o $@ ./cmd/$*

# prestart comes in two builds of one program. bin/prestart links no AWS
# SDK (-tags nos3), whose package initialisation would cost every start,
# and runs bin/prestart-s3, installed beside it, for s3:// sources.
$(BIN)/prestart: FORCE
	$(GO) build -tags nos3 -trimpath -ldflags='$(LDFLAGS)' -o $@ ./cmd/prestart

$(BIN)/prestart-s3: FORCE
	$(GO) build -trimpath -ldflags='$(LDFLAGS)' -o $@ ./cmd/prestart

# The real Vault, built once from the pinned module in tools/vault with
# -tags minimal. Linking needs about 3 GB of RAM: never in parallel with
# another large build.
$(BIN)/vault: tools/vault/go.mod tools/vault/go.sum tools/vault/main.go
	cd tools/vault && CGO_ENABLED=0 $(GO) build -tags minimal -trimpath -o $(BIN)/vault .

# The real MinIO (S3) for the S3 + KMS tests and demo, from tools/minio.
$(BIN)/minio: tools/minio/go.mod tools/minio/go.sum tools/minio/main.go
	cd tools/minio && CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/minio .

# Built one after the other (make without -j): each link is memory-hungry.
tools: $(BIN)/vault $(BIN)/minio

demo: tools build
	./scripts/demo.sh
	./scripts/demo-s3.sh

demo-s3: tools build
	./scripts/demo-s3.sh

# Local images (compose/Dockerfile.*) from bin/ and busybox-static.
images: tools build docker-check
	./scripts/images.sh

demo-cluster: images
	./scripts/demo-cluster.sh

test: tools build docker-check images
	$(GO) test -count=1 -timeout 30m ./...

test-host: tools
	$(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -v -e /internal/clustertest -e /internal/dockertest)

test-containers: images
	$(GO) test -count=1 -timeout 15m ./internal/dockertest/... ./internal/clustertest/...

docker-check:
	@docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1 || { \
		echo "make: error: no Docker engine reachable: the container suite needs one" >&2; \
		echo "make: hint: run make test-host for every test that needs no Docker" >&2; exit 1; }

# Every backend and the issuer, against bare clients, Vault Agent and the
# shell way, in one run on the same servers; writes docs/benchmarks.md.
# A quicker run: make bench BENCHFLAGS='-n 3 -startup 50 -renewals 50'.
BENCHFLAGS ?=
bench: tools build
	$(GO) run ./internal/bench -prestart $(BIN)/prestart -issuer $(BIN)/issuer \
		-vault $(BIN)/vault -minio $(BIN)/minio -out docs/benchmarks.md $(BENCHFLAGS)

# prestart -supervise for 10 minutes on 3s tokens while a fault proxy cuts
# Vault off for 20s every 2 minutes; not part of make test. Shorter:
# make soak SOAK_FLAGS='-duration 3m -cut-every 1m -cut-for 20s'
soak: tools build
	$(GO) run ./internal/soak -prestart $(BIN)/prestart -vault $(BIN)/vault $(SOAK_FLAGS)

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)

FORCE:
