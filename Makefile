# A thin front over CMake. `make run` and `make test` install what is missing first.
#   make              build the library and the CLI at build/spk (Release)
#   make run          set up, build, run the main job
#   make test         set up, build, run the whole test suite through ctest
#   make bench        run the benchmarks
#   make bench-accuracy  train every example with its full recipe, accuracy beside its target
#   make test-sanitize  the whole test suite under ASan + UBSan (build-asan), zero reports
#   make fuzz         every libFuzzer harness of fuzz/ for FUZZ_SECONDS (60) each (build-fuzz)
#   make install PREFIX=/usr/local
BUILD      ?= build
BUILD_TYPE ?= Release
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
SPK_WERROR ?= 0
CMAKE_ARGS  = -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSPK_WERROR=$(if $(filter 1 ON on yes,$(SPK_WERROR)),ON,OFF)

.PHONY: all build setup run test bench bench-accuracy install clean test-sanitize fuzz

all: build

setup:
	@sh scripts/setup

build:
	@cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# the main job: Fashion-MNIST with the spiking MLP, on a short budget (2 epochs)
run: setup
	@$(MAKE) --no-print-directory build
	./$(BUILD)/spk train examples/fashion_mlp.yaml --epochs 2 -o runs/fashion_mlp_quick

test: setup
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: setup
	@$(MAKE) --no-print-directory build
	./$(BUILD)/spk bench neuron
	./$(BUILD)/spk bench train
	./$(BUILD)/spk bench memory
	./$(BUILD)/spk bench memory --steps 1000
	./$(BUILD)/spk bench cuba
	@if [ -f runs/fashion_mlp_quick/model.spk ]; then ./$(BUILD)/spk bench infer runs/fashion_mlp_quick/model.spk; \
	 else echo "bench infer: skipped (no trained model: run 'make run' first)"; fi

bench-accuracy: setup
	@$(MAKE) --no-print-directory build
	sh scripts/bench-accuracy ./$(BUILD)/spk

test-sanitize: setup
	sh scripts/test-sanitize build-asan

FUZZ_SECONDS ?= 60
fuzz: setup
	@cmake -S fuzz -B build-fuzz -DCMAKE_C_COMPILER=clang >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@rc=0; for h in build-fuzz/fuzz_*; do [ -x "$$h" ] || continue; sh fuzz/run.sh "$$h" $(FUZZ_SECONDS) || rc=1; done; exit $$rc

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)
