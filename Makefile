# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# flowagent build. Everything generated goes under build/; `make help` lists the targets.
# BPF: bpf/NAME.bpf.c -> build/NAME.bpf.o -> build/NAME.skel.h; each user object that loads a
# program depends on its skeleton. Userspace objects also build with ASan+UBSan under
# build/asan/ for the test suite.
#
# Dependencies point one way: agent/ and collector/ use lib/ and the data contract bpf/flow.h,
# never each other. Each folder compiles with its own include path, so an include across that
# line fails to build, and each program and unit test links only the objects it needs.

.DELETE_ON_ERROR:
# Keep intermediate objects so a second `make test` relinks nothing.
.SECONDARY:
.SECONDEXPANSION:
.DEFAULT_GOAL := all

BUILD	:= build
ARCH	:= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CLANG	?= clang
BPFTOOL	?= bpftool
CC	?= gcc
PYTHON	?= python3
CLANG_FORMAT ?= clang-format

# CFLAGS is the user's (optimisation, debug info); warnings stay on whatever it says.
CFLAGS	 ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror
STD	 := -std=gnu11
DEPFLAGS := -MMD -MP
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -Ivmlinux/$(ARCH) -Ibpf -I$(BUILD)

ifeq ($(V),1)
Q	=
msg	=
else
Q	= @
msg	= @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# --- sources --------------------------------------------------------------------------------
BPF_PROGS	:= flow
SKELETONS	:= $(patsubst %,$(BUILD)/%.skel.h,$(BPF_PROGS))
LIB_SRCS	:= $(wildcard lib/*.c)
AGENT_SRCS	:= $(wildcard agent/*.c)
COLLECTOR_SRCS	:= $(wildcard collector/*.c)

# Include paths by folder: what a file may include is decided by where it lives.
LIB_INCLUDES	   := -Ilib -Ibpf
AGENT_INCLUDES	   := -Iagent -Ilib -Ibpf -I$(BUILD)
COLLECTOR_INCLUDES := -Icollector -Ilib -Ibpf

# What each program links: its own objects, the lib/ objects it uses, and libraries.
AGENT_LIB_OBJS	   := log parse wire kafka_conf metrics_http prom write_full agent_id
AGENT_LIBS	   := -lbpf -lelf -lrdkafka -lisal -lmicrohttpd -lz -lm -lpthread
COLLECTOR_LIB_OBJS := log parse wire kafka_conf metrics_http prom paths write_full agent_id
# libchdb is loaded with dlopen at run time, only for the embedded store.
COLLECTOR_LIBS	   := -lrdkafka -lcurl -lmicrohttpd -lisal -lz -llz4 -ldl -lpthread -lm

lib_objs = $(patsubst %,$(1)/lib/%.o,$(filter $(patsubst lib/%.c,%,$(LIB_SRCS)),$(2)))
AGENT_OBJS	   = $(patsubst %.c,$(1)/%.o,$(AGENT_SRCS)) $(call lib_objs,$(1),$(AGENT_LIB_OBJS))
COLLECTOR_OBJS	   = $(patsubst %.c,$(1)/%.o,$(COLLECTOR_SRCS)) \
		     $(call lib_objs,$(1),$(COLLECTOR_LIB_OBJS))

.PHONY: all
all: $(BUILD)/flowagent $(patsubst %,$(BUILD)/%.bpf.o,$(BPF_PROGS)) $(BUILD)/tracegen \
	$(BUILD)/flowcollector

# --- BPF ------------------------------------------------------------------------------------
$(BUILD)/%.bpf.o: bpf/%.bpf.c | $(BUILD)/.
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# An empty XDP program: the baseline for the per-packet cost in `make bench`.
$(BUILD)/xdp_pass.bpf.o: tests/bench/xdp_pass.bpf.c | $(BUILD)/.
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

.PHONY: vmlinux
vmlinux:
	$(call msg,GEN,vmlinux/$(ARCH)/vmlinux.h)
	$(Q)mkdir -p vmlinux/$(ARCH)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h

# --- userspace ------------------------------------------------------------------------------
# Objects that load a BPF program depend on its skeleton.
$(BUILD)/obj/agent/engine_kernel.o $(BUILD)/asan/agent/engine_kernel.o: $(SKELETONS)
$(BUILD)/obj/agent/live.o $(BUILD)/asan/agent/live.o: $(SKELETONS)
$(BUILD)/obj/tests/bpf/test_flow_bpf.o: $(SKELETONS)

$(BUILD)/obj/lib/%.o $(BUILD)/asan/lib/%.o: INCLUDES = $(LIB_INCLUDES)
$(BUILD)/obj/agent/%.o $(BUILD)/asan/agent/%.o: INCLUDES = $(AGENT_INCLUDES)
$(BUILD)/obj/collector/%.o $(BUILD)/asan/collector/%.o: INCLUDES = $(COLLECTOR_INCLUDES)
# A unit test sees its module's folder (UNIT_DIR, below) and lib/.
$(BUILD)/obj/tests/unit/%.o $(BUILD)/asan/tests/unit/%.o: \
	INCLUDES = -I$(UNIT_DIR_$(basename $(notdir $@))) -Ilib -Ibpf -I$(BUILD)
$(BUILD)/obj/tests/bpf/%.o: INCLUDES = -Ibpf -I$(BUILD)
$(BUILD)/obj/tests/kafka/%.o: INCLUDES = -Iagent -Ilib -Ibpf

$(BUILD)/obj/%.o: %.c | $$(@D)/.
	$(call msg,CC,$@)
	$(Q)$(CC) $(INCLUDES) $(CPPFLAGS) $(CFLAGS) $(WARNINGS) $(STD) $(DEPFLAGS) -c $< -o $@

$(BUILD)/asan/%.o: %.c | $$(@D)/.
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(INCLUDES) $(CPPFLAGS) $(CFLAGS) $(WARNINGS) $(STD) $(DEPFLAGS) $(SAN_FLAGS) \
		-c $< -o $@

$(BUILD)/flowagent: $(call AGENT_OBJS,$(BUILD)/obj)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(AGENT_LIBS) -o $@

$(BUILD)/asan/flowagent: $(call AGENT_OBJS,$(BUILD)/asan)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $^ $(AGENT_LIBS) -o $@

$(BUILD)/flowcollector: $(call COLLECTOR_OBJS,$(BUILD)/obj)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(COLLECTOR_LIBS) -o $@

$(BUILD)/asan/flowcollector: $(call COLLECTOR_OBJS,$(BUILD)/asan)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $^ $(COLLECTOR_LIBS) -o $@

# --- unit tests -----------------------------------------------------------------------------
# One cmocka test per module: tests/unit/test_NAME.c links the objects UNIT_OBJS_NAME names
# (paths without .o) and the libraries UNIT_LIBS_NAME, and nothing else.
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))

UNIT_DIR_test_wire	    := lib
UNIT_OBJS_test_wire	    := lib/wire
UNIT_LIBS_test_wire	    := -lisal
UNIT_DIR_test_parse	    := lib
UNIT_OBJS_test_parse	    := lib/parse
UNIT_LIBS_test_parse	    := -lm
UNIT_DIR_test_prom	    := lib
UNIT_OBJS_test_prom	    := lib/prom
UNIT_DIR_test_write_full    := lib
UNIT_OBJS_test_write_full   := lib/write_full
UNIT_DIR_test_kafka_conf    := lib
UNIT_OBJS_test_kafka_conf   := lib/kafka_conf lib/log
UNIT_LIBS_test_kafka_conf   := -lrdkafka
UNIT_DIR_test_flow_parse    := bpf
UNIT_DIR_test_flow_output   := agent
UNIT_OBJS_test_flow_output  := agent/flow_output
UNIT_DIR_test_flow_table    := agent
UNIT_OBJS_test_flow_table   := agent/flow_table agent/engine_user lib/log
UNIT_DIR_test_pcap_reader   := agent
UNIT_OBJS_test_pcap_reader  := agent/pcap_reader agent/gzip_inflate agent/stop
UNIT_LIBS_test_pcap_reader  := -lisal -lz -lpthread
UNIT_DIR_test_metrics_http  := lib
UNIT_OBJS_test_metrics_http := lib/metrics_http lib/prom lib/log
UNIT_LIBS_test_metrics_http := -lmicrohttpd -lpthread
UNIT_DIR_test_map_budget    := agent
UNIT_OBJS_test_map_budget   := agent/map_budget
UNIT_DIR_test_caps	    := agent
UNIT_OBJS_test_caps	    := agent/caps
UNIT_DIR_test_attach	    := agent
UNIT_OBJS_test_attach	    := agent/attach lib/log
UNIT_LIBS_test_attach	    := -lbpf -lelf -lz
UNIT_DIR_test_spool	    := agent
UNIT_OBJS_test_spool	    := agent/spool lib/wire lib/log lib/write_full
UNIT_LIBS_test_spool	    := -lisal
UNIT_DIR_test_kafka_export  := agent
UNIT_OBJS_test_kafka_export := agent/kafka_export agent/kafka_config agent/spool \
			       agent/flow_output agent/stop lib/wire lib/log lib/kafka_conf \
			       lib/write_full lib/agent_id
UNIT_LIBS_test_kafka_export := -lrdkafka -lisal
UNIT_DIR_test_api	    := collector
UNIT_OBJS_test_api	    := collector/api collector/views collector/migrate collector/store \
			       lib/parse lib/paths lib/log lib/kafka_conf
UNIT_LIBS_test_api	    := -lcurl -ldl -lpthread -lrdkafka -lm
UNIT_DIR_test_geo	    := collector
UNIT_OBJS_test_geo	    := collector/geo collector/geo_countries lib/parse
UNIT_LIBS_test_geo	    := -lz -lm
UNIT_DIR_test_collector	    := collector
UNIT_OBJS_test_collector    := collector/migrate collector/views collector/store lib/paths \
			       lib/log lib/kafka_conf
UNIT_LIBS_test_collector    := -lcurl -ldl -lpthread -lrdkafka
UNIT_DIR_test_http_endpoint  := collector
UNIT_OBJS_test_http_endpoint := collector/http_endpoint collector/store lib/log lib/kafka_conf \
				lib/paths
UNIT_LIBS_test_http_endpoint := -lmicrohttpd -lz -llz4 -lcurl -ldl -lpthread -lrdkafka
UNIT_DIR_test_ingest	    := collector
UNIT_OBJS_test_ingest	    := collector/ingest collector/wal collector/json_record lib/wire \
			       lib/log lib/parse lib/write_full lib/agent_id tests/unit/stub_store
UNIT_LIBS_test_ingest	    := -lisal -lm
UNIT_DIR_stub_store	    := collector
UNIT_DIR_test_wal	    := collector
UNIT_OBJS_test_wal	    := collector/wal lib/wire lib/write_full
UNIT_LIBS_test_wal	    := -lisal
UNIT_DIR_test_log	    := lib
UNIT_OBJS_test_log	    := lib/log
UNIT_DIR_test_agent_id	    := lib
UNIT_OBJS_test_agent_id	    := lib/agent_id
UNIT_DIR_test_cluster_config  := collector
UNIT_OBJS_test_cluster_config := collector/cluster_config lib/parse
UNIT_LIBS_test_cluster_config := -lm
UNIT_DIR_test_json_record   := collector
UNIT_OBJS_test_json_record  := collector/json_record lib/wire lib/parse
UNIT_LIBS_test_json_record  := -lisal -lm

unit_objs = $(patsubst %,$(1)/%.o,$(UNIT_OBJS_$(2)))

$(BUILD)/test_%: $(BUILD)/obj/tests/unit/test_%.o $$(call unit_objs,$(BUILD)/obj,test_$$*)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(UNIT_LIBS_test_$*) -lcmocka -o $@

$(BUILD)/asan/test_%: $(BUILD)/asan/tests/unit/test_%.o $$(call unit_objs,$(BUILD)/asan,test_$$*)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $^ $(UNIT_LIBS_test_$*) -lcmocka -o $@

# BPF programs through BPF_PROG_TEST_RUN: the skeleton and libbpf only.
$(BUILD)/test_flow_bpf: $(BUILD)/obj/tests/bpf/test_flow_bpf.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lbpf -lelf -lz -lcmocka -o $@

# --- fuzzers and tools ----------------------------------------------------------------------
# libFuzzer with clang, ASan and UBSan; header dependencies tracked like every other object.
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1
FUZZ_OBJS_fuzz_replay := tests/fuzz/fuzz_replay agent/pcap_reader agent/gzip_inflate agent/stop
FUZZ_LIBS_fuzz_replay := -lisal -lpthread
FUZZ_OBJS_fuzz_wire   := tests/fuzz/fuzz_wire lib/wire
FUZZ_LIBS_fuzz_wire   := -lisal

$(BUILD)/fuzz/%.o: %.c | $$(@D)/.
	$(call msg,CC-FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(WARNINGS) $(DEPFLAGS) -Iagent -Ilib -Ibpf -c $< -o $@

fuzz_objs = $(patsubst %,$(BUILD)/fuzz/%.o,$(FUZZ_OBJS_$(1)))

$(BUILD)/fuzz_%: $$(call fuzz_objs,fuzz_$$*)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_FLAGS) $^ $(FUZZ_LIBS_fuzz_$*) -o $@

$(BUILD)/tracegen: $(BUILD)/obj/tests/tracegen/tracegen.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lz -lm -o $@

# The tests' Kafka consumer (decodes with the shared wire decoder) and the bench's producer.
$(BUILD)/flowconsume: $(BUILD)/obj/tests/kafka/flowconsume.o $(BUILD)/obj/lib/wire.o \
		      $(BUILD)/obj/agent/flow_output.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lrdkafka -lisal -o $@

$(BUILD)/flowproduce: $(BUILD)/obj/tests/kafka/flowproduce.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lrdkafka -o $@

# The spool's fsync cost, for `make bench`.
$(BUILD)/obj/tests/bench/spool_bench.o: INCLUDES = -Iagent -Ilib -Ibpf
$(BUILD)/spool_bench: $(BUILD)/obj/tests/bench/spool_bench.o $(BUILD)/obj/agent/spool.o \
		      $(BUILD)/obj/lib/wire.o $(BUILD)/obj/lib/log.o $(BUILD)/obj/lib/write_full.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lisal -o $@

$(BUILD)/pcap_loop: $(BUILD)/obj/tests/bench/pcap_loop.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -lpcap -o $@

TEST_BINS := $(patsubst %,$(BUILD)/%,$(UNIT_TESTS)) $(patsubst %,$(BUILD)/asan/%,$(UNIT_TESTS)) \
	     $(BUILD)/test_flow_bpf $(BUILD)/asan/flowagent $(BUILD)/asan/flowcollector $(BUILD)/fuzz_replay $(BUILD)/fuzz_wire \
	     $(BUILD)/xdp_pass.bpf.o $(BUILD)/flowconsume $(BUILD)/flowproduce

# --- test, demo, bench ----------------------------------------------------------------------
.PHONY: test
test: deps all $(TEST_BINS)
	$(Q)tests/run-tests.sh

.PHONY: demo
demo: deps all
	$(Q)tests/demo.sh

.PHONY: bench
bench: deps all $(BUILD)/pcap_loop $(BUILD)/xdp_pass.bpf.o $(BUILD)/flowconsume $(BUILD)/flowproduce \
       $(BUILD)/spool_bench
	$(Q)$(PYTHON) tests/bench/bench.py
	$(Q)$(PYTHON) tests/bench/live.py
	$(Q)$(PYTHON) tests/bench/kafka.py
	$(Q)$(PYTHON) tests/bench/cluster.py
	$(Q)$(PYTHON) tests/bench/store.py

# Formatting against .clang-format: every tracked C file, or FILES. `make test` runs the check.
.PHONY: format-check format
format-check:
	$(Q)tests/format-check.sh $(FILES)

format:
	$(Q)$(CLANG_FORMAT) -i --style=file $(or $(FILES),$(shell git ls-files '*.c' '*.h' | \
		grep -v '^vmlinux/'))

# --- dependencies ---------------------------------------------------------------------------
# Playwright's driver only (no browser download): the tests drive Debian's chromium with it.
PLAYWRIGHT_VERSION := 1.65.1
PLAYWRIGHT_DIR	   := $(BUILD)/npm/playwright

# Debian packages for building, testing and `make bench`'s reference tools. Quiet and quick
# when everything is installed.
DEB_PACKAGES := make gcc clang clang-format llvm libbpf-dev bpftool libelf-dev \
		zlib1g-dev libcmocka-dev libpcap-dev libisal-dev pkg-config iproute2 tshark \
		softflowd nfdump xdp-tools libclang-rt-14-dev libmicrohttpd-dev librdkafka-dev \
		libcurl4-openssl-dev liblz4-dev python3 iputils-ping tcpreplay netsniff-ng \
		openjdk-17-jdk-headless maven chromium faketime tcpdump clickhouse-common zookeeper

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
	$(Q)$(PYTHON) -c 'import clickhouse_connect' 2>/dev/null || { \
		echo "  DEPS     installing: clickhouse-connect 1.12.0 (PyPI), for the HTTP endpoint's test"; \
		$(PYTHON) -m pip install -q clickhouse-connect==1.12.0 || \
			{ echo "make deps: pip install clickhouse-connect failed" >&2; exit 1; }; }
	$(Q)[ -f $(PLAYWRIGHT_DIR)/node_modules/playwright-core/package.json ] || { \
		echo "  DEPS     installing: playwright-core $(PLAYWRIGHT_VERSION) (npm), for the live report's test"; \
		command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends npm >/dev/null; \
		mkdir -p $(PLAYWRIGHT_DIR) && npm install --silent --no-audit --no-fund \
			--prefix $(PLAYWRIGHT_DIR) playwright-core@$(PLAYWRIGHT_VERSION) || \
			{ echo "make deps: npm install playwright-core failed" >&2; exit 1; }; }
	$(Q)$(PYTHON) -c 'import schemathesis' 2>/dev/null || { \
		echo "  DEPS     installing: schemathesis 4.32.5 (PyPI), for the views API's test"; \
		$(PYTHON) -m pip install -q schemathesis==4.32.5 || \
			{ echo "make deps: pip install schemathesis failed" >&2; exit 1; }; }
	$(Q)$(MAKE) -s $(KAFKA_STAMP) $(CHDB_LIB) $(GEO_STAMP) $(CLICKHOUSE_STAMP)

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

# The map data: Natural Earth's countries and land (world-atlas, ISC; the data public domain)
# and ISO 3166 codes and names (i18n-iso-countries, MIT), from the npm registry, pinned and
# checked; collector/report/map_data.py makes what flowcollector embeds.
WORLD_ATLAS_VERSION   := 2.0.2
WORLD_ATLAS_SHA256    := 032e7765f2ce00edaeafec23ff22bc3b77e42987c257da944cc585b452c05b97
ISO_COUNTRIES_VERSION := 7.14.0
ISO_COUNTRIES_SHA256  := bb418ebfb965789fcfbcce7dee59888d901ef64b03601da78b2e224cd6f5825c
NPM_DIR		      := $(BUILD)/npm
MAP_DIR		      := $(BUILD)/map
MAP_DATA	      := $(MAP_DIR)/countries.tsv $(MAP_DIR)/land.txt
WORLD_ATLAS	      := $(NPM_DIR)/world-atlas-$(WORLD_ATLAS_VERSION)
ISO_COUNTRIES	      := $(NPM_DIR)/i18n-iso-countries-$(ISO_COUNTRIES_VERSION)

# $(call npm_fetch,PACKAGE,VERSION,SHA256,DIR): the package's tarball, checked, unpacked in DIR
define npm_fetch
	$(call msg,DEPS,$(1) $(2) (npm) -> $(4))
	$(Q)command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends npm >/dev/null || \
		{ echo "make: npm is needed to fetch $(1)" >&2; exit 1; }
	$(Q)rm -rf $(4).tmp && mkdir -p $(4).tmp
	$(Q)cd $(4).tmp && npm pack --silent $(1)@$(2) >/dev/null || \
		{ echo "make: npm pack $(1)@$(2) failed" >&2; exit 1; }
	$(Q)echo "$(3)  $(4).tmp/$(1)-$(2).tgz" | sha256sum -c --quiet - || \
		{ echo "make: $(1)-$(2).tgz does not have the pinned checksum" >&2; exit 1; }
	$(Q)tar xzf $(4).tmp/$(1)-$(2).tgz -C $(4).tmp && rm -rf $(4) && mv $(4).tmp/package $(4) && \
		rm -rf $(4).tmp
endef

$(WORLD_ATLAS)/land-110m.json:
	$(call npm_fetch,world-atlas,$(WORLD_ATLAS_VERSION),$(WORLD_ATLAS_SHA256),$(WORLD_ATLAS))
$(ISO_COUNTRIES)/codes.json:
	$(call npm_fetch,i18n-iso-countries,$(ISO_COUNTRIES_VERSION),$(ISO_COUNTRIES_SHA256),$(ISO_COUNTRIES))

$(MAP_DIR)/countries.tsv: collector/report/map_data.py $(WORLD_ATLAS)/land-110m.json \
			  $(ISO_COUNTRIES)/codes.json
	$(call msg,GEN,$(MAP_DATA))
	$(Q)$(PYTHON) collector/report/map_data.py $(WORLD_ATLAS) $(ISO_COUNTRIES) $(MAP_DIR)
$(MAP_DIR)/land.txt: $(MAP_DIR)/countries.tsv

# The report's stylesheet and the map data (MAP_DATA, above) are
# assembled in with .incbin.
REPORT_ASSETS := $(wildcard collector/report/*.css)
$(BUILD)/obj/collector/report_assets.o $(BUILD)/asan/collector/report_assets.o: $(REPORT_ASSETS) \
	$(MAP_DATA)
$(BUILD)/obj/collector/geo_countries.o $(BUILD)/asan/collector/geo_countries.o: $(MAP_DATA)
$(BUILD)/obj/collector/api_assets.o $(BUILD)/asan/collector/api_assets.o: docs/openapi.yaml
$(BUILD)/obj/collector/report_assets.o $(BUILD)/asan/collector/report_assets.o \
$(BUILD)/obj/collector/geo_countries.o $(BUILD)/asan/collector/geo_countries.o: \
	CPPFLAGS += -DMAP_DIR='"$(MAP_DIR)"'

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

# A real ClickHouse server for the multi-node test cluster (tests/cluster/cluster.sh): Debian's
# clickhouse-server, unpacked without installing it (its postinst would start a system
# service). The binary links libclickhouse from clickhouse-common (in DEB_PACKAGES). Only the
# binary is unpacked: the package's etc/init.d would match the `find -name '*.d'` below.
CLICKHOUSE_DIR    := $(BUILD)/clickhouse
CLICKHOUSE_BIN    := $(CLICKHOUSE_DIR)/clickhouse-server
CLICKHOUSE_STAMP  := $(CLICKHOUSE_DIR)/fetched.stamp
$(CLICKHOUSE_STAMP):
	$(call msg,DEPS,clickhouse-server (Debian) -> $(CLICKHOUSE_BIN))
	$(Q)rm -rf $(CLICKHOUSE_DIR) && mkdir -p $(CLICKHOUSE_DIR)/deb
	$(Q)cd $(CLICKHOUSE_DIR)/deb && apt-get download clickhouse-server >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null && apt-get download clickhouse-server >/dev/null; } || \
		{ echo "make deps: apt-get download clickhouse-server failed" >&2; exit 1; }
	$(Q)dpkg-deb --fsys-tarfile $(CLICKHOUSE_DIR)/deb/clickhouse-server_*.deb | \
		tar -xO ./usr/sbin/clickhouse-server >$(CLICKHOUSE_BIN).tmp || \
		{ echo "make deps: no usr/sbin/clickhouse-server in the package" >&2; exit 1; }
	$(Q)chmod 755 $(CLICKHOUSE_BIN).tmp && mv $(CLICKHOUSE_BIN).tmp $(CLICKHOUSE_BIN)
	$(Q)ldd $(CLICKHOUSE_BIN) | grep -q 'not found' && \
		{ ldd $(CLICKHOUSE_BIN) | grep 'not found' >&2; \
		  echo "make deps: clickhouse-server misses libraries (clickhouse-common?)" >&2; exit 1; } || true
	$(Q)rm -rf $(CLICKHOUSE_DIR)/deb && touch $@

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
# Output directories, made on demand as order-only prerequisites.
%/.:
	$(Q)mkdir -p $@

.PHONY: clean
clean:
	$(call msg,CLEAN,$(BUILD))
	$(Q)rm -rf $(BUILD)

.PHONY: help
help:
	@echo 'Targets:'
	@echo '  all (default)  build/flowagent, build/flowcollector, the BPF objects and'
	@echo '                 skeletons, build/tracegen'
	@echo '  deps           install missing system packages (Debian 12), pytest, libchdb, the'
	@echo '                 Kafka jars and the geolocation data'
	@echo '  test           run every test (unit, ASan+UBSan, BPF, fuzzing, integration, format)'
	@echo '  demo           a MAWI-like trace through agent, collector and embedded ClickHouse,'
	@echo '                 every view and build/demo/report.html'
	@echo '  bench          side-by-side performance against reference tools -> build/bench/'
	@echo '  format-check   check every C file (or FILES) against .clang-format'
	@echo '  format         rewrite them with clang-format'
	@echo '  test-deploy    the chart against a real kube-apiserver and etcd (CI runs it too)'
	@echo '  install        programs, schema, libchdb, man pages, systemd units (PREFIX, DESTDIR)'
	@echo '  uninstall      remove them (a changed configuration file stays)'
	@echo '  image          OCI images of the agent and collector (buildah) -> build/image/'
	@echo '  seccomp        derive the agent'"'"'s seccomp profile from Debian'"'"'s default again'
	@echo '  vmlinux        regenerate vmlinux/$(ARCH)/vmlinux.h from the running kernel'
	@echo '  clean          remove build/'
	@echo 'V=1 shows full commands; CFLAGS sets optimisation and debug flags (warnings stay).'

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
include mk/install.mk
include mk/image.mk
include mk/helm.mk
include mk/config.mk
include mk/compose.mk
include mk/kubeplay.mk
