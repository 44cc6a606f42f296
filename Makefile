# Guichet — plain Makefile. `make`, `make check`, `make check SANITIZE=1`, `make bench`,
# `make demo`, `make fuzz`, `make soak`, `make install PREFIX=/usr DESTDIR=...`.

PREFIX  ?= /usr/local
DESTDIR ?=
UNITDIR ?= $(PREFIX)/lib/systemd/system
UDEVDIR ?= $(PREFIX)/lib/udev/rules.d
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
BUILD   ?= build

PKGS    := gammu libosmocore libosmogsm libosmo-gsup-client libcurl yaml-0.1 jansson \
           sqlite3 libsystemd libmicrohttpd libsmpp34 gnutls libpq
CC      ?= cc
CFLAGS  ?= -O2 -g
# libosmocore's linuxlist.h uses the GNU spelling typeof; C11 only has __typeof__.
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Dtypeof=__typeof__ -Iinclude
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BUILD   := build-san
endif
# FUZZ=1: the library for libFuzzer targets (tests/fuzz/), built by clang into build-fuzz/.
ifeq ($(FUZZ),1)
CC      := clang
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BUILD   := build-fuzz
endif

DEPS_OK := $(shell pkg-config --exists $(PKGS) cunit 2>/dev/null && echo yes)
ifeq ($(DEPS_OK),yes)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -lpthread
CUNIT_LIBS := $(shell pkg-config --libs cunit)
endif
CFLAGS += $(PKG_CFLAGS)

# Every daemon/*.c but the two programs' mains goes into the shared library.
MAINS     := daemon/guichetd.c daemon/guichet.c
LIB_SRCS  := $(sort $(filter-out $(MAINS),$(wildcard daemon/*.c)))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB       := $(BUILD)/libguichet.a
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)
BENCH_SRCS:= $(sort $(wildcard bench/*.c))
BENCH_BINS:= $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all deps check unit integration valgrind bench demo docs install deb clean fuzz fuzz-bins \
	fuzz-replay soak

all: deps-known $(BUILD)/guichetd $(BUILD)/guichet $(TOOL_BINS)

deps-known:
	@test "$(DEPS_OK)" = yes || { echo "Missing build dependencies: run 'make deps' (as root) first." >&2; exit 1; }
.PHONY: deps-known

deps:
	@scripts/deps.sh

$(BUILD)/%.o: %.c $(wildcard include/guichet/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/guichetd: $(BUILD)/daemon/guichetd.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/guichet: $(BUILD)/daemon/guichet.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The unit tests' shared fixtures (tests/unit/*.h) are part of each test's object.
$(UNIT_SRCS:%.c=$(BUILD)/%.o): $(wildcard tests/unit/*.h)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CUNIT_LIBS)

$(TOOL_SRCS:%.c=$(BUILD)/%.o): $(wildcard tests/tools/*.h)

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

.SECONDARY: $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%.o)
$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

# make check: dependencies, build, unit tests, then integration tests (each tests/integration/*.sh).
NPROC := $(shell nproc 2>/dev/null || echo 2)

check: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all $(UNIT_BINS)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-replay
	@$(MAKE) --no-print-directory integration

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; ./$$t; done

integration: all
	@BUILD=$(BUILD) tests/run-integration.sh

valgrind: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all $(UNIT_BINS)
	@BUILD=$(BUILD) tests/valgrind.sh

bench: deps
	@bench/deps.sh || true
	@$(MAKE) --no-print-directory -j$(NPROC) all $(BENCH_BINS)
	@BUILD=$(BUILD) bench/run.sh

# Fuzzing (clang's libFuzzer, ASan + UBSan): each tests/fuzz/fuzz_*.c for FUZZ_SECONDS
# (default 60) from its seed corpus tests/fuzz/corpus/NAME/. fuzz-replay (part of make check)
# runs every target once over its corpus, as a regression test; both skip without clang.
FUZZ_SECONDS ?= 60
fuzz-bins: deps-known $(FUZZ_BINS)

fuzz: deps
	@if tests/fuzz/run.sh --available; then \
	  $(MAKE) --no-print-directory FUZZ=1 SANITIZE=0 -j$(NPROC) fuzz-bins && \
	  FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh; fi

fuzz-replay:
	@if tests/fuzz/run.sh --available; then \
	  $(MAKE) --no-print-directory FUZZ=1 SANITIZE=0 -j$(NPROC) fuzz-bins && \
	  tests/fuzz/run.sh --replay; fi

# Soak (not in CI): SOAK_MINUTES (default 30) of random dialogues with faults; tests/soak/.
soak: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@BUILD=$(BUILD) tests/soak/soak.sh
# make docs: the sample flows' drawings, committed in docs/flows/ (DOT and SVG; the DOT is also
# tests/golden/, which tests/integration/draw.sh compares), and the report of the sample flows
# in $(BUILD)/report/ (not committed: it is made from the same files; open index.html).
docs: all
	@mkdir -p docs/flows
	$(BUILD)/guichet draw --format dot -o docs/flows flows
	$(BUILD)/guichet draw --format svg -o docs/flows flows
	$(BUILD)/guichet report -o $(BUILD)/report flows

demo: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@BUILD=$(BUILD) scripts/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 $(BUILD)/guichet $(DESTDIR)$(PREFIX)/bin/guichet
	install -m 0755 $(BUILD)/guichetd $(DESTDIR)$(PREFIX)/sbin/guichetd
	install -d $(DESTDIR)/etc/guichet/flows
	install -m 0644 config/guichet.yaml $(DESTDIR)/etc/guichet/guichet.yaml
	install -m 0644 flows/*.yaml $(DESTDIR)/etc/guichet/flows/
	install -d $(DESTDIR)/etc/guichet/flows/tests
	install -m 0644 flows/tests/*.yaml $(DESTDIR)/etc/guichet/flows/tests/
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(UDEVDIR)
	sed "s|/usr/sbin/guichetd|$(PREFIX)/sbin/guichetd|" systemd/guichetd.service > $(DESTDIR)$(UNITDIR)/guichetd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/guichetd.service
	install -m 0644 systemd/60-guichet-modems.rules $(DESTDIR)$(UDEVDIR)/
	# The system user (the Debian package installs it through dh_installsysusers instead).
	if [ -n "$(SYSUSERSDIR)" ]; then install -d $(DESTDIR)$(SYSUSERSDIR) && \
	  install -m 0644 systemd/guichet.sysusers $(DESTDIR)$(SYSUSERSDIR)/guichet.conf; fi
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	-install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	-install -m 0644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	-install -m 0644 man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/

# The Debian package, built from a copy of the tree (dpkg-buildpackage cleans the tree it
# builds in); the .deb lands in $(BUILD)/deb/.
deb:
	@BUILD=$(BUILD) scripts/build-deb.sh

clean:
	rm -rf build build-san build-fuzz
