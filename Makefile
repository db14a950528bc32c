# schedlab: one Makefile, all output under build/.  `make V=1` shows commands.
#
#   make deps    install missing distribution packages (the only network step)
#   make build   workload, loadgen, schedtrace, C tests, benchmarks (default)
#   make run     deps + build + ./schedlab run configs/default.toml + report
#   make test    deps + build + C unit tests (under timeout), the runtimes' again
#                under TSan and ASan/UBSan (make sanitize-test) + pytest
# Targets that start with deps build in a second make: whether the tracer can
# be built is decided when a make reads this file, and deps may have just
# installed clang, bpftool and libbpf-dev.
#   make bench   the speed benchmarks, measured side by side in one run; their table
#   make bench-tracer  schedtrace's overhead against perf and bpftrace
#   make check   test + clang-format + flake8, PASSED/FAILED/SKIPPED per check
#   make clean

BUILD   ?= build
CC      ?= cc
CLANG   ?= clang
BPFTOOL ?= bpftool
PYTHON  ?= /usr/bin/python3
DEPS    ?= ./scripts/deps
LIBBPF_H ?= /usr/include/bpf/libbpf.h
LIBDWFL_H ?= /usr/include/elfutils/libdwfl.h
ARCH    := $(shell uname -m)
# make run: CONFIG the experiment config; SEED=N the run order's seed instead
# of the config's; OUT=DIR the run directory (default results/<UTC time>,
# linked as results/latest); RESUME=DIR finishes the interrupted run in DIR
# with its own config and seed instead. fleet/playbook.yml passes all four.
CONFIG  ?= configs/default.toml
SEED    ?=
OUT     ?=
RESUME  ?=

CFLAGS  ?= -O2 -g
override CFLAGS += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror=implicit-function-declaration \
	-Werror=incompatible-pointer-types -Werror=return-type -MMD -MP \
	-Iuserspace -I$(BUILD)
# Frame pointers everywhere: the tracer's stacks probe unwinds user stacks by
# them (the kernel's only user unwinder), coroutine stacks included.
override CFLAGS += -fno-omit-frame-pointer
LDLIBS  := -luring -lpthread -lm
# json-c reads loadgen's report in the echo task: only what links the tasks
TASK_LIBS := -ljson-c
ifeq ($(SANITIZE),1)
override CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=address,undefined
endif
# ThreadSanitizer (the mn model's workers): coro/tsan.h tells it about every
# context switch. Use its own BUILD directory: objects differ.
#   make SANITIZE=thread BUILD=build/tsan build/tsan/tests/test_mn
ifeq ($(SANITIZE),thread)
override CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=thread
endif

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DEFAULT_GOAL := build
.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: deps build run test ctest sanitize-test pytest bench bench-tracer check clean

