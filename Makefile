# keyturn: `make demo` runs the main flow against a local Vault it starts
# itself; `make test` runs every test against real servers.
GO      ?= go
BIN     := $(CURDIR)/bin
CMDS    := issuer prestart unseal s3kms kms-local

.PHONY: all build tools demo demo-s3 test bench vet clean

all: build

build: $(addprefix $(BIN)/,$(CMDS))

$(BIN)/%: FORCE
	$(GO) build -o $@ ./cmd/$*

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

test: tools
	$(GO) test -count=1 -timeout 30m ./...

# Ratios against Vault Agent and the shell way on one Vault, in one run.
bench: tools
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/prestart-static ./cmd/prestart
	$(GO) run ./internal/bench -prestart $(BIN)/prestart-static -vault $(BIN)/vault

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)

FORCE:
