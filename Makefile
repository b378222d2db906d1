# fruitstream build.
#
#   make            build the programs into build/
#   make run        featurize the Fruits-360 Test split end to end (starts its own Redis)
#   make test       unit tests (also under ASan/UBSan) and integration tests
#   make bench      speed figures (featurizer vs ONNX Runtime and PyTorch, sink, stream latency)
#   make fuzz       libFuzzer targets (clang) into build-fuzz/fuzz/; run e.g.
#                   build-fuzz/fuzz/fuzz_wire -max_total_time=60 NEW_DIR tests/fuzz/corpus/wire
#   make arm64      cross-build the featurizer and its kernel and reference tests for ARM64
#   make avx512-generic  the same tests with the AVX-512 kernels in generic vectors, for AVX2
#   make install    the four programs into $(DESTDIR)$(PREFIX)/bin (see "Install" below)
#
# `run`, `test` and `bench` first install missing Debian packages (scripts/deps.sh).
# CC=clang works as well as gcc. CFLAGS is the user's (default -O2 -g): the project's own
# flags are added to it, never replaced. Warnings are errors in `make test` (hence CI) only,
# so that a newer compiler's new warning does not stop a user's build.

CC      ?= cc
BUILD   ?= build
SHARED  ?= ../shared
DATA    ?= $(SHARED)/data/fruits-360/Test
RUN_ARGS ?=

PKGS    := libczmq libzmq libturbojpeg msgpack hiredis openblas lapacke libmicrohttpd jansson
CPPFLAGS += -I. -I$(BUILD)/gen -D_GNU_SOURCE \
            $(shell pkg-config --cflags-only-I $(PKGS) 2>/dev/null | sed 's/-I/-isystem /g')
# User flags first, then the project's: `make CFLAGS=-O3` keeps -std=c11 -Wall ...
CFLAGS  ?= -O2 -g
WERROR  ?=
override CFLAGS += -std=c11 -Wall -Wextra $(WERROR) -fno-strict-aliasing $(EXTRA_CFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null || \
             echo -lczmq -lzmq -lturbojpeg -lmsgpackc -lhiredis -lopenblas -llapacke -lmicrohttpd \
                  -ljansson) -lm -lpthread
LDFLAGS += $(EXTRA_LDFLAGS)

