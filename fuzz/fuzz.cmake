# fuzz/fuzz.cmake — included by the top CMakeLists.txt when SPK_FUZZ is ON. When clang with
# libFuzzer is installed (scripts/setup installs it), the harnesses of fuzz/ are built as an
# external project in <build>/fuzz (clang, ASan + UBSan, coverage) and a short run of each is
# a ctest test named after it (fuzz/run.sh with a fixed seed, RUNS inputs, at most a few
# seconds). Without clang the tests are left out with a note.
find_program(SPK_CLANG NAMES clang clang-16 clang-15 clang-14)
set(SPK_FUZZ_OK OFF)
if(SPK_CLANG)
  file(WRITE ${CMAKE_BINARY_DIR}/fuzzcheck/probe.c
       "#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
  execute_process(COMMAND ${SPK_CLANG} -fsanitize=fuzzer,address,undefined ${CMAKE_BINARY_DIR}/fuzzcheck/probe.c
                          -o ${CMAKE_BINARY_DIR}/fuzzcheck/probe
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    set(SPK_FUZZ_OK ON)
  endif()
endif()
if(NOT SPK_FUZZ_OK)
  message(STATUS "spk: clang with libFuzzer not found (Debian: clang, libclang-rt-dev): the fuzz tests are skipped")
  return()
endif()

include(ExternalProject)
ExternalProject_Add(spk_fuzz
  SOURCE_DIR ${CMAKE_SOURCE_DIR}/fuzz
  BINARY_DIR ${CMAKE_BINARY_DIR}/fuzz
  CMAKE_ARGS -DCMAKE_C_COMPILER=${SPK_CLANG}
  INSTALL_COMMAND ""
  BUILD_ALWAYS 1)

# inputs per short run: about 1-3 s each on one core (HDF5 is slow to open a file, and a
# NIR file opens several datasets)
set(SPK_FUZZ_RUNS_fuzz_npy 40000)
set(SPK_FUZZ_RUNS_fuzz_idx 10000)
set(SPK_FUZZ_RUNS_fuzz_h5 300)
set(SPK_FUZZ_RUNS_fuzz_experiment 15000)
set(SPK_FUZZ_RUNS_fuzz_model 10000)
set(SPK_FUZZ_RUNS_fuzz_nir 40)
set(SPK_FUZZ_RUNS_fuzz_hw_csv 20000)
set(SPK_FUZZ_RUNS_fuzz_qmodel 15000)
file(GLOB SPK_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/fuzz/fuzz_*.c)
foreach(src ${SPK_FUZZ_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  set(runs ${SPK_FUZZ_RUNS_${name}})
  if(NOT runs)
    set(runs 10000)
  endif()
  add_test(NAME ${name} COMMAND sh ${CMAKE_SOURCE_DIR}/fuzz/run.sh ${CMAKE_BINARY_DIR}/fuzz/${name} 3 ${runs})
  set_tests_properties(${name} PROPERTIES TIMEOUT 120 LABELS fuzz)
endforeach()
