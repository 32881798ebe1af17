// load_edge_config on a file holding the fuzz bytes: it returns a config or throws ConfigError
// with "file:line: message"; any other exception escapes and libFuzzer reports it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "edge/config/edge_config.h"
#include "fuzz/fuzz_check.h"

namespace
{

// One file per process, rewritten for every input and removed at exit. A plain array, so it
// has no destructor to run before the atexit handler that removes the file.
char g_path[64];

const std::string config_path()
{
    if (!g_path[0]) {
        std::snprintf(g_path, sizeof g_path, "/tmp/berth_config_fuzz_%d.toml", int(getpid()));
        std::atexit([] { std::remove(g_path); });
    }
    return g_path;
}

void write_file(const std::string &path, const uint8_t *data, size_t size)
{
    std::FILE *f = std::fopen(path.c_str(), "wb");
    FUZZ_CHECK(f != nullptr);
    FUZZ_CHECK(size == 0 || std::fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(std::fclose(f) == 0);
}

// "file:123: message"
bool has_file_line_prefix(const std::string &what, const std::string &file)
{
    if (what.compare(0, file.size() + 1, file + ":") != 0) return false;
    size_t i = file.size() + 1, digits = 0;
    while (i < what.size() && what[i] >= '0' && what[i] <= '9')
        ++i, ++digits;
    return digits > 0 && what.compare(i, 2, ": ") == 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const std::string path = config_path();
    write_file(path, data, size);
    berth::edge::EdgeConfig config;
    try {
        config = berth::edge::load_edge_config(path);
    } catch (const berth::edge::ConfigError &e) {
        if (!has_file_line_prefix(e.what(), path)) std::fprintf(stderr, "what(): %s\n", e.what());
        FUZZ_CHECK(has_file_line_prefix(e.what(), path));
        return 0;
    }
    FUZZ_CHECK(config.source == path);
    FUZZ_CHECK(config.workers <= 256);
    FUZZ_CHECK(config.max_header_count >= 8 && config.max_header_count <= 100);
    FUZZ_CHECK(config.max_header_bytes >= 1024);
    for (const auto &l : config.listen)
        FUZZ_CHECK(!l.host.empty());
    try {
        berth::edge::validate_edge_config(config);
        FUZZ_CHECK(!config.listen.empty());
        FUZZ_CHECK(config.workers >= 1);
        FUZZ_CHECK(config.max_url_bytes <= config.max_header_bytes);
        FUZZ_CHECK(config.base_domain.empty() || config.base_domain.back() != '.');
    } catch (const berth::edge::ConfigError &) {
    }
    return 0;
}
