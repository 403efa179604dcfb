# stasis: checkpoint/restart for unmodified Linux processes.
#
#   make build   the commands, into bin/ (static: CGO_ENABLED=0)
#   make test    build, go vet, then every test (unit and end-to-end)
#   make demo    checkpoint a running counter, kill it, restart it
#   make bench   build, then measure the performance targets (bench/)
#   make fuzz    fuzz the image reader for 30 s
#   make clean   remove bin/

GO      ?= go
BIN     := bin
FUZZTIME ?= 30s

.PHONY: all build test vet demo bench fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet ./...

# The end-to-end tests (test/) use the binaries just built in bin/.
test: build vet
	STASIS_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 14m ./...

demo: build
	STASIS_BIN=$(CURDIR)/$(BIN) bash scripts/demo.sh

# Ratios measured side by side in one run; exits non-zero if one misses its
# target. BENCHFLAGS=-v also prints every run's time.
bench: build
	$(GO) run ./bench --bin $(CURDIR)/$(BIN) $(BENCHFLAGS)

fuzz:
	$(GO) test -run '^$$' -fuzz=FuzzReader -fuzztime=$(FUZZTIME) ./internal/image

clean:
	rm -rf $(BIN)