# ---- userspace ------------------------------------------------------------
# Everything the workload is made of but main.c; tests and benches link it.
CORE_SRCS := $(wildcard userspace/lib/*.c) \
	$(wildcard userspace/coro/*.c) \
	$(wildcard userspace/coro/switch_$(ARCH).S) \
	$(wildcard userspace/models/*.c) \
	$(wildcard userspace/models/*/*.c) \
	$(wildcard userspace/tasks/*.c) \
	$(filter-out userspace/main.c,$(wildcard userspace/*.c)) \
	#
CORE_OBJS := $(patsubst %,$(BUILD)/%.o,$(basename $(CORE_SRCS)))
LOADGEN_SRCS := $(wildcard userspace/loadgen/*.c)
TEST_SRCS := $(wildcard userspace/tests/test_*.c)
TESTS     := $(patsubst userspace/tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
BENCH_SRCS := $(wildcard userspace/bench/*.c)
BENCHES   := $(patsubst userspace/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

USERSPACE := $(BUILD)/workload $(TESTS) $(BENCHES)
ifneq ($(LOADGEN_SRCS),)
USERSPACE += $(BUILD)/loadgen
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.S
	@mkdir -p $(@D)
	$(call msg,AS,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/workload: $(BUILD)/userspace/main.o $(CORE_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(TASK_LIBS) $(LDLIBS) -o $@

$(BUILD)/loadgen: $(patsubst %.c,$(BUILD)/%.o,$(LOADGEN_SRCS)) \
		$(filter $(BUILD)/userspace/lib/%,$(CORE_OBJS))
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/userspace/tests/%.o $(CORE_OBJS)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(TASK_LIBS) $(LDLIBS) -lcmocka -o $@

$(BUILD)/bench/%: $(BUILD)/userspace/bench/%.o $(CORE_OBJS)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(TASK_LIBS) $(LDLIBS) -o $@

# ---- BPF: %.bpf.c -> build/bpf/%.bpf.o -> build/bpf/%.skel.h -> schedtrace --
PROBES := \
	$(patsubst bpf/%.bpf.c,%,$(wildcard bpf/*.bpf.c)) \
	#
TRACER_SRCS := $(filter-out %.bpf.c,$(wildcard bpf/*.c))
# Small programs the tracer's tests run under it (known switch, io_uring and
# USDT counts); plain C, no cmocka: pytest drives them.
TRACER_TESTS := $(patsubst bpf/tests/%.c,$(BUILD)/bpf/tests/%,$(wildcard bpf/tests/*.c))
VMLINUX_H ?= $(BUILD)/vmlinux.h
HOST_TRIPLET := $(shell $(CC) -dumpmachine)
BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall \
	-I$(BUILD) -I$(dir $(VMLINUX_H)) -Ibpf -I/usr/include/$(HOST_TRIPLET)
HAVE_BPF_TOOLS := $(shell command -v $(CLANG) >/dev/null && command -v $(BPFTOOL) >/dev/null \
	&& test -r $(LIBBPF_H) && test -r $(LIBDWFL_H) && echo yes)

ifneq ($(TRACER_SRCS),)
ifeq ($(HAVE_BPF_TOOLS),yes)
TRACER := $(BUILD)/schedtrace $(TRACER_TESTS) $(BUILD)/bench/schedtrace-floor
else
TRACER_SKIP := schedtrace: needs clang, bpftool, libbpf-dev and libdw-dev (run `make deps`)
endif
endif

$(BUILD)/vmlinux.h:
	@mkdir -p $(@D)
	$(call msg,BTF,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX_H) $(wildcard bpf/*.h)
	@mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# A static pattern rule: it must win over the generic $(BUILD)/%.o rule,
# which knows nothing of the skeletons these objects include.
SKELETONS := $(patsubst %,$(BUILD)/bpf/%.skel.h,$(PROBES))
TRACER_OBJS := $(patsubst bpf/%.c,$(BUILD)/bpf/%.o,$(TRACER_SRCS))
$(TRACER_OBJS): $(BUILD)/bpf/%.o: bpf/%.c $(SKELETONS)
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Ibpf -I$(BUILD)/bpf -c $< -o $@

$(BUILD)/schedtrace: $(TRACER_OBJS) \
		$(filter $(BUILD)/userspace/lib/%,$(CORE_OBJS))
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -lbpf -ldw -lelf -lz $(LDLIBS) -o $@

# scripts/bench-tracer's floor: schedtrace with the sched probe's programs
# compiled empty (-DSCHED_FLOOR), attached to the same tracepoints: what
# attaching anything there costs, built from the same sources.
FLOOR_DIR := $(BUILD)/bench/floor
$(FLOOR_DIR)/sched.bpf.o: bpf/sched.bpf.c $(VMLINUX_H) $(wildcard bpf/*.h)
	@mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -DSCHED_FLOOR -c $< -o $@

$(FLOOR_DIR)/sched.skel.h: $(FLOOR_DIR)/sched.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(FLOOR_DIR)/sched.o: bpf/sched.c $(FLOOR_DIR)/sched.skel.h $(SKELETONS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Ibpf -I$(FLOOR_DIR) -I$(BUILD)/bpf -c $< -o $@

$(BUILD)/bench/schedtrace-floor: $(filter-out $(BUILD)/bpf/sched.o,$(TRACER_OBJS)) \
		$(FLOOR_DIR)/sched.o $(filter $(BUILD)/userspace/lib/%,$(CORE_OBJS))
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -lbpf -ldw -lelf -lz $(LDLIBS) -o $@

$(BUILD)/bpf/tests/%: bpf/tests/%.c
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LDLIBS) -o $@

# The Go peer (peers/go/): the distribution's toolchain, standard library
# only, so no module and no network; its caches stay under build/.
GO ?= go
GO_SRCS := $(wildcard peers/go/*.go)
GO_ENV := GOCACHE=$(abspath $(BUILD))/go/cache GOPATH=$(abspath $(BUILD))/go/path \
	GOPROXY=off GOFLAGS="-trimpath -buildvcs=false" CGO_ENABLED=0
ifneq ($(GO_SRCS),)
ifneq ($(shell command -v $(GO)),)
GO_PEER := $(BUILD)/peers/gotasks
else
GO_SKIP := peers/go: needs Go (Debian: golang-go; run `make deps`); its cells are skipped
endif
endif

$(BUILD)/peers/gotasks: $(GO_SRCS)
	@mkdir -p $(@D)
	$(call msg,GO,$@)
	$(Q)$(GO_ENV) $(GO) build -o $@ $(GO_SRCS)

# ---- top-level targets ------------------------------------------------------
build: $(USERSPACE) $(TRACER) $(GO_PEER)
ifneq ($(TRACER_SKIP),)
	@printf '  %-8s %s\n' SKIP "$(TRACER_SKIP)"
endif
ifneq ($(GO_SKIP),)
	@printf '  %-8s %s\n' SKIP "$(GO_SKIP)"
endif

deps:
	$(Q)$(DEPS)
	$(Q)./scripts/deps-js

# After deps, in a make that reads this file again (see the top).
BUILD_AFTER_DEPS = $(Q)$(MAKE) --no-print-directory build

# The report is written even when some cell failed (run exits 1): the failed
# cells are in it, with their reasons. A bad config (exit 2) stops here.
define run_and_report
	$(Q)$(PYTHON) -m harness run $(1); rc=$$?; \
	if [ $$rc -le 1 ]; then $(PYTHON) -m harness report $(2) || rc=1; fi; \
	exit $$rc
endef
RUN_ARGS = $(if $(RESUME),--resume $(RESUME),$(CONFIG) $(if $(OUT),--out $(OUT)) \
	$(if $(SEED),--seed $(SEED)))
RUN_DIR = $(or $(RESUME),$(OUT),results/latest)

run: deps
	$(BUILD_AFTER_DEPS)
	$(call run_and_report,$(RUN_ARGS),$(RUN_DIR))

ctest: build
	$(Q)./scripts/run-ctests $(TESTS)

# The tests of the runtimes again under the sanitizers, each in a build
# directory of its own: ThreadSanitizer for the code that shares memory
# between threads (mn's workers, the watchdog, the shared stacks' copier;
# coro/tsan.h tells it about every switch), AddressSanitizer and UBSan for
# every stack kind's memory.
SANITIZED_TESTS := test_models test_mn test_mn_runq test_deadlock test_coro test_stacks
sanitize-test: deps
	$(Q)$(MAKE) --no-print-directory SANITIZE=thread BUILD=$(BUILD)/tsan \
		$(addprefix $(BUILD)/tsan/tests/,$(SANITIZED_TESTS))
	$(Q)./scripts/run-ctests --sanitizer tsan $(addprefix $(BUILD)/tsan/tests/,$(SANITIZED_TESTS))
	$(Q)$(MAKE) --no-print-directory SANITIZE=1 BUILD=$(BUILD)/asan \
		$(addprefix $(BUILD)/asan/tests/,$(SANITIZED_TESTS) test_uring)
	$(Q)./scripts/run-ctests --sanitizer asan \
		$(addprefix $(BUILD)/asan/tests/,$(SANITIZED_TESTS) test_uring)

pytest: build
	$(Q)$(PYTHON) -m pytest -q harness/tests

test: deps
	$(BUILD_AFTER_DEPS)
	$(Q)$(MAKE) --no-print-directory ctest
	$(Q)$(MAKE) --no-print-directory sanitize-test
	$(Q)$(MAKE) --no-print-directory pytest

bench: deps
	$(BUILD_AFTER_DEPS)
	$(Q)$(BUILD)/bench/switch > $(BUILD)/bench/switch.json
	$(Q)$(PYTHON) -m harness run configs/bench.toml; rc=$$?; \
	if [ $$rc -le 1 ]; then $(PYTHON) -m harness report results/latest >/dev/null && \
		$(PYTHON) -m harness bench-table results/latest $(BUILD)/bench/switch.json || rc=1; fi; \
	exit $$rc

bench-tracer: deps
	$(BUILD_AFTER_DEPS)
	$(Q)./scripts/bench-tracer

check: deps
	$(Q)./scripts/check

clean:
	$(call msg,CLEAN,$(BUILD))
	$(Q)rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
