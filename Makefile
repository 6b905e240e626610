# imref: one non-recursive Makefile for the server, the harness, the tests.
#   make            build imrefd, imrefctl and the unit tests
#   make run        install what is missing, build, start imrefd (RUN_DIR=var)
#   make check      everything CI checks; last line "N passed, N failed"
#   make unit | integration | conformance | asan | valgrind | fuzz | bench | clean

CC      ?= cc
BUILD   ?= build
RUN_DIR ?= var
SAN     ?=

PKGS     := openssl expat libgsasl libidn libidn2 sqlite3 libcares
CPPFLAGS += -D_GNU_SOURCE -Iref -Iconformance $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS   ?= -O2 -g
override CFLAGS += -std=c17 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter $(SAN)
override LDFLAGS += $(SAN)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm

REF_MAINS := ref/imrefd.c ref/imrefctl.c
REF_SRCS  := $(filter-out $(REF_MAINS),$(wildcard ref/*.c))
REF_OBJS  := $(REF_SRCS:%.c=$(BUILD)/%.o)
LIB       := $(BUILD)/libimref.a

CONF_MAIN := conformance/imconform.c
CONF_SRCS := $(filter-out $(CONF_MAIN),$(wildcard conformance/*.c))
CONF_OBJS := $(CONF_SRCS:%.c=$(BUILD)/%.o)
CONF_LIB  := $(BUILD)/libimconform.a

UNIT_SRCS := $(wildcard ref/tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:ref/tests/unit/%.c=$(BUILD)/tests/%)
CONF_UNIT_SRCS := $(wildcard conformance/tests/test_*.c)
CONF_UNIT_BINS := $(CONF_UNIT_SRCS:conformance/tests/%.c=$(BUILD)/tests/%)

# Fuzz targets fuzz/fuzz_NAME.c: a replay binary for every build (make check
# replays the kept inputs under ASan+UBSan), an AFL++ one for `make fuzz`.
FUZZ_NAMES  := $(patsubst fuzz/fuzz_%.c,%,$(filter-out fuzz/fuzz_common.c,$(wildcard fuzz/fuzz_*.c)))
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
FUZZ_BUILD  ?= build-fuzz

BINS := $(BUILD)/imrefd $(BUILD)/imrefctl $(if $(wildcard $(CONF_MAIN)),$(BUILD)/imconform) $(FUZZ_REPLAY)

.PHONY: all run check unit integration conformance asan valgrind fuzz fuzz-all bench soak clean deps
all: $(BINS) $(UNIT_BINS) $(CONF_UNIT_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(REF_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/imrefd: $(BUILD)/ref/imrefd.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/imrefctl: $(BUILD)/ref/imrefctl.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(UNIT_BINS): $(BUILD)/tests/%: $(BUILD)/ref/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(CONF_LIB): $(CONF_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/imconform: $(BUILD)/conformance/imconform.o $(CONF_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(CONF_UNIT_BINS): $(BUILD)/tests/%: $(BUILD)/conformance/tests/%.o $(CONF_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

deps:
	@scripts/install-deps

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/imrefd $(BUILD)/imrefctl
	$(BUILD)/imrefd --init --dir $(RUN_DIR)

unit: $(UNIT_BINS)
	@ci/run-unit $(BUILD)

integration: $(BINS)
	@ci/run-integration $(BUILD)

conformance: $(BINS)
	@ci/run-conformance $(BUILD)

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all
	@ci/run-unit build-asan
	@ci/run-integration build-asan
	@ci/run-conformance build-asan

valgrind: $(BINS)
	@IMREF_VALGRIND=1 ci/run-integration $(BUILD)
	@IMREF_VALGRIND=1 ci/run-conformance $(BUILD)

check:
	@ci/check

# The slow and abusive clients of the integration suite, long form.
soak: $(BINS)
	@IMREF_SOAK=1 ci/run-integration $(BUILD) trickling 'never read' 'file descriptors'

.PRECIOUS: $(BUILD)/fuzz/%.o

# make fuzz TARGET=name [SECONDS=n]: one AFL++ campaign (scripts/fuzz-run).
fuzz:
	@test -n "$(TARGET)" || { echo "usage: make fuzz TARGET=name [SECONDS=n]; targets: $(FUZZ_NAMES)" >&2; exit 2; }
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=afl-cc $(FUZZ_BUILD)/fuzz/afl_$(TARGET)
	@scripts/fuzz-run $(FUZZ_BUILD) $(TARGET) $(or $(SECONDS),600)

# make fuzz-all [SECONDS=n] [JOBS=j]: every campaign, j at a time (scripts/fuzz-all).
fuzz-all:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=afl-cc $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz/afl_%)
	@scripts/fuzz-all $(FUZZ_BUILD) $(or $(SECONDS),600) $(or $(JOBS),2)

$(BUILD)/fuzz/replay_%: $(BUILD)/fuzz/fuzz_%.o $(BUILD)/fuzz/driver_replay.o $(BUILD)/fuzz/fuzz_common.o $(CONF_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/afl_%: $(BUILD)/fuzz/fuzz_%.o $(BUILD)/fuzz/driver_afl.o $(BUILD)/fuzz/fuzz_common.o $(CONF_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# make bench: scripts/bench (conformance/bench/README.md) runs imrefd,
# Prosody and ejabberd one at a time under `imconform bench` and writes
# var/bench/<date>/report.md; it also runs scripts/bench-roster (the cost of
# the automatic contact list, ROST) and scripts/bench-archive (archiving on
# and off, ARCH). BENCH_ARGS passes options (--quick, --only M4,M5, ...).
# Prosody and ejabberd come from `scripts/install-deps --bench`.
bench: $(BUILD)/roster_bench $(BUILD)/message_bench $(BUILD)/imrefd $(BUILD)/imrefctl \
       $(BUILD)/imconform $(BUILD)/relay $(BUILD)/malloccount.so
	@scripts/install-deps --bench
	@scripts/bench --build $(BUILD) $(BENCH_ARGS)

$(BUILD)/relay: $(BUILD)/conformance/bench/relay.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# no $(SAN): an interposed malloc must not be built with a sanitizer
$(BUILD)/malloccount.so: conformance/bench/malloccount.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c17 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -fPIC -shared -o $@ $<

$(BUILD)/roster_bench: $(BUILD)/bench/roster_bench.o $(BUILD)/bench/benchlib.o $(CONF_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/message_bench: $(BUILD)/bench/message_bench.o $(BUILD)/bench/benchlib.o $(CONF_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

clean:
	rm -rf build build-asan $(FUZZ_BUILD)

-include $(REF_OBJS:.o=.d) $(BUILD)/ref/imrefd.d $(BUILD)/ref/imrefctl.d $(UNIT_SRCS:%.c=$(BUILD)/%.d)
-include $(CONF_OBJS:.o=.d) $(BUILD)/conformance/imconform.d $(CONF_UNIT_SRCS:%.c=$(BUILD)/%.d)
-include $(BUILD)/bench/roster_bench.d $(BUILD)/bench/message_bench.d $(BUILD)/bench/benchlib.d $(BUILD)/conformance/bench/relay.d
-include $(wildcard $(BUILD)/fuzz/*.d)
