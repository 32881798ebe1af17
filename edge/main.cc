// berth-edge command line → EdgeConfig → Server::run. Nothing else lives here.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "edge/admin/admin_cli.h"
#include "edge/config/edge_config.h"
#include "edge/core/server.h"
#include "shared/config/redis_url.h"

namespace
{

constexpr const char *kUsage = R"(usage:
  berth-edge --config conf/edge.toml [flags]
  berth-edge --listen 127.0.0.1:8080 --deployments DIR --base-domain localhost [flags]
  berth-edge admin [--socket PATH | --config FILE] COMMAND [JSON | @FILE]
  berth-edge admin [--socket PATH | --config FILE] '{"cmd":COMMAND, ...}'

flags (override the config file):
  --config FILE          TOML configuration (see conf/edge.toml)
  --listen ADDR          listen address, repeatable (127.0.0.1:8080, [::1]:8080)
  --listen-tls ADDR      TLS listen address, repeatable
  --deployments DIR      deployments root
  --base-domain DOMAIN   quick mode: Host NAME.DOMAIN serves DIR/NAME/ (SPA fallback on)
  --routes FILE          route table JSON
  --workers N            worker loops (default: number of cores)
  --admin-socket PATH    operator admin socket
  --metrics-listen ADDR  serve GET /metrics (Prometheus text) on ADDR (127.0.0.1:9180)
  --state-dir DIR        where the last pushed route table is kept
  --tls-cert FILE --tls-key FILE   certificate pair, repeatable
  --geoip FILE           MaxMind database for route geo rules
  --redis URL            follow berth-control's route tables in Redis (redis://[:PASS@]HOST:PORT)
  --redis-name NAME      this edge's name in the fleet (default: the host name)
  --access-log PATH      access log file ("-" for stdout)
  --log-format FORMAT    combined | json
  --io-uring MODE        auto | true | false: batch sends through io_uring
  --help
)";

[[noreturn]] void usage_error(const std::string &message)
{
    std::fprintf(stderr, "berth-edge: %s\n\n%s", message.c_str(), kUsage);
    std::exit(2);
}

// The value of a flag that takes one of a few words ("--log-format must be combined or json").
template <typename T>
T one_of(const std::string &flag, const std::string &value,
         std::initializer_list<std::pair<const char *, T>> words)
{
    std::string choices;
    size_t i = 0;
    for (const auto &[word, result] : words) {
        if (value == word) return result;
        choices += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + std::string(word);
        ++i;
    }
    usage_error(flag + " must be " + choices);
}

} // namespace

int main(int argc, char **argv)
{
    using namespace berth::edge;
    berth::shared::set_log_identity("berth-edge");
    std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && args[0] == "admin")
        return run_admin_client(std::vector<std::string>(args.begin() + 1, args.end()));

    // The config file first, so flags override it whatever their order.
    EdgeConfig config;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--config") {
            if (i + 1 >= args.size()) usage_error("--config needs a file");
            try {
                config = load_edge_config(args[i + 1]);
            } catch (const ConfigError &e) {
                std::fprintf(stderr, "berth-edge: %s\n", e.what());
                return 2;
            }
        }
    }

    bool listen_overridden = false;
    try {
        for (size_t i = 0; i < args.size(); ++i) {
            const std::string &a = args[i];
            auto value = [&]() -> const std::string & {
                if (i + 1 >= args.size()) usage_error(a + " needs a value");
                return args[++i];
            };
            if (a == "--help" || a == "-h") {
                std::fputs(kUsage, stdout);
                return 0;
            } else if (a == "--config") {
                ++i;
            } else if (a == "--listen" || a == "--listen-tls") {
                if (!listen_overridden) config.listen.clear();
                listen_overridden = true;
                ListenAddr addr = parse_listen_addr(value(), a);
                addr.tls = a == "--listen-tls";
                config.listen.push_back(addr);
            } else if (a == "--deployments") {
                config.deployments_root = value();
            } else if (a == "--base-domain") {
                config.base_domain = value();
            } else if (a == "--routes") {
                config.routes_file = value();
            } else if (a == "--workers") {
                const std::string &v = value();
                char *end = nullptr;
                long n = std::strtol(v.c_str(), &end, 10);
                if (v.empty() || *end || n < 1 || n > 256) usage_error("--workers must be 1..256");
                config.workers = unsigned(n);
            } else if (a == "--admin-socket") {
                config.admin_socket = value();
            } else if (a == "--metrics-listen") {
                config.metrics_listen = value();
                parse_listen_addr(config.metrics_listen, a); // refused before anything starts
            } else if (a == "--state-dir") {
                config.state_dir = value();
            } else if (a == "--tls-cert") {
                config.tls_certs.push_back(value());
            } else if (a == "--tls-key") {
                config.tls_keys.push_back(value());
            } else if (a == "--geoip") {
                config.geoip_database = value();
            } else if (a == "--redis") {
                config.redis_url = value();
                try {
                    berth::shared::config::parse_redis_url(config.redis_url);
                } catch (const std::invalid_argument &e) {
                    usage_error("--redis " + std::string(e.what()));
                }
            } else if (a == "--redis-name") {
                config.redis_name = value();
                if (!berth::shared::config::is_fleet_edge_name(config.redis_name))
                    usage_error("--redis-name must be 1 to 200 characters without spaces, ':' or "
                                "glob characters");
            } else if (a == "--access-log") {
                config.access_log = value();
            } else if (a == "--log-format") {
                config.log_format = one_of<LogFormat>(
                    a, value(), {{"combined", LogFormat::kCombined}, {"json", LogFormat::kJson}});
            } else if (a == "--io-uring") {
                config.io_uring = one_of<AutoSwitch>(a, value(),
                                                     {{"auto", AutoSwitch::kAuto},
                                                      {"true", AutoSwitch::kOn},
                                                      {"false", AutoSwitch::kOff}});
            } else {
                usage_error("unknown argument \"" + a + "\"");
            }
        }
        validate_edge_config(config);
    } catch (const ConfigError &e) {
        std::fprintf(stderr, "berth-edge: %s\n", e.what());
        return 2;
    }
    berth::shared::set_log_level(config.log_level);
    Server server(std::move(config));
    return server.run();
}
