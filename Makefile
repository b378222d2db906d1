# fruitstream build.
#
#   make            build the programs into build/
#   make run        featurize the Fruits-360 Test split end to end (starts its own Redis)
#   make test       unit tests (also under ASan/UBSan) and integration tests
#   make bench      speed figures (featurizer vs PyTorch and sgemm peak, sink, stream latency)
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

PKGS    := libczmq libzmq libturbojpeg msgpack hiredis openblas lapacke
CPPFLAGS += -Icommon -Iworker -Isink -Iventilator -Icli -D_GNU_SOURCE \
            $(shell pkg-config --cflags-only-I $(PKGS) 2>/dev/null | sed 's/-I/-isystem /g')
# User flags first, then the project's: `make CFLAGS=-O3` keeps -std=c11 -Wall ...
CFLAGS  ?= -O2 -g
WERROR  ?=
override CFLAGS += -std=c11 -Wall -Wextra $(WERROR) -fno-strict-aliasing $(EXTRA_CFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null || \
             echo -lczmq -lzmq -lturbojpeg -lmsgpackc -lhiredis -lopenblas -llapacke) -lm -lpthread
LDFLAGS += $(EXTRA_LDFLAGS)

# Every role's main lives in <role>/main.c; all other sources form one library.
LIB_SRC   := $(filter-out %/main.c,$(wildcard common/*.c worker/*.c sink/*.c ventilator/*.c cli/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
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
	@$(MAKE) --no-print-directory WERROR=-Werror all asan clang
	@SHARED=$(SHARED) sh tests/run.sh $(BUILD) build-asan

bench: deps deps-bench
	@$(MAKE) --no-print-directory all
	@SHARED=$(SHARED) sh bench/run.sh $(BUILD)

clean:
	rm -rf build build-asan build-clang

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

uninstall:
	rm -f $(PROGRAMS:$(BUILD)/%=$(DESTDIR)$(BINDIR)/%)

FORCE:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
