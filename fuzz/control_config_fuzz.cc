// load_control_config (the shared TOML reader under it) on a file holding the fuzz bytes: it
// returns a config or throws ConfigError "file:line: message"; anything else escapes and
// libFuzzer reports it. An accepted config keeps the invariants its readers rely on (#12).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "control/config/control_config.h"
#include "fuzz/fuzz_check.h"

namespace
{

char g_path[64]; // a plain array: no destructor runs before the atexit handler

const char *config_path()
{
    if (!g_path[0]) {
        std::snprintf(g_path, sizeof g_path, "/tmp/berth_control_config_fuzz_%d.toml",
                      int(getpid()));
        std::atexit([] { std::remove(g_path); });
    }
    return g_path;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::FILE *f = std::fopen(config_path(), "wb");
    FUZZ_CHECK(f != nullptr);
    FUZZ_CHECK(size == 0 || std::fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(std::fclose(f) == 0);
    std::string path = config_path();
    try {
        berth::control::ControlConfig c = berth::control::load_control_config(path);
        FUZZ_CHECK(c.page_size_default <= c.page_size_max);
        FUZZ_CHECK(!c.deployments_root.empty() && !c.builds_dir.empty());
        for (const auto &h : c.allowed_repo_hosts)
            FUZZ_CHECK(berth::control::check_allowed_repo_host(h).empty());
        FUZZ_CHECK(c.redis_url.rfind("redis://", 0) == 0);
    } catch (const berth::control::ConfigError &e) {
        std::string what = e.what();
        FUZZ_CHECK(what.compare(0, path.size() + 1, path + ":") == 0);
    }
    return 0;
}