# Kernel sources (*_simd.c) are compiled once per instruction set of the target
# architecture, each object with that set's flags (common/simd.h explains the scheme).
ARCH      := $(shell $(CC) -dumpmachine | cut -d- -f1)
ifeq ($(ARCH),x86_64)
ISAS      := portable avx2 avx512
else ifeq ($(ARCH),aarch64)
ISAS      := portable neon
else
ISAS      := portable
endif
ISA_FLAGS_portable :=
ISA_FLAGS_avx2     := -mavx2 -mfma
ISA_FLAGS_avx512   := -mavx512f -mfma
ISA_FLAGS_neon     :=
SIMD_SRC  := $(wildcard featurizer/*_simd.c pca/*_simd.c)
SIMD_OBJ  := $(foreach isa,$(ISAS),$(SIMD_SRC:%.c=$(BUILD)/obj/%-$(isa).o))

# Every role's main lives in <role>/main.c; all other sources form one library: the
# shared rooms (common/, featurizer/, pca/) and what only one role uses.
LIB_DIRS  := common featurizer pca worker sink ventilator cli
LIB_SRC   := $(filter-out %/main.c %_simd.c,$(wildcard $(LIB_DIRS:%=%/*.c)))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(SIMD_OBJ)
LIB       := $(BUILD)/libfruitstream.a
PROGRAMS  := $(BUILD)/fruitstream $(BUILD)/fruitstream-ventilator \
             $(BUILD)/fruitstream-worker $(BUILD)/fruitstream-sink
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC  := $(wildcard tests/tools/*.c)
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
# Fuzz targets: each runs under libFuzzer (make fuzz) and, everywhere else, as a unit test
# replaying its corpus (tests/fuzz/replay.c).
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/tests/test_fuzz_%)
FUZZERS   := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)

# The featurizer and the PCA's rank-k update alone (CORE_SRC, CORE_SIMD_SRC) need no library
# but libjpeg-turbo, jansson, OpenBLAS and LAPACKE (CORE_LIBS, as NAME:DEBIAN-PACKAGE). Two
# builds of only them, with the tests that check their kernels, test what this machine's
# own build cannot:
# - ARM64: cross-compiled (Debian's gcc-aarch64-linux-gnu, the libraries' arm64 packages),
#   with the tests of the multiply-add peak loop and of the L2 size read from sysfs as well
#   (Debian's ARM64 C library reports none), run under qemu-user (tests/run.sh).
# - avx512-generic, on x86-64: the AVX-512 path's kernels compiled with generic 16-float
#   vectors for AVX2 (common/simd.h), so that a CPU without AVX-512 still checks that path's
#   tile shapes and edges, under a name of its own (isa.c).
CORE_SRC      := common/isa.c common/file.c common/cpu_cache.c pca/syrk.c pca/pca.c \
                 $(filter-out %_simd.c,$(wildcard featurizer/*.c))
CORE_SIMD_SRC := $(wildcard featurizer/*_simd.c) pca/syrk_simd.c
CORE_LIBS     := turbojpeg:libturbojpeg0-dev jansson:libjansson-dev openblas:libopenblas-dev \
                 lapacke:liblapacke-dev
CORE_LDLIBS   := $(foreach lib,$(CORE_LIBS),-l$(firstword $(subst :, ,$(lib)))) -lm
ARM64_CC    ?= aarch64-linux-gnu-gcc
ARM64_BUILD ?= build-arm64
ARM64_TESTS := $(ARM64_BUILD)/tests/test_kernels $(ARM64_BUILD)/tests/test_reference \
               $(ARM64_BUILD)/tests/test_peak $(ARM64_BUILD)/tests/test_syrk \
               $(ARM64_BUILD)/tests/test_cpu_cache $(ARM64_BUILD)/tests/test_pca
GENERIC_BUILD ?= build-avx512-generic
GENERIC_TESTS := $(GENERIC_BUILD)/tests/test_kernels $(GENERIC_BUILD)/tests/test_reference \
                 $(GENERIC_BUILD)/tests/test_syrk

.PHONY: all deps deps-bench deps-arm64 deps-render run test asan clang arm64 avx512-generic bench \
        fuzz fuzzers clean
all: $(PROGRAMS) $(UNIT_BIN) $(TOOL_BIN) $(BENCH_BIN) $(FUZZ_REPLAY)

deps:
	@sh scripts/deps.sh
deps-bench:
	@SHARED=$(SHARED) sh scripts/deps.sh bench
# After deps, never beside it under -j: two apt-get at once fight over dpkg's lock.
deps-arm64: deps
	@sh scripts/deps.sh arm64
deps-render: deps-arm64
	@sh scripts/deps.sh render

# Text the programs carry is embedded at build time, each file as one C string: Lua scripts
# (common/script.h) and the Redis settings (deploy/redis.conf). DIR/NAME.EXT becomes
# $(BUILD)/gen/DIR/NAME.EXT.h, holding NAME_EXT[].
EMBED_SRC := $(wildcard */*.lua) deploy/redis.conf
EMBED_H   := $(EMBED_SRC:%=$(BUILD)/gen/%.h)
.SECONDARY: $(EMBED_H)
define embed_rule
$(BUILD)/gen/%.$(1).h: %.$(1)
	@mkdir -p $$(dir $$@)
	@{ echo "/* $$< as a C string, made by the Makefile: edit $$< instead */"; \
	   echo "static const char $$(notdir $$*)_$(1)[] ="; \
	   sed 's/\\/\\\\/g; s/"/\\"/g; s/^/    "/; s/$$$$/\\n"/' $$<; echo "    ;"; } >$$@
endef
$(foreach ext,lua conf,$(eval $(call embed_rule,$(ext))))

$(BUILD)/obj/%.o: %.c | $(EMBED_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

define simd_rule
$(BUILD)/obj/%-$(1).o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) $$(SIMD_EXTRA_CFLAGS) $$(ISA_FLAGS_$(1)) -DSIMD_ISA_$(1) -ffp-contract=fast \
	    -MMD -MP -c $$< -o $$@
endef
$(foreach isa,$(ISAS),$(eval $(call simd_rule,$(isa))))

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/fruitstream: $(BUILD)/obj/cli/main.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/fruitstream-%: $(BUILD)/obj/%/main.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/obj/tests/fuzz/replay_%.o: tests/fuzz/replay.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DFUZZ_NAME='"$*"' -MMD -MP -c $< -o $@
$(BUILD)/tests/test_fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay_%.o \
                           $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/fuzz/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/fruitstream run --weights $(SHARED)/models/mobilenet_v2/model.safetensors $(RUN_ARGS) $(DATA)

# Unit tests run twice: as built, and under AddressSanitizer + UBSan.
asan:
	@$(MAKE) --no-print-directory BUILD=build-asan \
	    EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" all

# The clang build only checks that the code compiles warning-free there too.
clang:
	@if command -v clang >/dev/null; then \
	    $(MAKE) --no-print-directory CC=clang BUILD=build-clang all; \
	else echo "clang not installed: skipping the clang build"; fi

# libFuzzer needs clang; the library is built instrumented for coverage, ASan and UBSan,
# but the kernels (*_simd.c: the image loader's row loops are there) without UBSan: clang
# took 15 minutes and 3.6 GB for the AVX-512 kernels with both, 67 s with ASan alone. The
# asan build of `make test` (gcc) runs them under UBSan.
fuzz:
	@$(MAKE) --no-print-directory CC=clang BUILD=build-fuzz \
	    EXTRA_CFLAGS="-O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
	    SIMD_EXTRA_CFLAGS=-fno-sanitize=undefined \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" fuzzers
fuzzers: $(FUZZERS)

# Without the cross compiler or one of the ARM64 libraries this writes why (naming the
# missing library) into $(ARM64_BUILD)/skip, and tests/run.sh reports the ARM64 tests as
# skipped.
arm64:
	@rm -f $(ARM64_BUILD)/skip
	@why=""; \
	if ! command -v $(ARM64_CC) >/dev/null; then \
	    why="$(ARM64_CC) not installed (gcc-aarch64-linux-gnu; scripts/deps.sh arm64)"; \
	else for lib in $(CORE_LIBS); do \
	    name=$${lib%%:*}; \
	    if [ "$$($(ARM64_CC) -print-file-name=lib$$name.so)" = lib$$name.so ]; then \
	        why="$${why:+$$why; }no ARM64 lib$$name for $(ARM64_CC) ($${lib#*:}:arm64; scripts/deps.sh arm64)"; \
	    fi; \
	done; fi; \
	if [ -n "$$why" ]; then \
	    echo "arm64: $$why: skipping the ARM64 build"; \
	    mkdir -p $(ARM64_BUILD) && echo "$$why" > $(ARM64_BUILD)/skip; \
	else \
	    $(MAKE) --no-print-directory CC=$(ARM64_CC) BUILD=$(ARM64_BUILD) PKGS= \
	        LIB_SRC="$(CORE_SRC)" SIMD_SRC="$(CORE_SIMD_SRC)" \
	        LDLIBS="$(CORE_LDLIBS)" $(ARM64_TESTS); \
	fi

# -Wno-psabi: GCC notes that 64-byte vectors are passed differently without AVX-512; these
# objects call only each other.
avx512-generic:
	@if [ "$(ARCH)" = x86_64 ]; then \
	    $(MAKE) --no-print-directory BUILD=$(GENERIC_BUILD) PKGS= \
	        LIB_SRC="$(CORE_SRC)" SIMD_SRC="$(CORE_SIMD_SRC)" LDLIBS="$(CORE_LDLIBS)" \
	        EXTRA_CFLAGS="-DFS_AVX512_GENERIC" ISA_FLAGS_avx512="-mavx2 -mfma -Wno-psabi" \
	        $(GENERIC_TESTS); \
	fi

test: deps-render
	@$(MAKE) --no-print-directory WERROR=-Werror all asan clang arm64 avx512-generic
	@SHARED=$(SHARED) sh tests/run.sh $(BUILD) build-asan $(ARM64_BUILD) $(GENERIC_BUILD)

bench: deps deps-bench
	@$(MAKE) --no-print-directory all
	@SHARED=$(SHARED) sh bench/run.sh $(BUILD)

clean:
	rm -rf build build-asan build-clang build-fuzz $(ARM64_BUILD) $(GENERIC_BUILD)

# Dependency files come from compiling; nothing should try to make them (make's built-in
# `%: %.o` would, through the replay_%.o rule).
%.d: ;

# ---- Build flags recorded, and install -------------------------------------------------
#
# $(BUILD)/flags records the compiler, the flags and WEIGHTS every object was built with;
# when they change (`make` then `make test`, which adds -Werror; another CFLAGS; WEIGHTS)
# every object is rebuilt, so a warning is never hidden by an object built without -Werror.
#
#   make install [PREFIX=/usr/local] [DESTDIR=] [WEIGHTS=/usr/share/fruitstream/model.safetensors]
#   make install-systemd [PREFIX=/usr/local] [DESTDIR=] [UNITDIR=/etc/systemd/system]
#
# install copies the four programs to $(DESTDIR)$(BINDIR). WEIGHTS, when set (at build or
# install time), is compiled in as the default weights path, the one used without --weights
# or FRUITSTREAM_WEIGHTS; the weights themselves are never installed. install-systemd
# copies deploy/systemd's units, their ExecStart pointed at $(BINDIR), and an example
# environment file to $(DESTDIR)$(SYSCONFDIR)/fruitstream/fruitstream.env unless one exists.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= /etc/systemd/system
WEIGHTS    ?=
INSTALL    ?= install

FLAGS_LINE := $(CC) $(CPPFLAGS) $(CFLAGS) WEIGHTS=$(WEIGHTS)
$(BUILD)/flags: FORCE
	@mkdir -p $(@D)
	@[ "$$(cat $@ 2>/dev/null)" = '$(FLAGS_LINE)' ] || echo '$(FLAGS_LINE)' >$@
ALL_OBJ := $(LIB_OBJ) $(BUILD)/obj/cli/main.o $(BUILD)/obj/ventilator/main.o \
           $(BUILD)/obj/worker/main.o $(BUILD)/obj/sink/main.o \
           $(UNIT_SRC:%.c=$(BUILD)/obj/%.o) $(TOOL_SRC:%.c=$(BUILD)/obj/%.o) \
           $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)
$(ALL_OBJ): $(BUILD)/flags
ifneq ($(WEIGHTS),)
$(BUILD)/obj/common/config.o: CPPFLAGS += -DCONFIG_WEIGHTS_DEFAULT='"$(WEIGHTS)"'
endif

.PHONY: install install-systemd uninstall FORCE
install: $(PROGRAMS)
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/

install-systemd:
	$(INSTALL) -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/fruitstream
	for u in deploy/systemd/*.service; do \
	    sed 's|/usr/local/bin/|$(BINDIR)/|g; s|/etc/fruitstream/|$(SYSCONFDIR)/fruitstream/|g' \
	        "$$u" >$(DESTDIR)$(UNITDIR)/$$(basename "$$u") && \
	    chmod 644 $(DESTDIR)$(UNITDIR)/$$(basename "$$u") || exit 1; \
	done
	[ -e $(DESTDIR)$(SYSCONFDIR)/fruitstream/fruitstream.env ] || \
	    $(INSTALL) -m 640 deploy/systemd/fruitstream.env $(DESTDIR)$(SYSCONFDIR)/fruitstream/
	@# the units' user; into a DESTDIR (a package being built) it is the package's to make
	@[ -n "$(DESTDIR)" ] || id fruitstream >/dev/null 2>&1 || \
	    useradd --system --no-create-home --shell /usr/sbin/nologin fruitstream

uninstall:
	rm -f $(PROGRAMS:$(BUILD)/%=$(DESTDIR)$(BINDIR)/%)

FORCE:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
