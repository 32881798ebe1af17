# berth_add_test(NAME SOURCES... LIBS ...): a Catch2 test binary registered with ctest.
find_package(Catch2 REQUIRED)
include(Catch)

add_library(berth_catch_main STATIC ${CMAKE_SOURCE_DIR}/tests/support/catch_main.cc)
target_link_libraries(berth_catch_main PUBLIC Catch2::Catch2)

function(berth_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE berth_catch_main berth_warnings ${T_LIBS})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR})
  target_compile_definitions(${name} PRIVATE
    BERTH_SOURCE_DIR="${CMAKE_SOURCE_DIR}" BERTH_BINARY_DIR="${CMAKE_BINARY_DIR}")
  catch_discover_tests(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT 120)
endfunction()

# berth_add_fuzzer(NAME SOURCE LIBS ...): a libFuzzer target plus a ctest that replays its corpus.
function(berth_add_fuzzer name)
  cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${F_SOURCES})
  target_link_libraries(${name} PRIVATE berth_warnings ${F_LIBS})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  if(NOT TARGET berth_fuzzers)
    add_custom_target(berth_fuzzers)
  endif()
  add_dependencies(berth_fuzzers ${name})
  set(corpus ${CMAKE_SOURCE_DIR}/fuzz/corpus/${name})
  add_test(NAME ${name}_replay COMMAND ${name} -runs=0 ${corpus})
  set_tests_properties(${name}_replay PROPERTIES LABELS fuzz)
endfunction()
