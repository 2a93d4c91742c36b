# VastSky build. `make` builds every program into build/bin with warnings as
# errors; `make check` runs every test; `make bench` runs the benchmarks;
# `make soak` runs the VM lab's thrash test for an hour.
# SAN=1 builds an AddressSanitizer+UBSan variant into build-asan/;
# SAN=thread a ThreadSanitizer variant into build-tsan/; SAN=fuzz the
# libFuzzer targets (clang, ASan+UBSan) into build-fuzz/ (`make fuzz`).

SAN ?= 0
ifeq ($(SAN),1)
BUILD := build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
else ifeq ($(SAN),thread)
BUILD := build-tsan
SANFLAGS := -fsanitize=thread
OPT := -O1
else ifeq ($(SAN),fuzz)
BUILD := build-fuzz
CXX := clang++
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
else
BUILD := build
SANFLAGS :=
OPT := -O2
endif

CXX ?= g++
CXXFLAGS := -std=c++17 $(OPT) -g -Wall -Wextra -Werror -Wno-deprecated-declarations -I. $(SANFLAGS) -MMD -MP
# libxml2: the storage agent reads thin_dump's XML (agents/host/thin_pool.cc only).
XML2_CFLAGS := $(shell pkg-config --cflags libxml-2.0 2>/dev/null)
XML2_LIBS := $(shell pkg-config --libs libxml-2.0 2>/dev/null || echo -lxml2)
LDFLAGS := $(SANFLAGS)

XMLRPC_LIBS := $(shell xmlrpc-c-config c++2 client --libs 2>/dev/null) -lxmlrpc_server++ -lxmlrpc_server
LIB_LIBS := $(XMLRPC_LIBS) -linih -lcurl -lmicrohttpd
# prometheus-cpp's core only: the manager and agents serve /metrics through lib/http_server.
MANAGER_LIBS := $(LIB_LIBS) -lsqlite3 -lprometheus-cpp-core -lgnutls -lpthread
CPPUNIT_LIBS := -lcppunit

BIN := $(BUILD)/bin
OBJ := $(BUILD)/obj

