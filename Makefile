# pvecm + pmxcfsd
#
#   make                 build pmxcfsd and pvecm
#   make check           install missing packages, build, check the format, run each
#                        fuzzer for CHECK_FUZZ_S seconds (3), then every test
#   make check SANITIZE=1  the same under AddressSanitizer + UBSan
#   make install DESTDIR=...
#   make demo            a small cluster on this machine, then pvecm status
#   make bench           benchmarks under tests/bench/ (not part of check)
#   make soak SEEDS=N    the 5-node fault test, N seeds of many rounds each
#                        (SOAK_ROUNDS, default 24; not part of check)
#   make format          reformat the sources (.clang-format); make format-check checks
#   make fuzz [FUZZ_S=60]  build the libFuzzer harnesses (clang) and run each
#                        FUZZ_S seconds from the seeds in tests/fuzz/corpus/

CC      ?= cc
PREFIX  ?= /usr
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= /lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

PKGS = fuse3 sqlite3 libcorosync_common glib-2.0 gio-2.0 gio-unix-2.0 json-glib-1.0 libcpg libquorum \
       libvotequorum libcmap libcfg libknet libssh libcrypto libssl

ifeq ($(SANITIZE),1)
BUILD   ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   ?= build
SANFLAGS =
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
           -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=312 -Iinclude $(PKG_CFLAGS) $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread

MAINS    = src/pmxcfsd/main.c src/pvecm/main.c
LIB_SRCS = $(filter-out $(MAINS),$(wildcard src/*/*.c))
LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNITS    = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
PROGS    = $(BUILD)/pmxcfsd $(BUILD)/pvecm
# programs the system tests run (not linked with the daemon's code)
TEST_TOOLS = $(BUILD)/tests/fswriter

all: $(PROGS) $(BUILD)/pmxcfs $(UNITS) $(TEST_TOOLS)

# The manual's name for the daemon ("pmxcfs -l", "killall pmxcfs").
$(BUILD)/pmxcfs: $(BUILD)/pmxcfsd
	ln -sfn pmxcfsd $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libcfs.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/pmxcfsd: $(BUILD)/src/pmxcfsd/main.o $(BUILD)/libcfs.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/pvecm: $(BUILD)/src/pvecm/main.o $(BUILD)/libcfs.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libcfs.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/fswriter: tests/tools/fswriter.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE $(SANFLAGS) -o $@ $<

deps:
	@tests/install-deps.sh

# The format check and a short pass of every fuzzer come first: the test
# run's last line is its count.
CHECK_FUZZ_S ?= 3

check: deps
	$(MAKE) all
	$(MAKE) format-check
	$(MAKE) fuzz FUZZ_S=$(CHECK_FUZZ_S)
	BUILD=$(BUILD) tests/run.sh

demo: deps
	$(MAKE) all
	BUILD=$(BUILD) tests/demo.sh

bench: deps
	$(MAKE) all
	BUILD=$(BUILD) tests/bench/run.sh
	BUILD=$(BUILD) tests/bench/cluster.sh

SEEDS ?= 10
soak: deps
	$(MAKE) all
	BUILD=$(BUILD) tests/soak.sh $(SEEDS)

# clang-format with the checked-in .clang-format
FORMAT_SRCS = $(LIB_SRCS) $(MAINS) $(UNIT_SRCS) tests/unit/*.h include/*.h tests/fuzz/*.c tests/fuzz/*.h

format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRCS)

install: $(PROGS)
	install -D -m 0755 $(BUILD)/pmxcfsd $(DESTDIR)$(SBINDIR)/pmxcfsd
	ln -sfn pmxcfsd $(DESTDIR)$(SBINDIR)/pmxcfs
	install -D -m 0755 $(BUILD)/pvecm $(DESTDIR)$(BINDIR)/pvecm
	install -D -m 0644 man/pmxcfsd.8 $(DESTDIR)$(MANDIR)/man8/pmxcfsd.8
	install -D -m 0644 man/pvecm.1 $(DESTDIR)$(MANDIR)/man1/pvecm.1
	install -D -m 0644 src/pvecm/pvecm.bash-completion $(DESTDIR)$(BASHCOMPDIR)/pvecm
	for u in systemd/*.service systemd/*.target; do \
		install -D -m 0644 $$u $(DESTDIR)$(UNITDIR)/$${u#systemd/} || exit 1; \
	done
	ln -sfn pmxcfsd.service $(DESTDIR)$(UNITDIR)/pve-cluster.service

clean:
	rm -rf build build-san build-fuzz

# ---- fuzzing (tests/fuzz/): libFuzzer harnesses, built with clang into
# build-fuzz with the whole library instrumented ----
FUZZ_S     ?= 60
FUZZ_CC    ?= clang
FUZZ_BUILD  = build-fuzz
FUZZERS     = proto corosync_conf datacenter_conf tree fsop names
FUZZ_SAN    = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_BINS   = $(FUZZERS:%=$(FUZZ_BUILD)/fuzz_%)

ifneq ($(BUILD),$(FUZZ_BUILD))
# The library, through the ordinary rules with another compiler and flags;
# always asked, so that the harnesses relink when it changed.
$(FUZZ_BUILD)/libcfs.a: FORCE
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
		SANFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FUZZ_BUILD)/libcfs.a
endif

FORCE:

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_BUILD)/libcfs.a
	$(FUZZ_CC) $(filter-out $(SANFLAGS),$(CFLAGS)) -fsanitize=fuzzer $(FUZZ_SAN) -Itests/fuzz \
		-o $@ $< $(FUZZ_BUILD)/libcfs.a $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: deps fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_S) $(FUZZERS)

# Regenerates the checked-in seeds after an encoding changed.
$(BUILD)/tests/mkseeds: tests/fuzz/mkseeds.c tests/fuzz/fuzz.h $(BUILD)/libcfs.a
	$(CC) $(CFLAGS) -Itests/fuzz $(LDFLAGS) -o $@ $< $(BUILD)/libcfs.a $(LDLIBS)

fuzz-seeds: $(BUILD)/tests/mkseeds
	rm -rf tests/fuzz/corpus
	$(BUILD)/tests/mkseeds tests/fuzz/corpus

.PHONY: all deps check demo bench soak format format-check install clean fuzz fuzz-build fuzz-seeds FORCE
-include $(LIB_OBJS:.o=.d) $(BUILD)/src/pmxcfsd/main.d $(BUILD)/src/pvecm/main.d

# ---- benchmark (tests/bench/): fsbench needs nothing but libc ----
$(BUILD)/tests/fsbench: tests/bench/fsbench.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $< -lc

BENCH_CFLAGS = -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE
BENCH_TOOLS  = $(BUILD)/tests/fsbench $(BUILD)/tests/cpgping $(BUILD)/tests/replat

$(BUILD)/tests/cpgping: tests/bench/cpgping.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(shell pkg-config --cflags libcpg) -o $@ $< \
		$(shell pkg-config --libs libcpg)

$(BUILD)/tests/replat: tests/bench/replat.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -pthread -o $@ $<

bench-tools: $(BENCH_TOOLS)
bench: $(BENCH_TOOLS)

.PHONY: bench-tools
# ---- end of benchmark block ----
