# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# flowagent build. Everything generated goes under build/; `make help` lists the targets.
# BPF: bpf/NAME.bpf.c -> build/NAME.bpf.o -> build/NAME.skel.h; each user object that loads a
# program depends on its skeleton. Userspace objects also build with ASan+UBSan under
# build/asan/ for the test suite.

.DELETE_ON_ERROR:
# Keep intermediate objects so a second `make test` relinks nothing.
.SECONDARY:
.DEFAULT_GOAL := all

BUILD	:= build
ARCH	:= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CLANG	?= clang
BPFTOOL	?= bpftool
CC	?= gcc
PYTHON	?= python3

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -Ivmlinux/$(ARCH) -Ibpf -I$(BUILD)
CFLAGS	 ?= -O2 -g
CFLAGS	 += -Wall -Wextra -Werror -std=gnu11
CPPFLAGS += -Iagent -Ibpf -Icollector -I$(BUILD) -MMD -MP
LDLIBS	 := -lxdp -lbpf -lelf -lrdkafka -lisal -lmicrohttpd -lz -lm -lpthread
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

ifeq ($(V),1)
Q	=
msg	=
else
Q	= @
msg	= @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_PROGS	:= flow
AGENT_SRCS	:= $(wildcard agent/*.c)
AGENT_LIB_SRCS	:= $(filter-out agent/main.c,$(AGENT_SRCS))
UNIT_TESTS	:= $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
TOOLS		:= tracegen pcap_loop

AGENT_OBJS	:= $(patsubst %.c,$(BUILD)/obj/%.o,$(AGENT_SRCS))
AGENT_LIB_OBJS	:= $(patsubst %.c,$(BUILD)/obj/%.o,$(AGENT_LIB_SRCS))
ASAN_LIB_OBJS	:= $(patsubst %.c,$(BUILD)/asan/%.o,$(AGENT_LIB_SRCS))
SKELETONS	:= $(patsubst %,$(BUILD)/%.skel.h,$(BPF_PROGS))

# The collector: its own sources plus the agent's wire format and metrics endpoint. libchdb is
# loaded with dlopen at run time, only for the embedded store.
COLLECTOR_SRCS	:= $(wildcard collector/*.c)
COLLECTOR_LIB_SRCS := $(filter-out collector/main.c,$(COLLECTOR_SRCS)) agent/wire.c agent/metrics.c \
		   agent/flow_output.c agent/log.c agent/kafka_export.c agent/spool.c agent/args.c
COLLECTOR_LIBS	:= -lrdkafka -lcurl -lmicrohttpd -lisal -lz -ldl -lpthread -lm
COLLECTOR_OBJS	:= $(patsubst %.c,$(BUILD)/obj/%.o,$(COLLECTOR_SRCS) $(filter agent/%,$(COLLECTOR_LIB_SRCS)))

.PHONY: all
all: $(BUILD)/flowagent $(patsubst %,$(BUILD)/%.bpf.o,$(BPF_PROGS)) $(BUILD)/tracegen \
	$(BUILD)/flowcollector

# --- BPF ------------------------------------------------------------------------------------
$(BUILD)/%.bpf.o: bpf/%.bpf.c | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# An empty XDP program: the baseline for the per-packet cost in `make bench`.
$(BUILD)/xdp_pass.bpf.o: tests/bench/xdp_pass.bpf.c | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

.PHONY: vmlinux
vmlinux:
	$(call msg,GEN,vmlinux/$(ARCH)/vmlinux.h)
	$(Q)mkdir -p vmlinux/$(ARCH)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h

# --- userspace ------------------------------------------------------------------------------
$(BUILD)/obj/agent/engine_kernel.o $(BUILD)/asan/agent/engine_kernel.o: $(SKELETONS)
$(BUILD)/obj/agent/live.o $(BUILD)/asan/agent/live.o: $(SKELETONS)

$(BUILD)/obj/%.o: %.c | $(BUILD)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/asan/%.o: %.c | $(BUILD)
	$(call msg,CC-ASAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(BUILD)/flowagent: $(AGENT_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/flowcollector: $(sort $(COLLECTOR_OBJS))
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(COLLECTOR_LIBS) -o $@

$(BUILD)/asan/flowcollector: $(sort $(patsubst %.c,$(BUILD)/asan/%.o,$(COLLECTOR_SRCS) $(filter agent/%,$(COLLECTOR_LIB_SRCS))))
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $^ $(COLLECTOR_LIBS) -o $@

$(BUILD)/asan/flowagent: $(patsubst %.c,$(BUILD)/asan/%.o,$(AGENT_SRCS))
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $^ $(LDLIBS) -o $@

# --- tests and tools ------------------------------------------------------------------------
# Unit tests link the agent's and the collector's objects (not the mains).
COLLECTOR_TEST_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out collector/main.c,$(COLLECTOR_SRCS)))
ASAN_COLLECTOR_OBJS := $(patsubst %.c,$(BUILD)/asan/%.o,$(filter-out collector/main.c,$(COLLECTOR_SRCS)))
$(BUILD)/test_%: $(BUILD)/obj/tests/unit/test_%.o $(AGENT_LIB_OBJS) $(COLLECTOR_TEST_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) $(COLLECTOR_LIBS) -lcmocka -o $@

$(BUILD)/asan/test_%: $(BUILD)/asan/tests/unit/test_%.o $(ASAN_LIB_OBJS) $(ASAN_COLLECTOR_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $^ $(LDLIBS) $(COLLECTOR_LIBS) -lcmocka -o $@

$(BUILD)/obj/tests/bpf/test_flow_bpf.o: $(SKELETONS)
$(BUILD)/test_flow_bpf: $(BUILD)/obj/tests/bpf/test_flow_bpf.o $(AGENT_LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# libFuzzer over the reader and the parser; clang, with ASan and UBSan
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1
$(BUILD)/fuzz_replay: tests/fuzz/fuzz_replay.c agent/pcap_reader.c | $(BUILD)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_FLAGS) -Wall -Werror -Iagent -Ibpf $^ -lisal -o $@

$(BUILD)/fuzz_wire: tests/fuzz/fuzz_wire.c agent/wire.c | $(BUILD)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_FLAGS) -Wall -Werror -Iagent -Ibpf $^ -lisal -o $@

$(BUILD)/tracegen: $(BUILD)/obj/tests/tracegen/tracegen.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lz -lm -o $@

# The tests' Kafka consumer (decodes with the agent's wire decoder) and the bench's producer.
$(BUILD)/flowconsume: $(BUILD)/obj/tests/kafka/flowconsume.o $(BUILD)/obj/agent/wire.o \
		      $(BUILD)/obj/agent/flow_output.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lrdkafka -lisal -o $@

$(BUILD)/flowproduce: $(BUILD)/obj/tests/kafka/flowproduce.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lrdkafka -o $@

$(BUILD)/pcap_loop: $(BUILD)/obj/tests/bench/pcap_loop.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lpcap -o $@

TEST_BINS := $(patsubst %,$(BUILD)/%,$(UNIT_TESTS)) $(patsubst %,$(BUILD)/asan/%,$(UNIT_TESTS)) \
	     $(BUILD)/test_flow_bpf $(BUILD)/asan/flowagent $(BUILD)/fuzz_replay $(BUILD)/fuzz_wire \
	     $(BUILD)/xdp_pass.bpf.o $(BUILD)/flowconsume $(BUILD)/flowproduce

.PHONY: test
test: deps all $(TEST_BINS)
	$(Q)tests/run-tests.sh

.PHONY: demo
demo: deps all
	$(Q)tests/demo.sh

.PHONY: bench
bench: deps all $(BUILD)/pcap_loop $(BUILD)/xdp_pass.bpf.o $(BUILD)/flowconsume $(BUILD)/flowproduce
	$(Q)$(PYTHON) tests/bench/bench.py
	$(Q)$(PYTHON) tests/bench/live.py
	$(Q)$(PYTHON) tests/bench/kafka.py
	$(Q)$(PYTHON) tests/bench/store.py

# --- dependencies ---------------------------------------------------------------------------
# Debian packages for building, testing and `make bench`'s reference tools. Quiet and quick
# when everything is installed.
DEB_PACKAGES := make gcc clang llvm libbpf-dev libxdp-dev bpftool libelf-dev zlib1g-dev \
		libcmocka-dev libpcap-dev libisal-dev pkg-config iproute2 tshark softflowd nfdump xdp-tools \
		libclang-rt-14-dev libmicrohttpd-dev librdkafka-dev libcurl4-openssl-dev python3 iputils-ping \
		tcpreplay netsniff-ng openjdk-17-jdk-headless maven chromium

.PHONY: deps
deps:
	$(Q)missing=; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${db:Status-Abbrev}' $$p 2>/dev/null | grep -q '^ii' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:$$missing"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		export DEBIAN_FRONTEND=noninteractive; \
		$$SUDO apt-get update -qq >/dev/null && \
		$$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
			{ echo "make deps: apt-get install$$missing failed" >&2; exit 1; }; \
	fi
	$(Q)$(PYTHON) -c 'import pytest' 2>/dev/null || { \
		echo "  DEPS     installing: pytest (PyPI)"; \
		$(PYTHON) -m pip install -q pytest || { echo "make deps: pip install pytest failed" >&2; exit 1; }; }
	$(Q)$(MAKE) -s $(KAFKA_STAMP) $(CHDB_LIB) $(GEO_STAMP)

# The embedded ClickHouse: libchdb from the npm registry, pinned and checked.
CHDB_VERSION := 26.7.3-stable.1
CHDB_SHA256  := 36ad4e999882821ef13cf2d0f52c93f48e6ee1b4498b35a201c23ce4b8d15bf5
CHDB_LIB     := $(BUILD)/chdb/libchdb.so
$(CHDB_LIB):
	$(call msg,DEPS,libchdb $(CHDB_VERSION) (npm @chdb/lib-linux-x64-gnu) -> $@)
	$(Q)command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends npm >/dev/null || \
		{ echo "make deps: npm is needed to fetch libchdb" >&2; exit 1; }
	$(Q)rm -rf $(BUILD)/chdb/tmp && mkdir -p $(BUILD)/chdb/tmp
	$(Q)cd $(BUILD)/chdb/tmp && npm pack --silent @chdb/lib-linux-x64-gnu@$(CHDB_VERSION) >/dev/null && \
		tar xzf chdb-lib-linux-x64-gnu-$(CHDB_VERSION).tgz package/libchdb.so || \
		{ echo "make deps: npm pack @chdb/lib-linux-x64-gnu@$(CHDB_VERSION) failed" >&2; exit 1; }
	$(Q)echo "$(CHDB_SHA256)  $(BUILD)/chdb/tmp/package/libchdb.so" | sha256sum -c --quiet - || \
		{ echo "make deps: libchdb.so does not have the pinned checksum" >&2; exit 1; }
	$(Q)mv $(BUILD)/chdb/tmp/package/libchdb.so $@ && rm -rf $(BUILD)/chdb/tmp

# Geolocation data: Debian's tor-geoipdb (IPFire location database, CC BY-SA 4.0), unpacked
# without installing tor.
GEO_DIR   := $(BUILD)/geo
GEO_STAMP := $(GEO_DIR)/fetched.stamp
$(GEO_STAMP):
	$(call msg,DEPS,tor-geoipdb (Debian) -> $(GEO_DIR))
	$(Q)rm -rf $(GEO_DIR) && mkdir -p $(GEO_DIR)/deb
	$(Q)cd $(GEO_DIR)/deb && apt-get download tor-geoipdb >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null && apt-get download tor-geoipdb >/dev/null; } || \
		{ echo "make deps: apt-get download tor-geoipdb failed" >&2; exit 1; }
	$(Q)dpkg-deb -x $(GEO_DIR)/deb/tor-geoipdb_*.deb $(GEO_DIR)/deb/root
	$(Q)cp $(GEO_DIR)/deb/root/usr/share/tor/geoip $(GEO_DIR)/deb/root/usr/share/tor/geoip6 $(GEO_DIR)/
	$(Q)rm -rf $(GEO_DIR)/deb && touch $@

# A real Kafka broker for the tests and the bench: the jars tests/kafka/pom.xml pins, from Maven
# Central. The stamp makes a second `make deps` instant.
KAFKA_LIBS  := $(BUILD)/kafka/libs
KAFKA_STAMP := $(BUILD)/kafka/fetched.stamp
$(KAFKA_STAMP): tests/kafka/pom.xml
	$(call msg,DEPS,Kafka broker jars (Maven Central) -> $(KAFKA_LIBS))
	$(Q)rm -rf $(KAFKA_LIBS) && mkdir -p $(KAFKA_LIBS)
	$(Q)mvn -q -B -f tests/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory=$(abspath $(KAFKA_LIBS)) >$(BUILD)/kafka/mvn.log 2>&1 || \
		{ tail -20 $(BUILD)/kafka/mvn.log >&2; \
		  echo "make deps: fetching the Kafka jars with mvn failed; see $(BUILD)/kafka/mvn.log" >&2; \
		  exit 1; }
	$(Q)touch $@

# --- housekeeping ---------------------------------------------------------------------------
$(BUILD):
	$(Q)mkdir -p $@

.PHONY: clean
clean:
	$(call msg,CLEAN,$(BUILD))
	$(Q)rm -rf $(BUILD)

.PHONY: help
help:
	@echo 'Targets:'
	@echo '  all (default)  build/flowagent, the BPF objects and skeletons, build/tracegen'
	@echo '  deps           install missing system packages (Debian 12) and pytest'
	@echo '  test           run every test (unit, ASan+UBSan, BPF, integration)'
	@echo '  demo           generate a MAWI-like trace, replay it, print the top flows'
	@echo '  bench          side-by-side performance against reference tools -> build/bench/'
	@echo '  vmlinux        regenerate vmlinux/$(ARCH)/vmlinux.h from the running kernel'
	@echo '  clean          remove build/'
	@echo 'V=1 shows full commands.'

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