LIB_SRC := $(wildcard lib/*.cc)
MANAGER_CORE_SRC := $(filter-out manager/main.cc,$(wildcard manager/*.cc))
CLI_SRC := $(wildcard cli/*.cc)
HOST_SRC := $(wildcard agents/host/*.cc)
AGENT_COMMON_SRC := $(wildcard agents/common/*.cc)
STORAGE_AGENT_SRC := $(wildcard agents/storage/*.cc)
HEAD_AGENT_SRC := $(wildcard agents/head/*.cc)
HEAD_CORE_SRC := $(filter-out agents/head/main.cc,$(HEAD_AGENT_SRC))
STORAGE_CORE_SRC := $(filter-out agents/storage/main.cc,$(STORAGE_AGENT_SRC))
UNIT_SRC := $(wildcard tests/unit/*.cc)
KERNEL_TEST_SRC := $(wildcard tests/kernel/*.cc)
BENCH_SRC := $(wildcard tests/bench/*.cc)
REBUILD_SIM_SRC := $(wildcard tests/rebuild_sim/*.cc)
FUZZ_SRC := $(wildcard tests/fuzz/*.cc)
XAPI_SRC := $(wildcard xapi/*.cc)
XAPI_PLUGIN_SRC := $(wildcard xapi/plugin/*.cc)
SM_PLUGIN_SRC := $(wildcard sm_plugin/*.cc)
SM_CORE_SRC := $(filter-out sm_plugin/main.cc,$(SM_PLUGIN_SRC))

objs = $(patsubst %.cc,$(OBJ)/%.o,$(1))

PROGRAMS := $(BIN)/vastsky-manager $(BIN)/vastsky $(BIN)/vastsky-storage-agent $(BIN)/vastsky-head-agent \
	$(BIN)/VastSkySR $(BIN)/vastsky-xapi-plugin
TEST_PROGRAMS := $(BIN)/unit-tests $(BIN)/kernel-tests
BENCH_PROGRAMS := $(BIN)/vastsky-bench $(BIN)/vastsky-rebuild-sim

.PHONY: all deps check unit integration bench demo soak fuzz fuzz-programs clean
all: deps-ok $(PROGRAMS) $(TEST_PROGRAMS) $(BENCH_PROGRAMS)

# Installs the Debian packages the build and tests need, only if missing.
deps-ok:
	@tools/install-deps.sh --check-or-install

$(OBJ)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(OBJ)/agents/host/thin_pool.o: CXXFLAGS += $(XML2_CFLAGS)

$(BUILD)/libvastsky.a: $(call objs,$(LIB_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libmanager.a: $(call objs,$(MANAGER_CORE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libhost.a: $(call objs,$(HOST_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# libhead.a: the audit reads head agents' volume records with their own decoder.
$(BIN)/vastsky-manager: $(call objs,manager/main.cc) $(BUILD)/libmanager.a $(BUILD)/libhead.a $(BUILD)/libvastsky.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(MANAGER_LIBS)

$(BUILD)/libstorage.a: $(call objs,$(STORAGE_CORE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libhead.a: $(call objs,$(HEAD_CORE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/vastsky-storage-agent: $(call objs,agents/storage/main.cc $(AGENT_COMMON_SRC)) $(BUILD)/libstorage.a $(BUILD)/libhost.a $(BUILD)/libvastsky.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIB_LIBS) -ldevmapper $(XML2_LIBS) -lprometheus-cpp-core -lpthread

$(BIN)/vastsky-head-agent: $(call objs,agents/head/main.cc $(AGENT_COMMON_SRC)) $(BUILD)/libhead.a $(BUILD)/libhost.a $(BUILD)/libvastsky.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIB_LIBS) -ldevmapper -lprometheus-cpp-core -lpthread

# The XCP side: the SMAPIv1 driver and the xapi host plugin.
$(BUILD)/libxapi.a: $(call objs,$(XAPI_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libsm.a: $(call objs,$(SM_CORE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/VastSkySR: $(call objs,sm_plugin/main.cc) $(BUILD)/libsm.a $(BUILD)/libxapi.a $(BUILD)/libvastsky.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

$(BIN)/vastsky-xapi-plugin: $(call objs,$(XAPI_PLUGIN_SRC)) $(BUILD)/libxapi.a $(BUILD)/libvastsky.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

$(BIN)/vastsky: $(call objs,$(CLI_SRC)) $(BUILD)/libvastsky.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

$(BIN)/unit-tests: $(call objs,$(UNIT_SRC) agents/common/agent_settings.cc) $(BUILD)/libmanager.a $(BUILD)/libhead.a $(BUILD)/libstorage.a $(BUILD)/libhost.a $(BUILD)/libsm.a $(BUILD)/libxapi.a $(BUILD)/libvastsky.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(MANAGER_LIBS) -ldevmapper $(XML2_LIBS) $(CPPUNIT_LIBS)

# Runs inside the VM lab only (real device-mapper); the runner is the unit one.
$(BIN)/kernel-tests: $(call objs,$(KERNEL_TEST_SRC) tests/unit/main.cc) $(BUILD)/libhost.a $(BUILD)/libvastsky.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIB_LIBS) -ldevmapper $(XML2_LIBS) $(CPPUNIT_LIBS)

$(BIN)/vastsky-bench: $(call objs,$(BENCH_SRC)) $(BUILD)/libvastsky.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

$(BIN)/vastsky-rebuild-sim: $(call objs,$(REBUILD_SIM_SRC)) $(BUILD)/libmanager.a $(BUILD)/libvastsky.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(MANAGER_LIBS)

# The libFuzzer targets: build with SAN=fuzz (make fuzz-programs SAN=fuzz).
FUZZ_PROGRAMS := $(patsubst tests/fuzz/%.cc,$(BIN)/fuzz-%,$(FUZZ_SRC))
fuzz-programs: $(FUZZ_PROGRAMS)
$(BIN)/fuzz-%: $(OBJ)/tests/fuzz/%.o $(BUILD)/libmanager.a $(BUILD)/libhead.a $(BUILD)/libsm.a $(BUILD)/libxapi.a $(BUILD)/libhost.a $(BUILD)/libvastsky.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(MANAGER_LIBS) -ldevmapper $(XML2_LIBS)

# Every fuzz target for FUZZ_SECONDS each (default an hour), after its
# regression inputs; make check runs them for a minute each.
fuzz: deps-ok
	$(MAKE) SAN=fuzz fuzz-programs
	tests/fuzz/run.sh $${FUZZ_SECONDS:-3600}

# Every test: unit tests (plain and sanitized), then the integration tests
# against the sanitized manager, then the summary line.
check: deps-ok
	@tests/run-all.sh

unit: all
	$(BIN)/unit-tests

integration: all
	python3 -m unittest discover -s tests/integration -v

bench: deps-ok all
	tests/bench/run.sh

# The thrash test for an hour (THRASH_SECONDS), its seed printed first
# (THRASH_SEED=N replays it); the VM's deadline leaves room for the set-up,
# the last fault's healing and the checks.
THRASH_SECONDS ?= 3600
soak: deps-ok all
	@tools/install-deps.sh --check-or-install --vmlab
	THRASH_SECONDS=$(THRASH_SECONDS) VMLAB_MEM=7168 VS_TMPFS=5500m VMLAB_PASSENV=VS_TMPFS \
	  VMLAB_TIMEOUT=$$(($(THRASH_SECONDS) + 1200)) tests/vmlab/vm.sh run tests/vmlab/thrash.sh

demo: deps-ok all
	tools/demo.sh

clean:
	rm -rf build build-asan build-tsan build-fuzz

# Only the programs (what rpm/vastsky.spec packages): no Debian dependency
# check, no tests or benchmarks. `make rpm` builds the RPMs from the working
# tree and checks them (tests/rpm/check.sh; needs rpm and rpmlint).
.PHONY: programs rpm
programs: $(PROGRAMS)

rpm: deps-ok
	tests/rpm/check.sh

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
