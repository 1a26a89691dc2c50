# Runs one fuzzer for ctest (see CMakeLists.txt in this folder). Invoked as
#   cmake -DFUZZER=<binary> -DSEEDS=<dir> -DREGRESSIONS=<dir> -DWORK=<dir> [-DDICT=<file>]
#         -DMODE=replay|fuzz [-DSECONDS=30] -P RunFuzzer.cmake
#
# replay: runs every seed and every committed regression input once (a quick unit test:
#         any crash input ever found fails it again if the bug comes back).
# fuzz:   fuzzes for SECONDS on a working corpus in WORK: a copy of the seeds, kept between
#         runs so a local build keeps what it learned, never written into the source tree.
#         The regressions are read too (as a second, read-only corpus). Crash, leak and
#         timeout inputs go to WORK/artifacts/.
# libFuzzer exits non-zero on a crash, a sanitizer report, a leak, a timeout (-timeout) or
# too much memory (-rss_limit_mb); that fails the test.
cmake_minimum_required(VERSION 3.25)

foreach(var FUZZER SEEDS WORK MODE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "RunFuzzer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(artifacts "${WORK}/artifacts")
file(MAKE_DIRECTORY "${artifacts}")
set(options -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 "-artifact_prefix=${artifacts}/")
# Memory runaways: libFuzzer's -rss_limit_mb watchdog prints a heap profile before it saves the
# input, and on a heap of 2 GiB that profile ran for over ten minutes (clang 14). AddressSanitizer's
# own limit, just below it, fails at once and still saves the input; -malloc_limit_mb catches a
# single huge allocation with its stack.
if(DEFINED ENV{ASAN_OPTIONS} AND NOT "$ENV{ASAN_OPTIONS}" STREQUAL "")
  set(ENV{ASAN_OPTIONS} "$ENV{ASAN_OPTIONS}:hard_rss_limit_mb=1900")
else()
  set(ENV{ASAN_OPTIONS} "hard_rss_limit_mb=1900")
endif()
if(DICT AND EXISTS "${DICT}")
  list(APPEND options -dict=${DICT})
endif()

if(MODE STREQUAL "replay")
  file(GLOB_RECURSE inputs LIST_DIRECTORIES false "${SEEDS}/*")
  if(REGRESSIONS AND IS_DIRECTORY "${REGRESSIONS}")
    file(GLOB_RECURSE regression_inputs LIST_DIRECTORIES false "${REGRESSIONS}/*")
    list(APPEND inputs ${regression_inputs})
  endif()
  list(FILTER inputs EXCLUDE REGEX "/README[^/]*$")
  list(LENGTH inputs count)
  if(count EQUAL 0)
    message(FATAL_ERROR "no inputs in ${SEEDS}: a fuzzer needs a seed corpus")
  endif()
  message(STATUS "replaying ${count} inputs")
  # Given files (not folders), libFuzzer runs each once and exits.
  execute_process(COMMAND "${FUZZER}" ${options} ${inputs} WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc
                  TIMEOUT 100)
elseif(MODE STREQUAL "fuzz")
  if(NOT DEFINED SECONDS)
    set(SECONDS 30)
  endif()
  math(EXPR backstop "${SECONDS} + 90")
  set(corpus "${WORK}/corpus")
  file(MAKE_DIRECTORY "${corpus}")
  file(GLOB seeds LIST_DIRECTORIES false "${SEEDS}/*")
  list(FILTER seeds EXCLUDE REGEX "/README[^/]*$")
  file(COPY ${seeds} DESTINATION "${corpus}")
  set(dirs "${corpus}")
  if(REGRESSIONS AND IS_DIRECTORY "${REGRESSIONS}")
    list(APPEND dirs "${REGRESSIONS}")  # read only: libFuzzer writes new inputs to the first folder alone
  endif()
  execute_process(
    COMMAND "${FUZZER}" ${options} -max_total_time=${SECONDS} -print_final_stats=1 ${dirs}
    WORKING_DIRECTORY "${WORK}"
    RESULT_VARIABLE rc
    # The backstop for a fuzzer that hangs outside an input (libFuzzer's -timeout covers inputs).
    TIMEOUT ${backstop})
else()
  message(FATAL_ERROR "RunFuzzer.cmake: MODE must be replay or fuzz, not '${MODE}'")
endif()

if(NOT rc EQUAL 0)  # a number, or a message such as "Process terminated due to timeout"
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}); the input that failed is named above"
                      " (artifacts in ${WORK}/artifacts/). Reproduce with: ${FUZZER} <input>")
endif()
