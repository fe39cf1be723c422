# Thin wrapper: every target installs what is missing, configures, builds, then runs.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test chaos bench sanitize clean

all: build

deps:
	@./deploy/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	@./examples/demo.sh $(BUILD)

# Every process of the run carries FANOUT_TEST_RUN=<random> (workers pass it on to their
# commands: FANOUT_TASK_ENV); afterwards check_leftovers.sh fails the run if any of them is
# still alive (tests must clean up what they start).
test: build
	@export FANOUT_TEST_RUN=$$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n') \
	  FANOUT_TASK_ENV=FANOUT_TEST_RUN; \
	rc=0; (cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 600) || rc=$$?; \
	$(CURDIR)/tests/check_leftovers.sh "$$FANOUT_TEST_RUN" || rc=1; \
	exit $$rc

chaos: build
	FANOUT_CHAOS_LONG=1 ./tests/chaos/run_chaos.sh $(BUILD)

bench: build
	@./bench/run.sh $(BUILD)

# The unit and integration suites (and the short chaos forms) under ASan + UBSan, in build-asan.
sanitize: deps
	cmake -S . -B build-asan -G Ninja -DFANOUT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-asan -j $(JOBS)
	cd build-asan && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j 2 --timeout 900 -LE '^chaos$$'

clean:
	rm -rf $(BUILD)
