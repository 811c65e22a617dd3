# A thin front over CMake. `make run` and `make test` install what is missing first.
#   make              build the library and the CLI at build/spk (Release)
#   make run          set up, build, run the main job
#   make test         set up, build, run the whole test suite through ctest
#   make bench        run the benchmarks
#   make install PREFIX=/usr/local
BUILD      ?= build
BUILD_TYPE ?= Release
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
SPK_WERROR ?= 0
CMAKE_ARGS  = -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSPK_WERROR=$(if $(filter 1 ON on yes,$(SPK_WERROR)),ON,OFF)

.PHONY: all build setup run test bench install clean

all: build

setup:
	@sh scripts/setup

build:
	@cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: setup
	@$(MAKE) --no-print-directory build
	./$(BUILD)/spk demo

test: setup
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: setup
	@$(MAKE) --no-print-directory build
	./$(BUILD)/spk bench neuron

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)
