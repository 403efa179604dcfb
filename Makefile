# stasis: checkpoint/restart for unmodified Linux processes.
#
#   make build   the commands, into bin/ (static: CGO_ENABLED=0)
#   make test    build, go vet, then every test (unit and end-to-end)
#   make demo    checkpoint a running counter, kill it, restart it
#   make bench   build, then measure the performance targets (bench/)
#   make fuzz    fuzz the image reader for 30 s
#   make man     build, then a man page and a bash completion script per
#                command into build/ (from its --man-page, --bash-completion)
#   make install build, man, then install under PREFIX (/usr/local; DESTDIR
#                honoured): bin/, share/man/man1/, share/bash-completion/
#   make clean   remove bin/ and build/

GO      ?= go
BIN     := bin
FUZZTIME ?= 30s
# What make man generates: not committed, as it is made from the commands.
GEN     ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
COMPDIR ?= $(PREFIX)/share/bash-completion/completions
# Every directory of cmd/ is a command, with its page and completion.
CMDS    := $(notdir $(patsubst %/,%,$(wildcard cmd/*/)))

.PHONY: all build test vet demo bench fuzz man install clean

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
# target. BENCHFLAGS=-v also prints every run's time. The compressed
# checkpoints are compared with the zstd and lz4 commands: without them
# it stops before measuring anything.
bench: build
	@missing=""; for c in zstd lz4; do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
		echo "make bench: the compressed checkpoints are compared with the zstd and lz4 commands; missing:$$missing (install the packages:$$missing)" >&2; \
		exit 1; \
	fi
	$(GO) run ./bench --bin $(CURDIR)/$(BIN) --plot $(CURDIR)/docs/scaling.png $(BENCHFLAGS)

fuzz:
	$(GO) test -run '^$$' -fuzz=FuzzReader -fuzztime=$(FUZZTIME) ./internal/image

# Each command prints its own page and script, from the text of its
# --help; a command that cannot fails the build.
man: build
	@mkdir -p $(GEN)/man1 $(GEN)/completions
	@set -e; for c in $(CMDS); do \
		$(BIN)/$$c --man-page >$(GEN)/man1/$$c.1.tmp; \
		mv $(GEN)/man1/$$c.1.tmp $(GEN)/man1/$$c.1; \
		$(BIN)/$$c --bash-completion >$(GEN)/completions/$$c.tmp; \
		mv $(GEN)/completions/$$c.tmp $(GEN)/completions/$$c; \
		echo "$(GEN)/man1/$$c.1 $(GEN)/completions/$$c"; \
	done

install: build man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPDIR)
	@set -e; for c in $(CMDS); do \
		install -m 0755 $(BIN)/$$c $(DESTDIR)$(BINDIR)/$$c; \
		install -m 0644 $(GEN)/man1/$$c.1 $(DESTDIR)$(MANDIR)/man1/$$c.1; \
		install -m 0644 $(GEN)/completions/$$c $(DESTDIR)$(COMPDIR)/$$c; \
		echo "installed $$c: $(DESTDIR)$(BINDIR)/$$c, man1/$$c.1, completions/$$c"; \
	done

clean:
	rm -rf $(BIN) $(GEN)
