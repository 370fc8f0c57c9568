# keyturn: `make demo` runs the main flow against a local Vault it starts
# itself; `make test` runs every test against real servers.
GO      ?= go
BIN     := $(CURDIR)/bin
CMDS    := issuer prestart

.PHONY: all build tools demo test vet fuzz clean

all: build

build: $(addprefix $(BIN)/,$(CMDS))

$(BIN)/%: FORCE
	$(GO) build -o $@ ./cmd/$*

# The real Vault, built once from the pinned module in tools/vault with
# -tags minimal. Linking needs about 3 GB of RAM: never in parallel with
# another large build.
$(BIN)/vault: tools/vault/go.mod tools/vault/go.sum tools/vault/main.go
	cd tools/vault && $(GO) build -tags minimal -trimpath -o $(BIN)/vault .

tools: $(BIN)/vault

demo: tools build
	./scripts/demo.sh

test: tools
	$(GO) test -count=1 -timeout 30m ./...

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)

FORCE:
