# fruitstream build.
#
#   make            build the programs into build/
#   make run        featurize the Fruits-360 Test split end to end (starts its own Redis)
#   make test       unit tests (also under ASan/UBSan) and integration tests
#   make bench      speed figures (featurizer vs PyTorch and sgemm peak, sink, stream latency)
#
# `run`, `test` and `bench` first install missing Debian packages (scripts/deps.sh).
# CC=clang works as well as gcc; warnings are errors with both.

CC      ?= cc
BUILD   ?= build
SHARED  ?= ../shared
DATA    ?= $(SHARED)/data/fruits-360/Test
RUN_ARGS ?=

PKGS    := libczmq libzmq libturbojpeg msgpack hiredis openblas lapacke libmicrohttpd
CPPFLAGS += -Icommon -Iworker -Isink -Iventilator -Icli -D_GNU_SOURCE \
            $(shell pkg-config --cflags-only-I $(PKGS) 2>/dev/null | sed 's/-I/-isystem /g')
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -fno-strict-aliasing $(EXTRA_CFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null || \
             echo -lczmq -lzmq -lturbojpeg -lmsgpackc -lhiredis -lopenblas -llapacke -lmicrohttpd) -lm -lpthread
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
SIMD_SRC  := $(wildcard worker/*_simd.c sink/*_simd.c)
SIMD_OBJ  := $(foreach isa,$(ISAS),$(SIMD_SRC:%.c=$(BUILD)/obj/%-$(isa).o))

# Every role's main lives in <role>/main.c; all other sources form one library.
LIB_SRC   := $(filter-out %/main.c %_simd.c,$(wildcard common/*.c worker/*.c sink/*.c ventilator/*.c cli/*.c))
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

.PHONY: all deps deps-bench run test asan clang bench clean
all: $(PROGRAMS) $(UNIT_BIN) $(TOOL_BIN) $(BENCH_BIN)

deps:
	@sh scripts/deps.sh
deps-bench:
	@sh scripts/deps.sh bench

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

define simd_rule
$(BUILD)/obj/%-$(1).o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) $$(ISA_FLAGS_$(1)) -DSIMD_ISA_$(1) -ffp-contract=fast -MMD -MP -c $$< -o $$@
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

test: deps
	@$(MAKE) --no-print-directory all asan clang
	@SHARED=$(SHARED) sh tests/run.sh $(BUILD) build-asan

bench: deps deps-bench
	@$(MAKE) --no-print-directory all
	@SHARED=$(SHARED) sh bench/run.sh $(BUILD)

clean:
	rm -rf build build-asan build-clang

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
