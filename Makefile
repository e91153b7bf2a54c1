# meso: Apache Mesos rebuilt in Go, one static binary.
#
#   make local   build and start a one-command local cluster (master + 1 agent)
#   make test    install what the tests need, then vet, check generated code and
#                the dependency rules, and run the whole suite with -race
#   make proto   regenerate the protobuf Go code from api/proto and internal/pb/proto
#   make bench   run the benchmarks recorded in BENCHMARKS.md
#   make screenshots  write PNGs of the web UI's main pages to docs/screenshots

GO        ?= go
BIN       := bin/meso
PROTOC    ?= protoc
TOOLS     := .work/tools
MODULE    := $(shell $(GO) list -m)
PROTO_SRC := $(shell find api/proto internal/pb/proto -name '*.proto' | sort)
FUZZTIME  ?= 10s

.PHONY: all build local test deps vet proto check-proto check-fmt fuzz bench screenshots clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/meso

local: build
	./$(BIN) local

# deps installs the system packages the build and tests need (Debian; as root
# or with sudo) and the pinned protoc-gen-go from go.mod.
deps:
	@scripts/install-deps.sh

$(TOOLS)/protoc-gen-go: go.mod
	@mkdir -p $(TOOLS)
	$(GO) build -o $@ google.golang.org/protobuf/cmd/protoc-gen-go

proto: $(TOOLS)/protoc-gen-go
	$(PROTOC) -I api/proto -I internal/pb/proto \
		--plugin=protoc-gen-go=$(TOOLS)/protoc-gen-go \
		--go_out=. --go_opt=module=$(MODULE) $(PROTO_SRC)

# check-proto fails when the committed generated code differs from what
# `make proto` produces.
check-proto: $(TOOLS)/protoc-gen-go
	@rm -rf .work/gen && mkdir -p .work/gen
	@$(PROTOC) -I api/proto -I internal/pb/proto \
		--plugin=protoc-gen-go=$(TOOLS)/protoc-gen-go \
		--go_out=.work/gen --go_opt=module=$(MODULE) $(PROTO_SRC)
	@status=0; for f in $$(cd .work/gen && find . -name '*.pb.go'); do \
		if ! cmp -s .work/gen/$$f $$f; then echo "stale generated file: $$f (run 'make proto')"; status=1; fi; \
	done; \
	for f in $$(find api internal -name '*.pb.go'); do \
		[ -f .work/gen/$$f ] || { echo "generated file without a .proto: $$f"; status=1; }; \
	done; \
	[ $$status -eq 0 ] && echo "generated code is up to date"; exit $$status

check-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# fuzz runs every fuzz target briefly (FUZZTIME each).
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

test: deps check-fmt vet check-proto
	$(GO) test -race -count=1 -timeout 20m ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

bench: build
	$(GO) run ./bench/tasks -meso=$(BIN) -runs=10 -tasks=200 -rounds=3 -configs=posix,cgroups

# screenshots drives the web UI in a headless Chromium against a local
# cluster with some frameworks and tasks, and writes a PNG of each main page.
screenshots:
	MESO_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestWebUIScreenshots$$' -v ./internal/e2e

clean:
	rm -rf bin .work
