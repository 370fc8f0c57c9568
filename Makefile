# keyturn: `make demo` runs the main flow against a local Vault it starts
# itself; `make test` runs every test against real servers, the container
# suite included; `make test-host` runs every test that needs no Docker.
GO      ?= go
BIN     := $(CURDIR)/bin
CMDS    := issuer prestart unseal s3kms kms-local
# Static binaries: the same files run on the host and FROM scratch images.
export CGO_ENABLED := 0

.PHONY: all build tools images demo demo-s3 demo-cluster test test-host test-containers docker-check bench soak vet clean

all: build

build: $(addprefix $(BIN)/,$(CMDS))

$(BIN)/%: FORCE
	$(GO) build -trimpath -o $@ ./cmd/$*

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

# Ratios against Vault Agent and the shell way on one Vault, in one run.
bench: tools
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/prestart-static ./cmd/prestart
	$(GO) run ./internal/bench -prestart $(BIN)/prestart-static -vault $(BIN)/vault

# prestart -supervise for 10 minutes on 3s tokens while a fault proxy cuts
# Vault off for 20s every 2 minutes; not part of make test. Shorter:
# make soak SOAK_FLAGS='-duration 3m -cut-every 1m -cut-for 20s'
soak: tools
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/prestart-static ./cmd/prestart
	$(GO) run ./internal/soak -prestart $(BIN)/prestart-static -vault $(BIN)/vault $(SOAK_FLAGS)

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)

FORCE:
