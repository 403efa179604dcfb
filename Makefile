# stasis: checkpoint/restart for unmodified Linux processes.
#
#   make build   the commands, into bin/ (static: CGO_ENABLED=0), and the C
#                library libcr (clib/) into bin/lib/: libcr.so.0, libcr.so, libcr.a
#   make test    build, go vet, then every test (unit and end-to-end)
#   make demo    checkpoint a running counter, kill it, restart it
#   make bench   build, then measure the performance targets (bench/)
#   make fuzz    fuzz the image reader for 30 s
#   make man     build, then a man page and a bash completion script per
#                command into build/ (from its --man-page, --bash-completion)
#   make install build, man, then install under PREFIX (/usr/local; DESTDIR
#                honoured): bin/, share/man/man1/, share/bash-completion/,
#                and libcr: include/, lib/ (+ pkgconfig/libcr.pc), share/man/man3/
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
INCDIR  ?= $(PREFIX)/include
LIBDIR  ?= $(PREFIX)/lib
CC      ?= cc
AR      ?= ar
CFLAGS  ?= -O2 -g
# libcr, BLCR's checkpoint library for C programs (clib/; libcr(3)). Its
# soname is BLCR's, libcr.so.0, so that programs built against BLCR run.
LIBCR_SRC := $(wildcard clib/*.c)
LIBCR_HDR := clib/include/libcr.h clib/include/blcr_common.h clib/include/blcr_errcodes.h
LIBCR_VER := 0.5.2
LIBCR_OBJ := $(patsubst clib/%.c,$(BIN)/lib/obj/%.o,$(LIBCR_SRC))
LIBCR_PIC := $(patsubst clib/%.c,$(BIN)/lib/obj/%.pic.o,$(LIBCR_SRC))
LIBCR_CFLAGS := $(CFLAGS) -std=gnu11 -Wall -Wextra -pthread -Iclib/include
# Every directory of cmd/ is a command, with its page and completion.
CMDS    := $(notdir $(patsubst %/,%,$(wildcard cmd/*/)))

.PHONY: all build libcr install-libcr test vet demo bench fuzz man install clean

all: build

build: libcr
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

libcr: $(BIN)/lib/libcr.so.0 $(BIN)/lib/libcr.so $(BIN)/lib/libcr.a

$(BIN)/lib/obj/%.o: clib/%.c clib/internal.h $(LIBCR_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(LIBCR_CFLAGS) -c -o $@ $<

$(BIN)/lib/obj/%.pic.o: clib/%.c clib/internal.h $(LIBCR_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(LIBCR_CFLAGS) -fPIC -c -o $@ $<

$(BIN)/lib/libcr.so.0: $(LIBCR_PIC) clib/libcr.map
	$(CC) -shared -pthread -Wl,-soname,libcr.so.0 -Wl,--version-script=clib/libcr.map -o $@ $(LIBCR_PIC)

$(BIN)/lib/libcr.so: $(BIN)/lib/libcr.so.0
	ln -sf libcr.so.0 $@

$(BIN)/lib/libcr.a: $(LIBCR_OBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBCR_OBJ)

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

install: build man install-libcr
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPDIR)
	@set -e; for c in $(CMDS); do \
		install -m 0755 $(BIN)/$$c $(DESTDIR)$(BINDIR)/$$c; \
		install -m 0644 $(GEN)/man1/$$c.1 $(DESTDIR)$(MANDIR)/man1/$$c.1; \
		install -m 0644 $(GEN)/completions/$$c $(DESTDIR)$(COMPDIR)/$$c; \
		echo "installed $$c: $(DESTDIR)$(BINDIR)/$$c, man1/$$c.1, completions/$$c"; \
	done

# The C library alone: its header, libraries, pkg-config file and page.
install-libcr: libcr
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(MANDIR)/man3
	install -m 0644 $(LIBCR_HDR) $(DESTDIR)$(INCDIR)/
	install -m 0755 $(BIN)/lib/libcr.so.0 $(DESTDIR)$(LIBDIR)/libcr.so.0
	ln -sf libcr.so.0 $(DESTDIR)$(LIBDIR)/libcr.so
	install -m 0644 $(BIN)/lib/libcr.a $(DESTDIR)$(LIBDIR)/libcr.a
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@INCDIR@|$(INCDIR)|; s|@LIBDIR@|$(LIBDIR)|; s|@VERSION@|$(LIBCR_VER)|' \
		clib/libcr.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/libcr.pc
	install -m 0644 clib/libcr.3 $(DESTDIR)$(MANDIR)/man3/libcr.3
	@echo "installed libcr: $(DESTDIR)$(INCDIR)/libcr.h, $(DESTDIR)$(LIBDIR)/libcr.so.0, libcr.a, pkgconfig/libcr.pc, man3/libcr.3"

clean:
	rm -rf $(BIN) $(GEN)
