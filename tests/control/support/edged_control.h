// A control plane that pushes its routes to a real berth-edge (quick mode + admin socket) and
// health-checks deployments through it: the setup of the e2e pipeline tests.
#pragma once

#include <filesystem>
#include <string>

#include "tests/control/support/control_env.h"
#include "tests/support/edge_process.h"

namespace berth::test
{

struct EdgedControl {
    ControlEnv env;
    std::string edge_sock = env.dir + "/edge.sock";
    bool made_root = std::filesystem::create_directories(env.deployments_root());
    EdgeProcess edge{{"--listen", "127.0.0.1:0", "--deployments", env.deployments_root(),
                      "--admin-socket", edge_sock, "--state-dir", env.dir + "/edge-state"}};
    std::string edge_http = "127.0.0.1:" + std::to_string(edge.port());

    // edges_toml: more [edges] keys.
    explicit EdgedControl(const std::string &edges_toml = "")
    {
        env.options().extra_toml = "[edges]\nadmin_sockets = [\"" + edge_sock +
                                   "\"]\nhttp_addresses = [\"" + edge_http + "\"]\n" + edges_toml;
        env.write_config();
    }
};

} // namespace berth::test
