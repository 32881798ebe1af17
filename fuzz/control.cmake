# Control-plane fuzz targets (issue #3): webhook payloads and signatures, API request bodies.
# Included from fuzz/CMakeLists.txt; they link only the I/O-free berth_control_core.
berth_add_fuzzer(webhook_fuzz SOURCES ${CMAKE_SOURCE_DIR}/fuzz/webhook_fuzz.cc LIBS berth_control_core)
berth_add_fuzzer(api_body_fuzz SOURCES ${CMAKE_SOURCE_DIR}/fuzz/api_body_fuzz.cc LIBS berth_control_core)
berth_add_fuzzer(control_config_fuzz SOURCES ${CMAKE_SOURCE_DIR}/fuzz/control_config_fuzz.cc LIBS berth_control_core)
berth_add_fuzzer(ip_address_fuzz SOURCES ${CMAKE_SOURCE_DIR}/fuzz/ip_address_fuzz.cc LIBS berth_control_core)
berth_add_fuzzer(secret_scan_fuzz SOURCES ${CMAKE_SOURCE_DIR}/fuzz/secret_scan_fuzz.cc LIBS berth_control_core)
berth_add_fuzzer(repo_url_fuzz SOURCES ${CMAKE_SOURCE_DIR}/fuzz/repo_url_fuzz.cc LIBS berth_control_core)
berth_add_fuzzer(tarball_fuzz SOURCES ${CMAKE_SOURCE_DIR}/fuzz/tarball_fuzz.cc LIBS berth_control_core)
# Analyze (#16): the .env template parser and framework detection over an in-memory tree.
berth_add_fuzzer(env_file_fuzz SOURCES ${CMAKE_SOURCE_DIR}/fuzz/env_file_fuzz.cc LIBS berth_control_core)
berth_add_fuzzer(framework_detect_fuzz SOURCES ${CMAKE_SOURCE_DIR}/fuzz/framework_detect_fuzz.cc LIBS berth_control_core)
berth_add_fuzzer(log_mask_fuzz SOURCES ${CMAKE_SOURCE_DIR}/fuzz/log_mask_fuzz.cc LIBS berth_control_core)
