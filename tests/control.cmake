# Control-plane tests (issue #3): unit tests of the pure code, store/queue tests against real
# PostgreSQL and Redis, and end-to-end tests of the real berth-control binary over loopback.
# Included from tests/CMakeLists.txt.
pkg_check_modules(BERTH_TEST_PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(BERTH_TEST_HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(BERTH_TEST_LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)

add_library(berth_control_test_support STATIC
  ${CMAKE_SOURCE_DIR}/tests/support/pg_instance.cc
  ${CMAKE_SOURCE_DIR}/tests/support/redis_instance.cc
  ${CMAKE_SOURCE_DIR}/tests/control/support/control_env.cc
  ${CMAKE_SOURCE_DIR}/tests/control/support/pipeline_support.cc
  ${CMAKE_SOURCE_DIR}/tests/control/support/tarball_writer.cc
)
target_include_directories(berth_control_test_support PUBLIC ${CMAKE_SOURCE_DIR})
target_compile_definitions(berth_control_test_support PUBLIC BERTH_BINARY_DIR="${CMAKE_BINARY_DIR}")
target_link_libraries(berth_control_test_support PUBLIC berth_test_support PkgConfig::BERTH_TEST_PQXX
  PkgConfig::BERTH_TEST_HIREDIS PkgConfig::BERTH_TEST_LIBARCHIVE nlohmann_json::nlohmann_json
  Threads::Threads PRIVATE berth_warnings)

# An end-to-end test of the real berth-control binary, talking to it over loopback; DEPENDS
# names the other binaries it runs (berth-edge).
function(berth_add_control_e2e_test name source)
  cmake_parse_arguments(E "" "" "DEPENDS" ${ARGN})
  berth_add_test(${name}
    SOURCES ${CMAKE_SOURCE_DIR}/tests/control/${source}
      ${CMAKE_SOURCE_DIR}/control/base/lsan_suppressions.cc
    LIBS berth_control_core berth_control_test_support
    LABELS "control;e2e")
  add_dependencies(${name} berth-control ${E_DEPENDS})
endfunction()

berth_add_test(control_unit_test
  SOURCES ${CMAKE_SOURCE_DIR}/tests/control/unit_test.cc
    ${CMAKE_SOURCE_DIR}/tests/control/analyze_test.cc
    ${CMAKE_SOURCE_DIR}/tests/control/log_mask_test.cc
  LIBS berth_control_core
  LABELS "control;unit")

# UPLOAD archives (#16): hostile tarballs written with libarchive's writer.
berth_add_test(control_upload_test
  SOURCES ${CMAKE_SOURCE_DIR}/tests/control/tarball_test.cc
  LIBS berth_control_core berth_control_test_support
  LABELS "control;unit")

# UPLOAD deploys end to end (#16): POST deployments/upload/ to ACTIVE through a real edge;
# refused archives, size limits, the in-flight rule and the throttle.
berth_add_control_e2e_test(control_upload_deploy_test upload_deploy_test.cc DEPENDS berth-edge)

berth_add_test(control_store_test
  SOURCES ${CMAKE_SOURCE_DIR}/tests/control/store_test.cc
    ${CMAKE_SOURCE_DIR}/control/base/lsan_suppressions.cc
  LIBS berth_control_lib berth_control_test_support
  LABELS "control;store")

berth_add_control_e2e_test(control_api_test api_test.cc)
# List shapes (pagination links, build-log cursor and tail, env-var/domain pages), HEAD,
# timestamp format, 503 bodies.
berth_add_control_e2e_test(control_api_lists_test api_lists_test.cc)
berth_add_control_e2e_test(control_pipeline_test pipeline_test.cc DEPENDS berth-edge)

# With the real berth-edge (berth_test_support and berth-edge come from tests/CMakeLists.txt
# and edge/; target names resolve at generate time).
berth_add_test(control_edge_test
  SOURCES ${CMAKE_SOURCE_DIR}/tests/control/edge_integration_test.cc
    ${CMAKE_SOURCE_DIR}/control/base/lsan_suppressions.cc
  LIBS berth_control_test_support berth_test_support
  LABELS "control;e2e")
add_dependencies(control_edge_test berth-control berth-edge)

# Shared code control relies on (#12): the admin client and the TOML reader, over real sockets
# and files. Built here so the edge's unit-test list stays the lead's.
berth_add_test(shared_control_facing_test
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/shared/admin/admin_client_test.cc
    ${CMAKE_SOURCE_DIR}/tests/unit/shared/config/toml_reader_test.cc
  LIBS berth_shared berth_test_support
  LABELS "control;unit")

# Issue 15: ACTIVE means served. Real PostgreSQL, Redis, git repositories and berth-edges.
berth_add_control_e2e_test(control_served_test served_test.cc DEPENDS berth-edge)

berth_add_test(control_repo_screen_test
  SOURCES ${CMAKE_SOURCE_DIR}/tests/control/repo_screen_test.cc
    ${CMAKE_SOURCE_DIR}/control/base/lsan_suppressions.cc
  LIBS berth_control_lib berth_control_test_support
  LABELS "control;e2e")
add_dependencies(control_repo_screen_test berth-control)

# scripts/up.sh end to end (its own PostgreSQL, Redis, berth-control and berth-edge).
berth_add_test(control_up_test
  SOURCES ${CMAKE_SOURCE_DIR}/tests/control/up_test.cc
  LIBS berth_control_test_support
  LABELS "control;e2e")
add_dependencies(control_up_test berth-control berth-edge)

# Issue 16: build commands as sandboxed child processes (real children, limits, cancel, uid).
berth_add_test(control_sandbox_test
  SOURCES ${CMAKE_SOURCE_DIR}/tests/control/sandbox_test.cc
  LIBS berth_control_lib
  LABELS "control;unit")

# Issue 16: real builds end to end (analyze, env, sandboxed npm builds, caches, masking).
berth_add_control_e2e_test(control_build_test build_test.cc DEPENDS berth-edge)

# Edges as a fleet through Redis: control publishes route tables there and counts the
# acknowledgements of [edges] redis_edges; and the edge's side alone, driven through Redis.
berth_add_control_e2e_test(control_fleet_test fleet_test.cc DEPENDS berth-edge)
berth_add_test(edge_fleet_test
  SOURCES ${CMAKE_SOURCE_DIR}/tests/e2e/edge_fleet_test.cc
    ${CMAKE_SOURCE_DIR}/control/base/lsan_suppressions.cc
  LIBS berth_control_test_support berth_test_support
  LABELS e2e)
add_dependencies(edge_fleet_test berth-edge)
